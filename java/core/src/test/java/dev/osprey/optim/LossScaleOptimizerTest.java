package dev.osprey.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.MixedPrecision;
import dev.osprey.NDArray;
import dev.osprey.Regularizer;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keras' LossScaleOptimizer through real training on the CPU. The scale moves by powers of two, which multiply and
 * divide fp32 values exactly, so without overflow a scaled training must take the very steps of an unscaled one (bit
 * for bit, penalties and clipping included: both must see the unscaled gradients); with overflow, steps are skipped
 * until the scale fits, and the first step taken is the unscaled one.
 */
class LossScaleOptimizerTest {
    @TempDir
    Path dir;

    /** Convolution, BatchNorm, pooling and a dense layer with an L2 penalty: every kind of gradient path. */
    private static Sequential model(Optimizer optimizer) {
        Sequential m = new Sequential(
                new Conv2D(6, 3, Activation.LINEAR).inputShape(28, 28, 1),
                new BatchNormalization(),
                new dev.osprey.layers.ReLU(),
                new MaxPooling2D(2),
                new Flatten(),
                new Dense(10, Activation.SOFTMAX).kernelRegularizer(Regularizer.l2(0.01)));
        m.device(Device.cpu()).seed(21);
        m.compile(optimizer, Loss.sparseCategoricalCrossentropy());
        return m;
    }

    private static NDArray[] data(int n) {
        LabeledData d = Datasets.fashionMnistSample();
        return new NDArray[] {d.trainX().slice(0, n), d.trainY().slice(0, n)};
    }

    @Test
    void withoutOverflowTheScaledTrainingTakesTheUnscaledStepsBitForBit() {
        NDArray[] d = data(96);
        // clipnorm 0.05 clips most steps: clipping scaled gradients would move the weights 2^10 times less
        Supplier<Optimizer> adam = () -> new Adam(0.01).clipnorm(0.05);
        FitOptions options = FitOptions.defaults().epochs(2).batchSize(16).seed(4).verbose(false);
        try (Sequential plain = model(adam.get());
             Sequential scaled = model(new LossScaleOptimizer(adam.get(), 1024, 3))) { // grows to 2^14 in 12 steps
            plain.fit(d[0], d[1], options);
            scaled.fit(d[0], d[1], options);
            assertEquals(12, scaled.optimizerState().iterations(), "no step may be skipped");
            List<NDArray> expected = plain.getWeights();
            List<NDArray> actual = scaled.getWeights();
            for (int i = 0; i < expected.size(); i++) {
                assertArrayEquals(expected.get(i).data(), actual.get(i).data(), "weight " + i);
            }
        }
    }

    @Test
    void overflowingStepsAreSkippedUntilTheScaleFitsAndThenTheUnscaledStepIsTaken() {
        NDArray[] d = data(16);
        try (Sequential plain = model(new SGD(0.1));
             Sequential scaled = model(new LossScaleOptimizer(new SGD(0.1), 0x1p64, 2000))) {
            List<NDArray> initial = scaled.getWeights();
            scaled.trainOnBatch(d[0], d[1]); // gradients times 2^64: their sum of squares overflows fp32
            assertEquals(0, scaled.optimizerState().iterations(), "the overflowing step must be skipped: none taken");
            assertEquals(1, scaled.optimizerState().lossScale().skippedSteps(), "one skipped, and kept in the state");
            List<String> paths = scaled.weightPaths();
            for (int i = 0; i < initial.size(); i++) {
                if (!paths.get(i).contains("moving")) { // BatchNorm's moving statistics move in a skipped step too
                    assertArrayEquals(initial.get(i).data(), scaled.getWeights().get(i).data(), paths.get(i));
                }
            }
            int calls = 1;
            while (scaled.optimizerState().iterations() == 0 && calls < 64) {
                scaled.trainOnBatch(d[0], d[1]);
                calls++;
            }
            assertEquals(1, scaled.optimizerState().iterations());
            assertTrue(calls > 2, "2^64 must overflow for more than one halving, took " + calls);
            plain.trainOnBatch(d[0], d[1]);
            // the trained weights saw one step, as plain's did
            for (int i = 0; i < paths.size(); i++) {
                if (!paths.get(i).contains("moving")) {
                    assertArrayEquals(plain.getWeights().get(i).data(), scaled.getWeights().get(i).data(),
                            paths.get(i));
                }
            }
        }
    }

    /**
     * A skipped step leaves the optimizer's step count as it was, but the next step still draws dropout masks of its
     * own: on the same batch and weights, the skipped step and the next one report different losses.
     */
    @Test
    void theStepAfterASkippedOneDrawsItsOwnDropoutMasks() {
        NDArray[] d = data(16);
        try (Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new dev.osprey.layers.Dropout(0.5),
                new Dense(10, Activation.SOFTMAX))) {
            m.device(Device.cpu()).seed(5);
            m.compile(new LossScaleOptimizer(new SGD(0.1), 0x1p64, 2000), Loss.sparseCategoricalCrossentropy());
            double skipped = m.trainOnBatch(d[0], d[1]).get("loss");
            assertEquals(0, m.optimizerState().iterations(), "2^64 must overflow on this model");
            double next = m.trainOnBatch(d[0], d[1]).get("loss");
            assertTrue(skipped != next, "the same masks again: " + skipped + " and " + next);
        }
    }

    @Test
    void onTheCpuTheFloat16PolicyTrainsInFp32WithoutScaling() {
        NDArray[] d = data(32);
        FitOptions options = FitOptions.defaults().epochs(1).batchSize(16).seed(4).verbose(false);
        try (Sequential fp32 = model(new Adam(0.01));
             Sequential fp16 = model(new Adam(0.01))) {
            fp16.mixedPrecision(MixedPrecision.FLOAT16);
            assertEquals(MixedPrecision.FLOAT32, fp16.mixedPrecision(), "no CPU has fp16 training kernels");
            fp32.fit(d[0], d[1], options);
            fp16.fit(d[0], d[1], options);
            for (int i = 0; i < fp32.getWeights().size(); i++) {
                assertArrayEquals(fp32.getWeights().get(i).data(), fp16.getWeights().get(i).data(), "weight " + i);
            }
        }
    }

    @Test
    void theSettingsAreCheckedAndSavedWithTheModel() throws Exception {
        for (double bad : new double[] {0, 0.5, 3, 1000, Double.NaN, Double.POSITIVE_INFINITY, 0x1p65}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new DynamicLossScale(bad, 10));
            assertTrue(e.getMessage().contains("expected an initial scale that is a power of two from 1 to 2^64, "
                    + "received " + bad), e.getMessage());
        }
        IllegalArgumentException steps = assertThrows(IllegalArgumentException.class,
                () -> new LossScaleOptimizer(new Adam(), 1024, 0));
        assertTrue(steps.getMessage().contains("expected dynamic growth steps >= 1, received 0"), steps.getMessage());
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> new LossScaleOptimizer(new LossScaleOptimizer(new Adam())));
        assertTrue(twice.getMessage().contains("expected an optimizer without loss scaling"), twice.getMessage());
        assertEquals(new DynamicLossScale(32768, 2000), new LossScaleOptimizer(new SGD(0.1)).lossScale());
        // a model file's loss_scale entry, as untrusted input: absent keys default, anything else is refused clearly
        assertEquals(new DynamicLossScale(32768, 2000), DynamicLossScale.fromConfig(java.util.Map.of()));
        assertEquals(new DynamicLossScale(8, 3), DynamicLossScale.fromConfig(
                java.util.Map.of("initial_scale", 8, "dynamic_growth_steps", 3.0)));
        for (Object badSteps : new Object[] {1e20, 2.5, -1, "10"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DynamicLossScale.fromConfig(
                    java.util.Map.of("dynamic_growth_steps", badSteps)));
            assertTrue(e.getMessage().startsWith("loss scale: expected"), e.getMessage());
        }

        Path file = dir.resolve("scaled.osprey");
        NDArray[] d = data(64);
        Model.LossScaleState reached;
        try (Sequential m = model(new LossScaleOptimizer(new Adam(0.002), 0x1p64, 50).clipnorm(1.0))) {
            m.fit(d[0], d[1], FitOptions.defaults().epochs(2).batchSize(16).verbose(false));
            reached = m.optimizerState().lossScale(); // overflows at 2^64 lowered it
            assertTrue(reached.scale() < 0x1p64 && reached.goodSteps() > 0 && reached.skippedSteps() > 0,
                    reached.toString());
            m.save(file);
        }
        try (Model loaded = Model.load(file)) {
            LossScaleOptimizer o = assertInstanceOf(LossScaleOptimizer.class, loaded.optimizer());
            assertEquals(new DynamicLossScale(0x1p64, 50), o.lossScale());
            assertEquals(new GradientClipping(GradientClipping.Kind.NORM, 1.0), o.clipping());
            assertEquals("adam", o.name());
            assertEquals(0.002, ((Number) o.config().get("learning_rate")).doubleValue(), 1e-12);
            assertEquals(reached, loaded.optimizerState().lossScale(), "training resumes at the scale reached");
            for (double scale : new double[] {3, 0.5, 0x1p65, Double.NaN}) { // e.g. from an edited file
                IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                        () -> new Model.LossScaleState(scale, 0));
                assertTrue(bad.getMessage().contains("expected a power of two from 1 to 2^64"), bad.getMessage());
            }
            assertFalse(o.innerOptimizer() instanceof LossScaleOptimizer);
        }
    }
}
