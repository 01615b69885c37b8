package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.osprey.backend.Device;
import dev.osprey.backend.GpuTests;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.Training;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The same model from one seed on the CPU and on the GPU: the first 20 losses agree within TF32's tolerance. The
 * tutorial CNN, and graph models with BatchNormalization, residual additions, depthwise convolutions and padding.
 */
class CpuGpuAgreementTest {
    static final int STEPS = 20, BATCH = 32;
    /** TF32 (10 mantissa bits) in every convolution and GEMM; the losses drift apart slowly from there. */
    static final double TOLERANCE = 2e-2;

    @Test
    void cpuAndGpuTrainTheSameWay() {
        GpuTests.requireOrSkip();
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, STEPS * BATCH);
        NDArray y = d.trainY().slice(0, STEPS * BATCH);
        List<Double> cpu = losses(Device.cpu(), x, y);
        List<Double> gpu = losses(Device.cuda(0), x, y);
        for (int i = 0; i < STEPS; i++) {
            assertEquals(cpu.get(i), gpu.get(i), TOLERANCE * Math.max(1, Math.abs(cpu.get(i))),
                    "loss of step " + (i + 1) + ": cpu " + cpu + ", gpu " + gpu);
        }
    }

    @Test
    void graphModelsTrainTheSameWayOnBothDevices() {
        GpuTests.requireOrSkip();
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, STEPS * BATCH);
        NDArray y = d.trainY().slice(0, STEPS * BATCH);
        for (String name : new String[] {"resnet8", "mobilenetv2_0.35"}) {
            java.util.function.Function<Device, Model> make = device -> Models.byName(name, Shape.of(28, 28, 1), 10)
                    .device(device).compile(new dev.osprey.optim.Adam(),
                            dev.osprey.loss.Loss.sparseCategoricalCrossentropy(), dev.osprey.metrics.Metric.ACCURACY);
            List<Double> cpu = losses(make, Device.cpu(), x, y);
            List<Double> gpu = losses(make, Device.cuda(0), x, y);
            for (int i = 0; i < STEPS; i++) {
                assertEquals(cpu.get(i), gpu.get(i), TOLERANCE * Math.max(1, Math.abs(cpu.get(i))),
                        name + ": loss of step " + (i + 1) + ": cpu " + cpu + ", gpu " + gpu);
            }
        }
    }

    static List<Double> losses(Device device, NDArray x, NDArray y) {
        return losses(Models::compiledTutorialCnn, device, x, y);
    }

    static List<Double> losses(java.util.function.Function<Device, ? extends Model> make, Device device, NDArray x,
                               NDArray y) {
        List<Double> losses = new ArrayList<>();
        double[] previous = {0};
        try (Model model = make.apply(device)) {
            model.fit(x, y, FitOptions.defaults().epochs(1).batchSize(BATCH).shuffle(false).verbose(false)
                    .callbacks(new Callback() {
                        @Override
                        public void onBatchEnd(int batch, Training t) {
                            double sum = t.loss() * (batch + 1) * BATCH;
                            losses.add((sum - previous[0]) / BATCH);
                            previous[0] = sum;
                        }
                    }));
        }
        return losses;
    }
}
