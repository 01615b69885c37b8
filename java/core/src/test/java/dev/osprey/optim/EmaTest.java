package dev.osprey.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keras' use_ema: a moving average of the weights, updated after every step, taking their place at the end of fit and
 * (with an overwrite frequency) every so many steps; against a plain-Java reference that trains the same model without
 * it, step by step, and averages and overwrites its weights by hand.
 */
class EmaTest {
    private static final int N = 48;
    private static final int BATCH = 8;
    private static final float MOMENTUM = 0.9f;

    @TempDir
    Path dir;

    private static Sequential model() {
        return new Sequential(new Dense(5, Activation.RELU).inputShape(4), new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).seed(12);
    }

    private static NDArray[] data() {
        Random r = new Random(8);
        float[] x = new float[N * 4];
        float[] y = new float[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % 3;
            for (int j = 0; j < 4; j++) {
                x[i * 4 + j] = (float) r.nextGaussian() + (j == y[i] ? 1 : 0);
            }
        }
        return new NDArray[] {new NDArray(x, N, 4), new NDArray(y, N)};
    }

    private static FitOptions options(int epochs) {
        return FitOptions.defaults().epochs(epochs).batchSize(BATCH).shuffle(false).verbose(false);
    }

    /**
     * The reference: plain SGD one batch at a time (trainOnBatch, the batches fit takes unshuffled), the average taken
     * in Java after each step (the first step copies the weights), the weights replaced by it every frequency steps
     * (0: never) and at the end.
     */
    private static List<float[]> reference(NDArray[] d, int epochs, int frequency) {
        try (Sequential m = model()) {
            m.compile(new SGD(0.1), Loss.sparseCategoricalCrossentropy());
            List<float[]> average = null;
            int step = 0;
            for (int e = 0; e < epochs; e++) {
                for (int start = 0; start < N; start += BATCH) {
                    m.trainOnBatch(d[0].slice(start, start + BATCH), d[1].slice(start, start + BATCH));
                    step++;
                    List<NDArray> w = m.getWeights();
                    if (average == null) {
                        average = new ArrayList<>();
                        for (NDArray a : w) {
                            average.add(a.data().clone());
                        }
                    } else {
                        for (int k = 0; k < w.size(); k++) {
                            float[] a = average.get(k);
                            float[] v = w.get(k).data();
                            for (int i = 0; i < a.length; i++) {
                                a[i] = MOMENTUM * a[i] + (1f - MOMENTUM) * v[i];
                            }
                        }
                    }
                    if (frequency > 0 && step % frequency == 0) {
                        m.setWeights(shaped(average, m.getWeights()));
                    }
                }
            }
            return average;
        }
    }

    /** values in the shapes of like. */
    private static List<NDArray> shaped(List<float[]> values, List<NDArray> like) {
        List<NDArray> out = new ArrayList<>();
        for (int k = 0; k < values.size(); k++) {
            out.add(new NDArray(values.get(k).clone(), like.get(k).shape()));
        }
        return out;
    }

    private static void assertWeights(List<float[]> expected, Model m, String setting) {
        List<NDArray> actual = m.getWeights();
        for (int k = 0; k < expected.size(); k++) {
            assertArrayEquals(expected.get(k), actual.get(k).data(), 1e-7f, m.weightPaths().get(k) + ", " + setting);
        }
    }

    @Test
    void theWeightsBecomeTheirMovingAverageAtTheEndOfFitAndEverySoManySteps() {
        NDArray[] d = data();
        for (int frequency : new int[] {0, 4, 5}) {
            try (Sequential m = model()) {
                Optimizer sgd = frequency == 0 ? new SGD(0.1).useEma(MOMENTUM) : new SGD(0.1).useEma(MOMENTUM, frequency);
                m.compile(sgd, Loss.sparseCategoricalCrossentropy());
                m.fit(d[0], d[1], options(2));
                assertWeights(reference(d, 2, frequency), m, "overwrite frequency " + frequency);
            }
        }
    }

    /**
     * A loop of trainOnBatch calls (no fit) leaves the trained weights in place until finalizeWeights (Keras'
     * finalize_variable_values) puts the average there; a model without the average keeps its weights.
     */
    @Test
    void finalizeWeightsPutsTheAverageInPlaceAfterTrainOnBatchLoops() {
        NDArray[] d = data();
        try (Sequential m = model(); Sequential plain = model()) {
            m.compile(new SGD(0.1).useEma(MOMENTUM), Loss.sparseCategoricalCrossentropy());
            plain.compile(new SGD(0.1), Loss.sparseCategoricalCrossentropy());
            for (int e = 0; e < 2; e++) {
                for (int start = 0; start < N; start += BATCH) {
                    m.trainOnBatch(d[0].slice(start, start + BATCH), d[1].slice(start, start + BATCH));
                    plain.trainOnBatch(d[0].slice(start, start + BATCH), d[1].slice(start, start + BATCH));
                }
            }
            List<float[]> trained = new ArrayList<>();
            for (NDArray w : plain.getWeights()) {
                trained.add(w.data());
            }
            assertWeights(trained, m, "before finalizeWeights");
            m.finalizeWeights();
            assertWeights(reference(d, 2, 0), m, "after finalizeWeights");
            plain.finalizeWeights();
            assertWeights(trained, plain, "no average: unchanged");
        }
    }

    /**
     * Without an overwrite, the weights during fit are the trained ones (the average stays beside them), and a model
     * trained without EMA differs from the averaged one.
     */
    @Test
    void duringFitTheWeightsAreTheTrainedOnes() {
        NDArray[] d = data();
        List<float[]> plain;
        try (Sequential m = model()) {
            m.compile(new SGD(0.1), Loss.sparseCategoricalCrossentropy());
            m.fit(d[0], d[1], options(2));
            plain = new ArrayList<>();
            for (NDArray w : m.getWeights()) {
                plain.add(w.data());
            }
        }
        try (Sequential m = model()) {
            m.compile(new SGD(0.1).useEma(MOMENTUM), Loss.sparseCategoricalCrossentropy());
            List<List<NDArray>> lastSeen = new ArrayList<>();
            m.fit(d[0], d[1], options(2).callbacks(new dev.osprey.callbacks.Callback() {
                @Override
                public void onEpochEnd(int epoch, java.util.Map<String, Double> logs,
                                       dev.osprey.callbacks.Training training) {
                    lastSeen.add(training.model().getWeights());
                }
            }));
            try (Model seen = dummy(lastSeen.get(1))) {
                assertWeights(plain, seen, "the weights the last epoch ended with");
            }
            float[] averaged = m.getWeights().get(0).data();
            boolean differs = false;
            for (int i = 0; i < averaged.length; i++) {
                differs |= averaged[i] != plain.get(0)[i];
            }
            assertTrue(differs, "the average replaced the trained weights");
        }
    }

    /** A model whose getWeights are these (assertWeights reads a model). */
    private static Model dummy(List<NDArray> weights) {
        Sequential s = model();
        s.build();
        s.setWeights(weights);
        return s;
    }

    /**
     * A saved model keeps the setting and the average (the "ema" state): loaded, it trains on exactly as the original,
     * and a model loaded from it says it averages.
     */
    @Test
    void aSavedModelKeepsTheAverageAndTrainsOnAsTheOriginal() throws Exception {
        NDArray[] d = data();
        Path file = dir.resolve("ema.osprey");
        try (Sequential m = model()) {
            m.compile(new Adam(0.01).useEma(0.95, 3), Loss.sparseCategoricalCrossentropy());
            m.fit(d[0], d[1], options(1));
            m.save(file);
            assertTrue(m.optimizerSlotNames().contains("ema"), m.optimizerSlotNames().toString());
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(new Ema(0.95, 3), loaded.optimizer().ema());
                assertEquals(m.optimizerState().slots().get("ema").data().length,
                        loaded.optimizerState().slots().get("ema").data().length);
                assertArrayEquals(m.optimizerState().slots().get("ema").data(),
                        loaded.optimizerState().slots().get("ema").data(), 0f);
                m.fit(d[0], d[1], options(1));
                loaded.fit(d[0], d[1], options(1));
                List<NDArray> a = m.getWeights(), b = loaded.getWeights();
                for (int k = 0; k < a.size(); k++) {
                    assertArrayEquals(a.get(k).data(), b.get(k).data(), 0f, m.weightPaths().get(k));
                }
            }
        }
    }

    @Test
    void badSettingsAreRefused() {
        String momentum = assertThrows(IllegalArgumentException.class, () -> new SGD(0.1).useEma(1.5)).getMessage();
        assertTrue(momentum.contains("momentum in [0, 1], received 1.5"), momentum);
        String frequency = assertThrows(IllegalArgumentException.class, () -> new Adam().useEma(0.99, -2))
                .getMessage();
        assertTrue(frequency.contains("overwrite frequency >= 0") && frequency.contains("received -2"), frequency);
        dev.osprey.optim.schedules.ExponentialDecay decay = new dev.osprey.optim.schedules.ExponentialDecay(0.1, 5, 0.5);
        GradientClipping norm = new GradientClipping(GradientClipping.Kind.NORM, 1);
        List<Optimizer> chains = List.of(
                new Adam().useEma(0.9).clipnorm(1).learningRate(decay),
                new Adam().clipnorm(1).learningRate(decay).useEma(0.9),
                new LossScaleOptimizer(new Adam().clipnorm(1).learningRate(decay)).useEma(0.9),
                new LossScaleOptimizer(new Adam().useEma(0.9)).clipnorm(1).learningRate(decay));
        for (Optimizer o : chains) { // every setting kept, whichever comes first
            assertEquals(new Ema(0.9, 0), o.ema(), o.toString());
            assertEquals(norm, o.clipping(), o.toString());
            assertEquals(decay, o.schedule(), o.toString());
            assertEquals(Boolean.TRUE, o.config().get("use_ema"));
            assertEquals(0.9, o.config().get("ema_momentum"));
        }
    }
}
