package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.SGD;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Binary cross-entropy, mean squared and mean absolute error through the whole model: what fit steps by, what evaluate
 * reports (against the textbook formulas applied to predict's outputs), and what compile refuses.
 */
class LossesTest {
    private static final FitOptions QUIET = FitOptions.defaults().verbose(false).shuffle(false).seed(3);

    /** Footwear (sandal 5, sneaker 7, ankle boot 9) or not, as 0/1 targets of one output. */
    private static NDArray footwear(NDArray labels) {
        float[] y = new float[labels.rows()];
        for (int i = 0; i < y.length; i++) {
            int c = (int) labels.data()[i];
            y[i] = c == 5 || c == 7 || c == 9 ? 1f : 0f;
        }
        return new NDArray(y, y.length, 1);
    }

    private static Sequential binaryModel(Activation last) {
        Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new Dense(16, Activation.RELU),
                new Dense(1, last));
        m.device(Device.cpu()).seed(4);
        return m;
    }

    /** From probabilities clipped to [1e-7, 1 - 1e-7] as Keras clips them (a float sigmoid can round to 1). */
    private static double textbookBinaryCrossEntropy(float[] probabilities, float[] t) {
        double sum = 0;
        for (int i = 0; i < probabilities.length; i++) {
            double p = Math.min(Math.max(probabilities[i], 1e-7), 1 - 1e-7);
            sum -= t[i] * Math.log(p) + (1 - t[i]) * Math.log(1 - p);
        }
        return sum / probabilities.length;
    }

    @Test
    void binaryCrossEntropyLearnsAYesNoQuestionAndEvaluateMatchesTheFormula() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 2000);
        NDArray y = footwear(d.trainY().slice(0, 2000));
        NDArray testX = d.testX().slice(0, 500);
        NDArray testY = footwear(d.testY().slice(0, 500));
        try (Sequential m = binaryModel(Activation.SIGMOID)) {
            m.compile(new Adam(0.01), Loss.binaryCrossentropy(), Metric.ACCURACY);
            m.fit(x, y, QUIET.epochs(3).batchSize(64));
            NDArray p = m.predict(testX);
            int correct = 0;
            for (int i = 0; i < p.rows(); i++) {
                assertTrue(p.data()[i] >= 0 && p.data()[i] <= 1, "a probability: " + p.data()[i]);
                correct += (p.data()[i] > 0.5f) == (testY.data()[i] > 0.5f) ? 1 : 0;
            }
            Map<String, Double> e = m.evaluate(testX, testY);
            assertEquals(textbookBinaryCrossEntropy(p.data(), testY.data()), e.get("loss"), 1e-5);
            assertEquals(correct / 500.0, e.get("accuracy"), 1e-9);
            assertTrue(e.get("accuracy") > 0.95, "footwear or not after 3 epochs: " + e);
        }
    }

    @Test
    void fromLogitsAndAStandaloneSigmoidLayerTrainAlikeToTheSigmoidOutput() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 256);
        NDArray y = footwear(d.trainY().slice(0, 256));
        try (Sequential fused = binaryModel(Activation.SIGMOID); Sequential logits = binaryModel(Activation.LINEAR);
             Sequential standalone = new Sequential(new Flatten().inputShape(28, 28, 1),
                     new Dense(16, Activation.RELU), new Dense(1), new dev.osprey.layers.Activation("sigmoid"))) {
            standalone.device(Device.cpu());
            fused.compile(new SGD(0.1), Loss.binaryCrossentropy(), Metric.ACCURACY);
            logits.compile(new SGD(0.1), Loss.binaryCrossentropy().fromLogits(true), Metric.ACCURACY);
            standalone.compile(new SGD(0.1), Loss.binaryCrossentropy(), Metric.ACCURACY);
            logits.setWeights(fused.getWeights());
            standalone.setWeights(fused.getWeights());
            History hf = fused.fit(x, y, QUIET.epochs(2).batchSize(32));
            History hl = logits.fit(x, y, QUIET.epochs(2).batchSize(32));
            History hs = standalone.fit(x, y, QUIET.epochs(2).batchSize(32));
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(fused.getWeights().get(i).data(), logits.getWeights().get(i).data(), 1e-6f);
                assertArrayEquals(fused.getWeights().get(i).data(), standalone.getWeights().get(i).data(), 1e-6f);
            }
            assertEquals(hf.last("loss"), hl.last("loss"), 1e-6);
            assertEquals(hf.last("loss"), hs.last("loss"), 1e-6);
            // predict gives probabilities from the sigmoid models and logits from the linear one
            float[] p = fused.predict(x.slice(0, 8)).data();
            float[] z = logits.predict(x.slice(0, 8)).data();
            float[] s = standalone.predict(x.slice(0, 8)).data();
            for (int i = 0; i < 8; i++) {
                assertEquals(1 / (1 + Math.exp(-z[i])), p[i], 1e-6);
                assertEquals(p[i], s[i], 1e-6);
            }
            assertEquals(fused.evaluate(x, y).get("loss"), standalone.evaluate(x, y).get("loss"), 1e-6);
            assertEquals(fused.evaluate(x, y).get("loss"), logits.evaluate(x, y).get("loss"), 1e-6);
        }
    }

    @Test
    void severalIndependentLabelsTakeOneSigmoidEach() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 300);
        float[] t = new float[300 * 3];
        for (int i = 0; i < 300; i++) {
            int c = (int) d.trainY().data()[i];
            t[i * 3] = c == 5 || c == 7 || c == 9 ? 1 : 0;     // footwear
            t[i * 3 + 1] = c == 0 || c == 2 || c == 4 || c == 6 ? 1 : 0; // upper body, long sleeves or not
            t[i * 3 + 2] = c == 8 ? 1 : 0;                    // bag
        }
        NDArray y = new NDArray(t, 300, 3);
        try (Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new Dense(16, Activation.RELU),
                new Dense(3, Activation.SIGMOID))) {
            m.device(Device.cpu()).seed(5);
            m.compile(new Adam(0.01), Loss.binaryCrossentropy(), Metric.ACCURACY);
            Map<String, Double> before = m.evaluate(x, y);
            m.fit(x, y, QUIET.epochs(3).batchSize(32));
            Map<String, Double> after = m.evaluate(x, y);
            assertEquals(textbookBinaryCrossEntropy(m.predict(x).data(), t), after.get("loss"), 1e-5);
            assertTrue(after.get("loss") < before.get("loss") / 2, before + " -> " + after);
        }
    }

    /** y = x . (1, -2, 0.5) + 0.3 plus noise: one full-batch SGD step of a linear unit against the formula. */
    @Test
    void meanSquaredAndAbsoluteErrorStepAsTheirGradientsSay() {
        Random r = new Random(8);
        int n = 24;
        float[] xs = new float[n * 3];
        float[] ys = new float[n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 3; j++) {
                xs[i * 3 + j] = (float) r.nextGaussian();
            }
            ys[i] = xs[i * 3] - 2 * xs[i * 3 + 1] + 0.5f * xs[i * 3 + 2] + 0.3f + 0.1f * (float) r.nextGaussian();
        }
        NDArray x = new NDArray(xs, n, 3);
        NDArray y = new NDArray(ys, n, 1);
        for (Loss loss : List.of(Loss.meanSquaredError(), Loss.meanAbsoluteError())) {
            try (Sequential m = new Sequential(new Dense(1).inputShape(3))) {
                m.device(Device.cpu()).seed(2);
                m.compile(new SGD(0.1), loss);
                float[] w = m.getWeights().get(0).data();
                float b = m.getWeights().get(1).data()[0];
                double[] gw = new double[3];
                double gb = 0;
                double expectedLoss = 0;
                for (int i = 0; i < n; i++) {
                    double pred = b;
                    for (int j = 0; j < 3; j++) {
                        pred += w[j] * xs[i * 3 + j];
                    }
                    double d = pred - ys[i];
                    boolean squared = loss.name().equals("mean_squared_error");
                    expectedLoss += squared ? d * d : Math.abs(d);
                    double g = (squared ? 2 * d : Math.signum(d)) / n;
                    for (int j = 0; j < 3; j++) {
                        gw[j] += g * xs[i * 3 + j];
                    }
                    gb += g;
                }
                assertEquals(expectedLoss / n, m.evaluate(x, y).get("loss"), 1e-5, loss.name());
                History h = m.fit(x, y, QUIET.epochs(1).batchSize(n));
                assertEquals(expectedLoss / n, h.last("loss"), 1e-5, loss.name());
                for (int j = 0; j < 3; j++) {
                    assertEquals(w[j] - 0.1 * gw[j], m.getWeights().get(0).data()[j], 1e-6, loss.name() + " w" + j);
                }
                assertEquals(b - 0.1 * gb, m.getWeights().get(1).data()[0], 1e-6, loss.name() + " bias");
                // and it fits the line in a few hundred steps
                m.fit(x, y, QUIET.epochs(300).batchSize(n));
                assertTrue(m.evaluate(x, y).get("loss") < (loss.name().equals("mean_squared_error") ? 0.02 : 0.12),
                        loss.name() + " after training: " + m.evaluate(x, y));
            }
        }
    }

    @Test
    void meanSquaredErrorOnASoftmaxOutputMeasuresTheProbabilities() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 64);
        NDArray y = dev.osprey.data.OneHot.encode(d.trainY().slice(0, 64), 10);
        try (Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new Dense(10, Activation.SOFTMAX))) {
            m.device(Device.cpu()).seed(1);
            m.compile(new SGD(0.5), Loss.meanSquaredError(), Metric.ACCURACY);
            float[] p = m.predict(x).data();
            double expected = 0;
            for (int i = 0; i < p.length; i++) {
                expected += (p[i] - y.data()[i]) * (p[i] - y.data()[i]);
            }
            assertEquals(expected / p.length, m.evaluate(x, y).get("loss"), 1e-6);
            double before = m.evaluate(x, y).get("loss");
            m.fit(x, y, QUIET.epochs(5).batchSize(16));
            assertTrue(m.evaluate(x, y).get("loss") < before, "the softmax's backward pass carries the error");
        }
    }

    @Test
    void compileRefusesALastLayerTheLossCannotUse() {
        try (Sequential softmax = binaryModel(Activation.SOFTMAX); Sequential relu = binaryModel(Activation.RELU)) {
            assertEquals("compile: binary_crossentropy expects the last layer to end in sigmoid, received relu (use "
                            + "Loss...fromLogits(true) for a linear last layer)",
                    assertThrows(IllegalArgumentException.class,
                            () -> relu.compile(new SGD(0.1), Loss.binaryCrossentropy())).getMessage());
            IllegalArgumentException oneClass = assertThrows(IllegalArgumentException.class,
                    () -> softmax.compile(new SGD(0.1), Loss.sparseCategoricalCrossentropy()));
            assertTrue(oneClass.getMessage().contains("expects at least 2 classes"), oneClass.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Loss.meanSquaredError().fromLogits(true));
        assertThrows(IllegalArgumentException.class, () -> Loss.meanAbsoluteError().labelSmoothing(0.1));
        assertEquals("mean_absolute_error", Loss.of("mae").name());
        assertThrows(IllegalArgumentException.class, () -> Loss.of("hinge"));
    }

    @Test
    void badTargetsAreRefusedBeforeTraining() {
        try (Sequential m = binaryModel(Activation.SIGMOID)) {
            m.compile(new SGD(0.1), Loss.binaryCrossentropy());
            NDArray x = Datasets.fashionMnistSample().trainX().slice(0, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> m.fit(x, new NDArray(new float[] {0, 3}, 2, 1), QUIET));
            assertEquals("fit: binary_crossentropy expects targets in [0, 1], received 3.0 in row 1", e.getMessage());
        }
    }

    @Test
    void binaryCrossEntropyAndLabelSmoothingSurviveSaveAndLoad(@TempDir Path dir) throws Exception {
        try (Sequential m = binaryModel(Activation.SIGMOID)) {
            m.compile(new Adam(0.01), Loss.binaryCrossentropy().labelSmoothing(0.1), Metric.ACCURACY);
            Path file = dir.resolve("binary.osprey");
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals("binary_crossentropy", loaded.loss().name());
                assertEquals(0.1, loaded.loss().labelSmoothing(), 0);
                NDArray x = Datasets.fashionMnistSample().trainX().slice(0, 16);
                NDArray y = footwear(Datasets.fashionMnistSample().trainY().slice(0, 16));
                assertEquals(m.evaluate(x, y).get("loss"), loaded.evaluate(x, y).get("loss"), 0);
            }
        }
    }

    /** Without count metrics no counts tensor is made: 60,000 outputs would need more than one tensor holds. */
    @Test
    void aModelOfManyOutputsTrainsWithoutMetricCounts() {
        try (Sequential m = new Sequential(new Dense(60_000).inputShape(2))) {
            m.device(Device.cpu()).seed(1);
            m.compile(new SGD(0.1), Loss.meanSquaredError());
            NDArray x = new NDArray(new float[] {1, 2, 3, 4}, 2, 2);
            NDArray y = new NDArray(new float[120_000], 2, 60_000);
            History h = m.fit(x, y, QUIET.epochs(1).batchSize(2));
            assertTrue(h.last("loss") > 0);
            assertTrue(m.trainOnBatch(x, y).get("loss") >= 0);
        }
    }

    @Test
    void binaryLabelSmoothingPullsTargetsTowardsOneHalf() {
        float[] out = new float[2];
        Loss.binaryCrossentropy().labelSmoothing(0.2).targets(new float[] {1, 0}, 2, 1, out);
        assertArrayEquals(new float[] {0.9f, 0.1f}, out, 1e-7f);
    }
}
