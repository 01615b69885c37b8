package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.callbacks.EarlyStopping;
import dev.osprey.callbacks.ModelCheckpoint;
import dev.osprey.data.OneHot;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.SGD;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SequentialTest {
    @TempDir
    Path dir;

    @Test
    void summaryShowsTheTutorialModelsKerasParameterCounts() {
        try (Sequential model = Models.compiledTutorialCnn()) {
            String s = model.summaryString();
            assertEquals(93_322, model.countParams());
            for (String expected : new String[] {"conv2d (Conv2D)", "(None, 26, 26, 32)", "320", "18,496", "36,928",
                    "650", "max_pooling2d_1 (MaxPooling2D)", "(None, 576)", "Total params: 93,322"}) {
                assertTrue(s.contains(expected), "summary lacks '" + expected + "':\n" + s);
            }
            assertEquals(2, s.split("36,928", -1).length - 1, "conv2d_2 and dense both have 36,928 parameters:\n" + s);
        }
    }

    @Test
    void predictReturnsProbabilitiesInBatchesOfAnySize() {
        NDArray[] d = blobs(37, 1);
        try (Sequential model = small()) {
            NDArray p32 = model.predict(d[0]);
            NDArray p5 = model.predict(d[0], 5);
            assertEquals(37, p32.rows());
            for (int r = 0; r < 37; r++) {
                double sum = 0;
                for (int c = 0; c < 3; c++) {
                    sum += p32.get(r, c);
                    assertEquals(p32.get(r, c), p5.get(r, c), 1e-6);
                }
                assertEquals(1.0, sum, 1e-5);
            }
        }
    }

    @Test
    void fitLearnsSeparableDataWithEitherOptimizerAndEitherLabelForm() {
        NDArray[] d = blobs(300, 2);
        try (Sequential sparse = small()) {
            History h = sparse.fit(d[0], d[1], FitOptions.defaults().epochs(5).batchSize(16).validationSplit(0.2)
                    .verbose(false));
            assertTrue(h.last("val_accuracy") > 0.9, "validation accuracy " + h.get("val_accuracy"));
            assertTrue(h.last("loss") < h.get("loss").get(0));
        }
        try (Sequential oneHot = new Sequential(new Flatten().inputShape(6, 6, 1), new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).compile(new SGD(0.1, 0.9, true), Loss.categoricalCrossentropy(), Metric.ACCURACY)) {
            History h = oneHot.fit(d[0], OneHot.encode(d[1], 3), FitOptions.defaults().epochs(5).verbose(false));
            Map<String, Double> e = oneHot.evaluate(d[0], OneHot.encode(d[1], 3));
            assertTrue(e.get("accuracy") > 0.9, "accuracy " + e);
            assertEquals(h.last("loss"), h.get("loss").get(4));
        }
    }

    @Test
    void dropoutIsActiveOnlyWhileTraining() {
        NDArray[] d = blobs(64, 3);
        try (Sequential model = new Sequential(new Flatten().inputShape(6, 6, 1), new Dense(16, Activation.RELU),
                new Dropout(0.5), new Dense(3, Activation.SOFTMAX)).device(Device.cpu())
                .compile(new Adam(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY)) {
            NDArray before = model.predict(d[0]);
            NDArray again = model.predict(d[0]);
            assertEquals(java.util.Arrays.toString(before.data()), java.util.Arrays.toString(again.data()),
                    "inference must not drop anything");
            History h = model.fit(d[0], d[1], FitOptions.defaults().epochs(3).verbose(false));
            assertTrue(Double.isFinite(h.last("loss")));
        }
    }

    @Test
    void earlyStoppingStopsAndCheckpointKeepsTheBestModel() throws Exception {
        NDArray[] d = blobs(64, 4);
        Path best = dir.resolve("best.osprey");
        EarlyStopping stop = new EarlyStopping("loss", 0, 10.0, false); // no epoch can improve by 10
        try (Sequential model = small()) {
            History h = model.fit(d[0], d[1], FitOptions.defaults().epochs(10).verbose(false)
                    .callbacks(stop, new ModelCheckpoint(best, "loss", true)));
            assertEquals(2, h.epochs(), "the first epoch sets the best, the second fails to improve");
            assertEquals(1, stop.stoppedEpoch());
        }
        assertTrue(Files.size(best) > 0);
    }

    @Test
    void steadyStateTrainingAndInferenceAllocateNoNativeMemory() {
        NDArray[] d = blobs(100, 8); // 100 = 3 batches of 32 and one of 4: two batch sizes
        try (Sequential model = small()) {
            FitOptions options = FitOptions.defaults().epochs(1).batchSize(32).validationData(d[0], d[1]).verbose(false);
            model.fit(d[0], d[1], options);
            model.predict(d[0], 32);
            long afterWarmUp = model.backend().nativeAllocations();
            model.fit(d[0], d[1], options.epochs(3));
            model.predict(d[0], 32);
            model.evaluate(d[0], d[1], 32);
            assertEquals(afterWarmUp, model.backend().nativeAllocations(),
                    "buffers or plans were created after every batch size had been planned");
            model.predict(d[0], 7);
            assertTrue(model.backend().nativeAllocations() > afterWarmUp, "a new batch size must be planned");
        }
    }

    @Test
    void badInputGetsClearErrors() {
        NDArray[] d = blobs(10, 5);
        try (Sequential model = small()) {
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(NDArray.zeros(2, 5, 5, 1)));
            assertEquals("predict: expected input of shape (N, 6, 6, 1), received (2, 5, 5, 1)", shape.getMessage());
            IllegalArgumentException batch = assertThrows(IllegalArgumentException.class,
                    () -> model.fit(d[0], d[1], FitOptions.defaults().batchSize(0)));
            assertEquals("fit: expected batch size > 0, received batch_size=0", batch.getMessage());
            assertThrows(IllegalArgumentException.class, () -> model.predict(d[0], 0));
            IllegalArgumentException labels = assertThrows(IllegalArgumentException.class,
                    () -> model.fit(d[0], d[1].slice(0, 9), FitOptions.defaults().verbose(false)));
            assertEquals("fit: expected as many labels as samples (10), received 9", labels.getMessage());
            IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
                    () -> model.fit(d[0], new NDArray(new float[] {0, 1, 2, 3, 0, 1, 2, 0, 1, 2}, 10),
                            FitOptions.defaults()));
            assertTrue(range.getMessage().contains("integer labels in [0, 3), received 3.0 at row 3"), range.getMessage());
            float[] nan = d[0].data().clone();
            nan[40] = Float.NaN;
            IllegalArgumentException nanInput = assertThrows(IllegalArgumentException.class,
                    () -> model.fit(new NDArray(nan, 10, 6, 6, 1), d[1], FitOptions.defaults()));
            assertEquals("fit: expected finite inputs, received NaN in sample 1", nanInput.getMessage());
            // predict finds them as it copies each slice in: in the first slice, and in the last row of the last
            IllegalArgumentException nanPredict = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(new NDArray(nan, 10, 6, 6, 1), 4));
            assertEquals("predict: expected finite inputs, received NaN in sample 1", nanPredict.getMessage());
            float[] infinite = d[0].data().clone();
            infinite[infinite.length - 1] = Float.NEGATIVE_INFINITY;
            IllegalArgumentException infPredict = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(new NDArray(infinite, 10, 6, 6, 1), 4));
            assertEquals("predict: expected finite inputs, received -Infinity in sample 9", infPredict.getMessage());
            IllegalArgumentException several = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(List.of(new NDArray(infinite, 10, 6, 6, 1)), 3));
            assertEquals("predict: expected finite inputs, received -Infinity in sample 9", several.getMessage());
            model.acceptNonFiniteInputs(true);
            assertEquals(10, model.predict(new NDArray(infinite, 10, 6, 6, 1), 4).rows());
        }
        IllegalArgumentException filters = assertThrows(IllegalArgumentException.class, () -> new Conv2D(0, 3));
        assertEquals("Conv2D: expected filters > 0, received filters=0", filters.getMessage());
        IllegalArgumentException dense = assertThrows(IllegalArgumentException.class, () -> new Sequential(
                new Conv2D(2, 3).inputShape(6, 6, 1), new Dense(3, Activation.SOFTMAX)).device(Device.cpu())
                .compile(new Adam(), Loss.sparseCategoricalCrossentropy()));
        assertEquals("compile: expected the last layer to output (classes,), received (4, 4, 3) (a Dense layer "
                        + "applies to the last axis of a larger input, as in Keras: add a Flatten or a "
                        + "GlobalAveragePooling2D before it)",
                dense.getMessage());
        IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class, () -> new Sequential(
                new Conv2D(2, 7).inputShape(6, 6, 1), new Flatten(), new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).compile(new Adam(), Loss.sparseCategoricalCrossentropy()));
        assertTrue(tooSmall.getMessage().startsWith("Conv2D applied to (6, 6, 1) from Input: expected an input of at "
                + "least 7"), tooSmall.getMessage());
    }

    @Test
    void aDivergingLossStopsTrainingWithAClearMessage() {
        NDArray[] d = blobs(64, 6);
        float[] huge = d[0].data().clone();
        for (int i = 0; i < huge.length; i++) {
            huge[i] *= 1e38f; // finite inputs whose products overflow
        }
        try (Sequential model = small()) {
            TrainingDivergedException e = assertThrows(TrainingDivergedException.class,
                    () -> model.fit(new NDArray(huge, 64, 6, 6, 1), d[1], FitOptions.defaults().epochs(2).verbose(false)));
            assertTrue(e.getMessage().matches("training stopped: the loss became (NaN|infinite) in epoch 1 by batch \\d+ .*"),
                    e.getMessage());
        }
    }

    @Test
    void aClosedModelRefusesWorkInsteadOfCrashing() {
        Sequential model = small();
        model.close();
        model.close();
        assertThrows(IllegalStateException.class, () -> model.predict(NDArray.zeros(1, 6, 6, 1)));
    }

    @Test
    void buildWithSetsTheGivenWeightsInsteadOfTheSeedsAndOnlyOnce() {
        NDArray[] d = blobs(8, 2);
        try (Sequential trained = small(); Sequential loaded = new Sequential(
                new Conv2D(4, 3, Activation.RELU).inputShape(6, 6, 1), new MaxPooling2D(2), new Flatten(),
                new Dense(3, Activation.SOFTMAX)).device(Device.cpu())) {
            trained.fit(d[0], d[1], FitOptions.defaults().epochs(2).batchSize(4).verbose(false));
            assertEquals(trained.weightPaths(), loaded.weightPaths(), "paths are known before a build");
            loaded.buildWith(trained.getWeights());
            NDArray expected = trained.predict(d[0]);
            NDArray actual = loaded.predict(d[0]);
            for (int r = 0; r < 8; r++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(expected.get(r, c), actual.get(r, c), 0f);
                }
            }
            IllegalStateException twice = assertThrows(IllegalStateException.class,
                    () -> loaded.buildWith(trained.getWeights()));
            assertTrue(twice.getMessage().contains("built already"), twice.getMessage());
        }
        try (Sequential fresh = new Sequential(new Dense(3, Activation.SOFTMAX).inputShape(4)).device(Device.cpu())) {
            IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
                    () -> fresh.buildWith(java.util.List.of(NDArray.zeros(4, 3))));
            assertTrue(wrong.getMessage().contains("expected 2 arrays"), wrong.getMessage());
        }
    }

    static Sequential small() {
        return new Sequential(
                new Conv2D(4, 3, Activation.RELU).inputShape(6, 6, 1),
                new MaxPooling2D(2),
                new Flatten(),
                new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu())
                .compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }

    static NDArray[] blobs(int n, long seed) {
        return dev.osprey.testing.Blobs.of(n, seed);
    }
}
