package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Training, evaluation and step-level calls of models of several inputs (Keras' {@code fit([xa, xb], y)}): the
 * engine takes each sample's inputs side by side in one row, and splits the rows into the inputs on the device.
 */
class MultiInputTrainingTest {
    private static final int N = 64;

    /** Inputs a (4) and b (3) joined by a Concatenate, then two Dense layers. */
    private static Model twoInputs() {
        Input a = Input.shape(4).name("a");
        Input b = Input.shape(3).name("b");
        SymbolicTensor joined = new Concatenate().apply(a, b);
        SymbolicTensor hidden = new Dense(8, Activation.RELU).apply(joined);
        return new Model(List.of(a, b), List.of(new Dense(3, Activation.SOFTMAX).apply(hidden)));
    }

    /** The same layers on one input of the 7 values side by side. */
    private static Model oneInput() {
        Input x = Input.shape(7);
        SymbolicTensor hidden = new Dense(8, Activation.RELU).apply(x);
        return new Model(x, new Dense(3, Activation.SOFTMAX).apply(hidden));
    }

    private static NDArray random(Random r, int rows, int... sample) {
        int size = 1;
        for (int d : sample) {
            size *= d;
        }
        float[] v = new float[rows * size];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        int[] shape = new int[sample.length + 1];
        shape[0] = rows;
        System.arraycopy(sample, 0, shape, 1, sample.length);
        return new NDArray(v, shape);
    }

    /** Class of each sample from both inputs, so that rows of a and b taken apart from each other can't be learned. */
    private static NDArray labels(NDArray a, NDArray b) {
        float[] y = new float[a.rows()];
        for (int i = 0; i < y.length; i++) {
            float s = a.data()[i * 4] + a.data()[i * 4 + 1] - b.data()[i * 3 + 2];
            y[i] = s < -0.5f ? 0 : s < 0.5f ? 1 : 2;
        }
        return new NDArray(y, y.length);
    }

    private static NDArray sideBySide(NDArray a, NDArray b) {
        float[] x = new float[a.rows() * 7];
        for (int i = 0; i < a.rows(); i++) {
            System.arraycopy(a.data(), i * 4, x, i * 7, 4);
            System.arraycopy(b.data(), i * 3, x, i * 7 + 4, 3);
        }
        return new NDArray(x, a.rows(), 7);
    }

    /**
     * A model of inputs a and b concatenated trains exactly as the same layers on one input of a's and b's values
     * side by side, from the same weights, bit for bit: shuffled batches with validation data given per input, on one
     * CPU and split across two replicas; and with a validation split and sample weights. Inputs swapped in the
     * packing, or rows of one input shuffled apart from the other's, would change every figure.
     */
    @Test
    void twoInputsTrainExactlyAsTheirValuesSideBySideInOneInput() {
        Random r = new Random(11);
        NDArray a = random(r, N, 4), b = random(r, N, 3), va = random(r, 16, 4), vb = random(r, 16, 3);
        NDArray y = labels(a, b), vy = labels(va, vb);
        float[] weights = new float[N];
        for (int i = 0; i < N; i++) {
            weights[i] = 0.5f + (i % 3);
        }
        for (String setting : new String[] {"validation data", "validation data, two replicas", "split, weights"}) {
            String[] devices = setting.contains("two replicas") ? new String[] {"cpu", "cpu"} : new String[] {"cpu"};
            boolean split = setting.startsWith("split");
            try (Model two = twoInputs().device(Device.cpu()).seed(3);
                 Model one = oneInput().device(Device.cpu()).seed(4)) {
                two.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
                one.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
                two.build();
                one.build();
                one.setWeights(two.getWeights());
                FitOptions forTwo = FitOptions.defaults().epochs(3).batchSize(16).seed(5).verbose(false)
                        .devices(devices);
                FitOptions forOne = FitOptions.defaults().epochs(3).batchSize(16).seed(5).verbose(false)
                        .devices(devices);
                if (split) {
                    forTwo.validationSplit(0.25).sampleWeight(weights);
                    forOne.validationSplit(0.25).sampleWeight(weights);
                } else {
                    forTwo.validationData(List.of(va, vb), vy);
                    forOne.validationData(sideBySide(va, vb), vy);
                }
                History h2 = two.fit(List.of(a, b), y, forTwo);
                History h1 = one.fit(sideBySide(a, b), y, forOne);
                for (String figure : new String[] {"loss", "accuracy", "val_loss", "val_accuracy"}) {
                    assertEquals(h1.get(figure), h2.get(figure), figure + " with " + setting);
                }
                List<NDArray> w1 = one.getWeights(), w2 = two.getWeights();
                for (int i = 0; i < w1.size(); i++) {
                    assertArrayEquals(w1.get(i).data(), w2.get(i).data(), 0f, "weight " + i + " with " + setting);
                }
                assertEquals(one.evaluate(sideBySide(va, vb), vy, 5), two.evaluate(List.of(va, vb), vy, 5), setting);
            }
        }
    }

    /**
     * A source of every input's rows (BatchSource.sideBySide of an array source and an array) trains as the arrays
     * do through fit(List): the same losses, validation figures and weights, bit for bit; a source of one input's rows
     * is refused for a model of two.
     */
    @Test
    void aSourceOfEveryInputsRowsTrainsAsTheArraysDo() {
        Random r = new Random(14);
        NDArray a = random(r, N, 4), b = random(r, N, 3), va = random(r, 16, 4), vb = random(r, 16, 3);
        NDArray y = labels(a, b), vy = labels(va, vb);
        try (Model arrays = twoInputs().device(Device.cpu()).seed(3);
             Model source = twoInputs().device(Device.cpu()).seed(4)) {
            arrays.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            source.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            arrays.build();
            source.build();
            source.setWeights(arrays.getWeights());
            History h1 = arrays.fit(List.of(a, b), y, FitOptions.defaults().epochs(2).batchSize(16).seed(5)
                    .verbose(false).validationData(List.of(va, vb), vy));
            History h2 = source.fit(BatchSource.sideBySide(new ArrayBatchSource(a, y), b),
                    BatchSource.sideBySide(new ArrayBatchSource(va, vy), vb),
                    FitOptions.defaults().epochs(2).batchSize(16).seed(5).verbose(false));
            for (String figure : new String[] {"loss", "accuracy", "val_loss", "val_accuracy"}) {
                assertEquals(h1.get(figure), h2.get(figure), figure);
            }
            for (int i = 0; i < arrays.getWeights().size(); i++) {
                assertArrayEquals(arrays.getWeights().get(i).data(), source.getWeights().get(i).data(), 0f);
            }
            IllegalArgumentException one = assertThrows(IllegalArgumentException.class, () -> source.fit(
                    new ArrayBatchSource(sideBySide(a, b), y), null, FitOptions.defaults().verbose(false)));
            assertTrue(one.getMessage().endsWith("expected a source of every input's rows: "
                    + "BatchSource.sideBySide(source, arrays...)"), one.getMessage());
            IllegalArgumentException swapped = assertThrows(IllegalArgumentException.class, () -> source.fit(
                    BatchSource.sideBySide(new ArrayBatchSource(b, y), a), null, FitOptions.defaults().verbose(false)));
            assertEquals("fit: expected part 1 ('a') of shape (N, 4), received samples of (3,)", swapped.getMessage());
            float[] nan = b.data().clone();
            nan[7] = Float.NaN;
            IllegalArgumentException notFinite = assertThrows(IllegalArgumentException.class, () -> source.fit(
                    BatchSource.sideBySide(new ArrayBatchSource(a, y), new NDArray(nan, N, 3)), null,
                    FitOptions.defaults().verbose(false)));
            assertEquals("fit input 2: expected finite inputs, received NaN in sample 2", notFinite.getMessage());
        }
        try (Model one = oneInput().device(Device.cpu())) { // a source of two parts is not one input's rows
            one.compile(new Adam(), Loss.sparseCategoricalCrossentropy());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> one.fit(
                    BatchSource.sideBySide(new ArrayBatchSource(a, y), b), null, FitOptions.defaults().verbose(false)));
            assertEquals("fit: expected a part for each of the model's 1 input, received a source of 2 parts",
                    e.getMessage());
        }
    }

    /**
     * An image (given without its channel of 1) and a vector: trainOnBatch lowers the loss; evaluate and testOnBatch
     * give the cross-entropy of
     * predict's own outputs (the inputs of rank 3 and 1 split out of the rows correctly in the inference plans too).
     */
    @Test
    void anImageAndAVectorTrainAndEvaluateAsPredictSees() {
        Input image = Input.shape(4, 4, 1).name("image");
        Input extra = Input.shape(3).name("extra");
        SymbolicTensor features = new Flatten().apply(new Conv2D(2, 3, Activation.RELU).apply(image));
        SymbolicTensor out = new Dense(3, Activation.SOFTMAX).apply(new Concatenate().apply(features, extra));
        Random r = new Random(12);
        NDArray x1 = random(r, 24, 4, 4), x2 = random(r, 24, 3); // (4, 4) for the (4, 4, 1) input, as Keras allows
        float[] classes = new float[24];
        for (int i = 0; i < 24; i++) {
            classes[i] = (x1.data()[i * 16 + 5] > 0 ? 1 : 0) + (x2.data()[i * 3] > 0 ? 1 : 0);
        }
        NDArray y = new NDArray(classes, 24);
        try (Model model = new Model(List.of(image, extra), List.of(out)).device(Device.cpu()).seed(1)) {
            model.compile(new Adam(0.02), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            double first = model.trainOnBatch(List.of(x1, x2), y, null).get("loss");
            double last = first;
            for (int step = 0; step < 40; step++) { // the two-argument form is the same step with no sample weights
                last = (step % 2 == 0 ? model.trainOnBatch(List.of(x1, x2), y)
                        : model.trainOnBatch(List.of(x1, x2), y, null)).get("loss");
            }
            assertTrue(last < 0.7 * first, "loss " + first + " -> " + last);
            float[] p = model.predict(List.of(x1, x2), 7).get(0).data();
            double expected = 0;
            for (int i = 0; i < 24; i++) {
                expected -= Math.log(p[i * 3 + (int) classes[i]]);
            }
            expected /= 24;
            assertEquals(expected, model.evaluate(List.of(x1, x2), y, 5).get("loss"), 1e-5);
            assertEquals(expected, model.evaluate(List.of(x1, x2), y).get("loss"), 1e-5, "in batches of 32");
            assertEquals(expected, model.testOnBatch(List.of(x1, x2), y).get("loss"), 1e-5);
            assertArrayEquals(p, model.predictOnBatch(List.of(x1, x2)).get(0).data(), 1e-6f);
        }
    }

    @Test
    void wrongInputArraysAreRefusedWithWhatWasExpected() {
        Random r = new Random(13);
        NDArray a = random(r, N, 4), b = random(r, N, 3);
        NDArray y = labels(a, b);
        try (Model two = twoInputs().device(Device.cpu())) {
            two.compile(new Adam(), Loss.sparseCategoricalCrossentropy());
            IllegalArgumentException one = assertThrows(IllegalArgumentException.class,
                    () -> two.fit(sideBySide(a, b), y, FitOptions.defaults().verbose(false)));
            assertEquals("fit: this model has 2 inputs (a (4,), b (3,)); expected one array per input, in that order: "
                    + "pass a List<NDArray>", one.getMessage());
            assertThrows(IllegalArgumentException.class, () -> two.evaluate(sideBySide(a, b), y, 8));
            assertThrows(IllegalArgumentException.class, () -> two.trainOnBatch(sideBySide(a, b), y));
            assertEquals("fit: expected 2 input arrays (one per model input, in order), received 1",
                    assertThrows(IllegalArgumentException.class,
                            () -> two.fit(List.of(a), y, FitOptions.defaults())).getMessage());
            assertEquals("trainOnBatch: expected every input array to hold the same samples; input 1 has 64, input 2 "
                    + "has 63", assertThrows(IllegalArgumentException.class,
                    () -> two.trainOnBatch(List.of(a, random(r, 63, 3)), y, null)).getMessage());
            assertEquals("evaluate: expected input 2 ('b') of shape (N, 3), received (64, 4)",
                    assertThrows(IllegalArgumentException.class,
                            () -> two.evaluate(List.of(a, random(r, N, 4)), y, 8)).getMessage());
            assertEquals("fit validation data: this model has 2 inputs; expected one array per input: "
                    + "validationData(List<NDArray>, y), or each by name: validationData(Map, Map)",
                    assertThrows(IllegalArgumentException.class, () -> two.fit(
                    List.of(a, b), y, FitOptions.defaults().verbose(false).validationData(sideBySide(a, b), y)))
                    .getMessage());
            assertEquals("predict: this model has 2 inputs and 1 outputs; use predict(List<NDArray>, batchSize)",
                    assertThrows(IllegalArgumentException.class, () -> two.predict(sideBySide(a, b))).getMessage());
            float[] nan = b.data().clone();
            nan[3 * 5 + 1] = Float.NaN;
            assertEquals("evaluate input 2: expected finite inputs, received NaN in sample 5",
                    assertThrows(IllegalArgumentException.class,
                            () -> two.evaluate(List.of(a, new NDArray(nan, N, 3)), y, 8)).getMessage());
            assertEquals("trainOnBatch: expected at least one sample, received 0",
                    assertThrows(IllegalArgumentException.class, () -> two.trainOnBatch(
                            List.of(new NDArray(new float[0], 0, 4), new NDArray(new float[0], 0, 3)), y, null))
                            .getMessage());
            assertEquals("fit validation data: expected input 1 ('a') of shape (N, 4), received (8, 3)",
                    assertThrows(IllegalArgumentException.class, () -> two.fit(List.of(a, b), y, FitOptions.defaults()
                            .verbose(false).validationData(List.of(random(r, 8, 3), random(r, 8, 3)), y)))
                            .getMessage());
        }
    }
}
