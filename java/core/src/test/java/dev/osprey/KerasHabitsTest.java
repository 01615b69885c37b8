package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.ReduceLROnPlateau;
import dev.osprey.callbacks.Training;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.LeakyReLU;
import dev.osprey.layers.ReLU;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.schedules.ExponentialDecay;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What a Keras user writes first, from a review of the API as one: Keras' names and overloads, and the mistakes that
 * must fail at once with what to do (non-finite data on every path, compile or close from a callback, a scheduled rate
 * beside a rate callback).
 */
class KerasHabitsTest {
    private static final LabeledData DATA = Datasets.fashionMnistSample();
    private static final NDArray X = DATA.trainX().slice(0, 64);
    private static final NDArray Y = DATA.trainY().slice(0, 64);

    private static Sequential small() {
        Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new Dense(16, "relu"),
                new LeakyReLU(0.2), new ReLU(6.0), new Dense(10, "softmax"));
        m.device(Device.cpu()).seed(1);
        return m;
    }

    private static NDArray withNaN(NDArray x) {
        float[] d = x.data().clone();
        d[100] = Float.NaN;
        return new NDArray(d, x.shape());
    }

    @Test
    void kerasNamesAndOverloads() {
        try (Sequential m = small()) {
            m.compile("RMSprop", "SparseCategoricalCrossentropy", "sparse_categorical_accuracy");
            assertEquals("rmsprop", m.optimizer().name());
            assertTrue(m.loss().categorical());
            History h = m.fit(X, Y);
            assertEquals(1, h.epochs());
            assertEquals(List.of("loss", "accuracy", "learning_rate"), List.copyOf(h.history().keySet()));
        }
        assertEquals(Metric.ACCURACY, Metric.of("categorical_accuracy"));
        assertEquals(Metric.ACCURACY, Metric.of("SparseCategoricalAccuracy"));
        assertEquals(Metric.F1_SCORE, Metric.of("F1Score"));
        assertEquals(Loss.meanSquaredError().name(), Loss.of("MeanSquaredError").name());
        ExponentialDecay smooth = new ExponentialDecay(1e-3, 100, 0.5);
        assertEquals(1e-3 * Math.pow(0.5, 0.5), smooth.rate(50), 1e-12, "staircase false, Keras' default");
    }

    /** Keras' model.optimizer.learning_rate = r between fits: the state is kept, the rate changes. */
    @Test
    void theLearningRateChangesBetweenFitsKeepingTheOptimizerState() {
        try (Sequential m = small()) {
            m.compile(new Adam(1e-3), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            m.fit(X, Y, FitOptions.defaults().verbose(false));
            long steps = m.optimizerState().iterations();
            m.learningRate(1e-4);
            assertEquals(1e-4, m.learningRate(), 1e-9); // held as a float
            History h = m.fit(X, Y, FitOptions.defaults().verbose(false));
            assertEquals(1e-4, h.last("learning_rate"), 1e-9);
            assertEquals(2 * steps, m.optimizerState().iterations(), "the same optimizer, carried on");
        }
        try (Sequential m = small()) {
            m.compile(new Adam().learningRate(new ExponentialDecay(1e-3, 10, 0.5)), Loss.sparseCategoricalCrossentropy());
            assertTrue(assertThrows(IllegalStateException.class, () -> m.learningRate(1e-4)).getMessage()
                    .contains("follows the schedule ExponentialDecay"));
        }
    }

    @Test
    void nonFiniteDataIsRefusedOnEveryPath() {
        try (Sequential m = small()) {
            m.compile("adam", "sparse_categorical_crossentropy", "accuracy");
            NDArray bad = withNaN(X);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.evaluate(bad, Y, 32)).getMessage()
                    .startsWith("evaluate: expected finite inputs, received NaN in sample 0"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.testOnBatch(bad, Y)).getMessage()
                    .contains("expected finite inputs"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.fit(X, Y,
                    FitOptions.defaults().validationData(bad, Y).verbose(false))).getMessage()
                    .startsWith("fit validation data: expected finite inputs"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> m.classificationReport(bad, Y, 32))
                    .getMessage().startsWith("classificationReport: expected finite inputs"));
            List<NDArray> weights = m.getWeights();
            weights.get(0).data()[3] = Float.POSITIVE_INFINITY;
            assertEquals("setWeights: expected finite weights, received Infinity at index 3 of weight 0",
                    assertThrows(IllegalArgumentException.class, () -> m.setWeights(weights)).getMessage());
        }
    }

    @Test
    void compileAndCloseFromACallbackAreRefusedSayingWhatToDo() {
        for (String call : List.of("compile", "close")) {
            try (Sequential m = small()) {
                m.compile("adam", "sparse_categorical_crossentropy", "accuracy");
                Callback inside = new Callback() {
                    @Override
                    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
                        if (call.equals("compile")) {
                            training.model().compile(new Adam(1e-4), Loss.sparseCategoricalCrossentropy());
                        } else {
                            training.model().close();
                        }
                    }
                };
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> m.fit(X, Y, FitOptions.defaults().epochs(2).verbose(false).callbacks(inside)));
                assertTrue(e.getMessage().startsWith(call + ": called from inside fit (one of its callbacks)"),
                        e.getMessage());
                assertEquals(3, m.evaluate(X, Y, 32).size() + 1, "the model still works after the refused call");
            }
        }
    }

    @Test
    void aScheduledRateBesideARateCallbackIsRefusedWhenTrainingBegins() {
        try (Sequential m = small()) {
            m.compile(new Adam().learningRate(new ExponentialDecay(1e-3, 10, 0.5)), Loss.sparseCategoricalCrossentropy());
            int[] epochs = {0};
            Callback count = new Callback() {
                @Override
                public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
                    epochs[0]++;
                }
            };
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.fit(X, Y,
                    FitOptions.defaults().epochs(3).verbose(false).callbacks(count, new ReduceLROnPlateau("loss"))));
            assertTrue(e.getMessage().startsWith("ReduceLROnPlateau: the optimizer's learning rate follows the schedule "
                    + "ExponentialDecay; expected an optimizer with a fixed rate"),
                    e.getMessage());
            assertEquals(0, epochs[0], "before the first epoch, not at the callback's first change");
        }
    }

    /**
     * Keras' transfer pattern: a model cut from a trained one's tensors holds weights of its own, from its initializers
     * (each model holds its own; a warning says so), and copyWeightsFrom takes the trained ones, statistics included,
     * as a copy: changing one model leaves the other as it is.
     */
    @Test
    void aModelCutFromATrainedOneTakesItsWeightsByCopyWeightsFrom() {
        Input in = Input.shape(28, 28, 1);
        SymbolicTensor features = new dev.osprey.layers.BatchNormalization().apply(
                new Dense(12, "relu").name("feat").apply(new Flatten().apply(in)));
        SymbolicTensor out = new Dense(10, "softmax").apply(features);
        try (Model full = new Model(in, out)) {
            full.device(Device.cpu()).seed(4);
            full.compile("adam", "sparse_categorical_crossentropy", "accuracy");
            full.fit(X, Y, FitOptions.defaults().epochs(2).verbose(false));
            float[] expected = full.predict(X, 64).data();
            try (Model again = new Model(in, out); Model extractor = new Model(in, features)) {
                again.device(Device.cpu()).seed(4);
                extractor.device(Device.cpu());
                assertTrue(!java.util.Arrays.equals(expected, again.predict(X, 64).data()), "its own initializers");
                assertEquals(again.weightPaths().size(), again.copyWeightsFrom(full), "every weight, by name");
                org.junit.jupiter.api.Assertions.assertArrayEquals(expected, again.predict(X, 64).data(), 0f,
                        "the trained weights and statistics");
                extractor.copyWeightsFrom(full);
                assertEquals(full.namedWeights().get("feat/kernel").data()[5],
                        extractor.namedWeights().get("feat/kernel").data()[5]);
                List<NDArray> zeros = extractor.getWeights().stream().map(w -> new NDArray(new float[w.data().length],
                        w.shape())).toList();
                extractor.setWeights(zeros);
                org.junit.jupiter.api.Assertions.assertArrayEquals(expected, full.predict(X, 64).data(), 0f,
                        "a copy: the trained model is untouched");
            }
        }
    }
}
