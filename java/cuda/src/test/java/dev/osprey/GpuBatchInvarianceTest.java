package dev.osprey;

import dev.osprey.backend.Device;
import dev.osprey.backend.GpuTests;
import org.junit.jupiter.api.Test;

/**
 * On the GPU, as {@link BatchInvarianceTest} on the CPU: an image's prediction does not depend on the batch it came
 * in, bit for bit, which serving's Predictor promises (it pads requests to batches of 2, 4, ..., 64). cuDNN and cuBLAS
 * may pick their algorithms by batch size, as oneDNN's inner product summed by batch size on AVX-512; this finds out.
 * Needs no CPU backend, so the GPU bundle runs it.
 */
class GpuBatchInvarianceTest {
    @Test
    void theTutorialCnnAnswersAnImageTheSameInEveryBatchOnTheGpu() {
        GpuTests.requireOrSkip();
        try (Model model = Models.tutorialCnn().device(Device.cuda(0))) {
            BatchInvarianceTest.assertTheSameInEveryBatch(model, Shape.of(28, 28, 1));
        }
    }

    @Test
    void mobileNetV2AnswersAnImageTheSameInEveryBatchOnTheGpu() {
        GpuTests.requireOrSkip();
        try (Model model = Models.mobileNetV2(1.0, Shape.of(32, 32, 3), 10).device(Device.cuda(0))) {
            BatchInvarianceTest.assertTheSameInEveryBatch(model, Shape.of(32, 32, 3));
        }
    }
}
