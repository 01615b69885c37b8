package dev.osprey.engine;

import dev.osprey.backend.Device;
import dev.osprey.backend.GpuTests;
import org.junit.jupiter.api.Test;

/**
 * On the GPU, as GradientArenaTest on the CPU: the weight gradients of two training passes with the input gradients
 * in one shared arena (each poisoned with NaN before its writer and after its last reader) equal, bit for bit, those
 * with a tensor per gradient, on ResNet-14, MobileNetV2, the tutorial CNN and a functional model. Every cuDNN, cuBLAS
 * and Osprey kernel a marked layer runs must write its whole input gradient. Needs no CPU backend.
 */
class GpuGradientArenaTest {
    @Test
    void trainingPassesWithTheArenaGiveTheGradientsOfATensorPerGradientOnTheGpu() {
        GpuTests.requireOrSkip();
        GradientArenaTest.compareOn(Device.cuda(0).backend(), dev.osprey.Precision.FP32);
    }

    @Test
    void mixedPrecisionTrainingPassesToo() {
        GpuTests.requireOrSkip();
        for (dev.osprey.Precision math : new dev.osprey.Precision[] {dev.osprey.Precision.BF16,
                dev.osprey.Precision.FP16}) {
            String reason = Device.cuda(0).backend().unavailable(math);
            if (reason == null) {
                GradientArenaTest.compareOn(Device.cuda(0).backend(), math);
            }
        }
    }
}
