package dev.osprey.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keras' gradient_accumulation_steps: k batches of n accumulated train as one batch of k x n (the mean of their mean
 * gradients is the big batch's mean gradient), clipping and weight decay included; the batch count that seeds dropout
 * counts every batch; a model saved between updates goes on as the original.
 */
class GradientAccumulationTest {
    private static final int N = 48;

    @TempDir
    Path dir;

    private static Sequential model(Optimizer optimizer) {
        Sequential m = new Sequential(new Dense(6, Activation.RELU).inputShape(5), new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).seed(21);
        m.compile(optimizer, Loss.sparseCategoricalCrossentropy());
        return m;
    }

    private static NDArray[] data() {
        Random r = new Random(4);
        float[] x = new float[N * 5];
        float[] y = new float[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % 3;
            for (int j = 0; j < 5; j++) {
                x[i * 5 + j] = (float) r.nextGaussian() + (j == y[i] ? 1 : 0);
            }
        }
        return new NDArray[] {new NDArray(x, N, 5), new NDArray(y, N)};
    }

    private static void assertWeightsClose(Model expected, Model actual, String setting) {
        List<NDArray> a = expected.getWeights(), b = actual.getWeights();
        for (int k = 0; k < a.size(); k++) {
            float[] e = a.get(k).data(), v = b.get(k).data();
            for (int i = 0; i < e.length; i++) {
                assertEquals(e[i], v[i], 2e-6 * Math.max(1, Math.abs(e[i])), expected.weightPaths().get(k) + "[" + i
                        + "], " + setting);
            }
        }
    }

    /**
     * Batches of 4 accumulated 3 at a time train as batches of 12, for SGD, Adam with clipnorm, AdamW with weight
     * decay, and Adam on a rate decaying every update with a moving average of the weights (both count updates):
     * within float rounding (2e-6), where one update of a batch of 4 alone moves the weights by 1e-3 or more.
     */
    @Test
    void accumulatedBatchesTrainAsOneBigBatch() {
        NDArray[] d = data();
        List<Supplier<Optimizer>> optimizers = List.of(() -> new SGD(0.1), () -> new Adam(0.01).clipnorm(0.5),
                () -> new AdamW(0.01, 0.05), () -> new Adam().learningRate(
                        new dev.osprey.optim.schedules.ExponentialDecay(0.02, 1, 0.7)).useEma(0.5));
        for (Supplier<Optimizer> o : optimizers) {
            try (Sequential big = model(o.get()); Sequential small = model(o.get().gradientAccumulationSteps(3))) {
                String setting = o.get().name() + " " + o.get().config();
                for (int start = 0; start < N; start += 12) {
                    big.trainOnBatch(d[0].slice(start, start + 12), d[1].slice(start, start + 12));
                    for (int part = start; part < start + 12; part += 4) {
                        small.trainOnBatch(d[0].slice(part, part + 4), d[1].slice(part, part + 4));
                    }
                }
                big.finalizeWeights(); // the averages, where the optimizer keeps them
                small.finalizeWeights();
                assertWeightsClose(big, small, setting);
                assertEquals(N / 4, small.optimizerState().iterations(), "every batch counts, " + setting);
                assertEquals(N / 12, big.optimizerState().iterations());
            }
        }
    }

    /** Between updates the weights stay as they were; the update comes with the last batch of each group. */
    @Test
    void theWeightsMoveOnlyEveryStepsBatches() {
        NDArray[] d = data();
        try (Sequential m = model(new SGD(0.1).gradientAccumulationSteps(2))) {
            m.build();
            List<NDArray> before = m.getWeights();
            m.trainOnBatch(d[0].slice(0, 4), d[1].slice(0, 4));
            assertArrayEquals(before.get(0).data(), m.getWeights().get(0).data(), 0f, "after 1 of 2 batches");
            m.trainOnBatch(d[0].slice(4, 8), d[1].slice(4, 8));
            float[] after = m.getWeights().get(0).data();
            boolean moved = false;
            for (int i = 0; i < after.length; i++) {
                moved |= after[i] != before.get(0).data()[i];
            }
            assertTrue(moved, "after 2 of 2 batches");
        }
    }

    /**
     * A model saved halfway through a group (its summed gradients a state of the optimizer) trains on exactly as the
     * original; the setting is saved under Keras' name and any order of settings keeps it.
     */
    @Test
    void aModelSavedBetweenUpdatesGoesOnAsTheOriginal() throws Exception {
        NDArray[] d = data();
        Path file = dir.resolve("accumulating.osprey");
        try (Sequential m = model(new Adam(0.01).gradientAccumulationSteps(4))) {
            for (int start = 0; start < 24; start += 4) { // 6 batches: one update, and 2 batches summed
                m.trainOnBatch(d[0].slice(start, start + 4), d[1].slice(start, start + 4));
            }
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(4, loaded.optimizer().gradientAccumulationSteps());
                assertEquals(6, loaded.optimizerState().iterations());
                for (int start = 24; start < N; start += 4) {
                    m.trainOnBatch(d[0].slice(start, start + 4), d[1].slice(start, start + 4));
                    loaded.trainOnBatch(d[0].slice(start, start + 4), d[1].slice(start, start + 4));
                }
                List<NDArray> a = m.getWeights(), b = loaded.getWeights();
                for (int k = 0; k < a.size(); k++) {
                    assertArrayEquals(a.get(k).data(), b.get(k).data(), 0f, m.weightPaths().get(k));
                }
            }
        }
        Optimizer o = new LossScaleOptimizer(new Adam().gradientAccumulationSteps(2)).useEma(0.9).clipnorm(1);
        assertEquals(2, o.gradientAccumulationSteps());
        assertEquals(2, o.config().get("gradient_accumulation_steps"));
        assertEquals(2, new Adam().clipnorm(1).gradientAccumulationSteps(2).learningRate(
                new dev.osprey.optim.schedules.ExponentialDecay(0.1, 5, 0.5)).gradientAccumulationSteps());
        String bad = assertThrows(IllegalArgumentException.class, () -> new SGD(0.1).gradientAccumulationSteps(0))
                .getMessage();
        assertTrue(bad.contains("expected 1 or more batches per update, received 0"), bad);
    }
}
