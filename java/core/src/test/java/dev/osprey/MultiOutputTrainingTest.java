package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.layers.Add;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.SGD;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training, evaluation and step-level calls of models of several outputs (Keras' {@code compile(loss=[la, lb],
 * loss_weights=[...])} and {@code fit(x, [ya, yb])}): one loss per output, each output's gradient seeded by its own
 * loss op and scaled by its weight, the total and each output's loss reported.
 */
class MultiOutputTrainingTest {
    private static final int N = 64;
    private static final int FEATURES = 6;

    /** Two towers on one input: "kind" classifies into 3 classes, "box" regresses 2 values. */
    private static Model twoTowers() {
        Input x = Input.shape(FEATURES).name("x");
        SymbolicTensor kind = new Dense(3, Activation.SOFTMAX).name("kind")
                .apply(new Dense(8, Activation.RELU).name("kind_hidden").apply(x));
        SymbolicTensor box = new Dense(2).name("box").apply(new Dense(5, Activation.RELU).name("box_hidden").apply(x));
        return new Model(List.of(x), List.of(kind, box));
    }

    /** The classifying tower alone, its layers named as in twoTowers. */
    private static Model kindTower() {
        Input x = Input.shape(FEATURES).name("x");
        return new Model(x, new Dense(3, Activation.SOFTMAX).name("kind")
                .apply(new Dense(8, Activation.RELU).name("kind_hidden").apply(x)));
    }

    /** The regressing tower alone, its layers named as in twoTowers. */
    private static Model boxTower() {
        Input x = Input.shape(FEATURES).name("x");
        return new Model(x, new Dense(2).name("box").apply(new Dense(5, Activation.RELU).name("box_hidden").apply(x)));
    }

    /** One shared hidden layer and both heads on it. */
    private static Model sharedTrunk() {
        Input x = Input.shape(FEATURES).name("x");
        SymbolicTensor hidden = new Dense(8, Activation.RELU).name("trunk").apply(x);
        return new Model(List.of(x), List.of(new Dense(3, Activation.SOFTMAX).name("kind").apply(hidden),
                new Dense(2).name("box").apply(hidden)));
    }

    /**
     * Three heads on a regularized trunk, listed out of their creation order: "box" regresses 2 values, "kind"
     * classifies into 3 classes, "flag" answers yes or no through a sigmoid.
     */
    private static Model threeHeads() {
        Input x = Input.shape(FEATURES).name("x");
        SymbolicTensor hidden = new Dense(8, Activation.RELU).name("trunk").kernelRegularizer(Regularizer.l2(0.01))
                .apply(x);
        SymbolicTensor kind = new Dense(3, Activation.SOFTMAX).name("kind").apply(hidden);
        SymbolicTensor flag = new Dense(1, Activation.SIGMOID).name("flag").apply(hidden);
        SymbolicTensor box = new Dense(2).name("box").apply(hidden);
        return new Model(List.of(x), List.of(box, kind, flag));
    }

    /** Whether each sample's first feature is positive. */
    private static NDArray flags(NDArray x) {
        float[] y = new float[x.rows()];
        for (int i = 0; i < y.length; i++) {
            y[i] = x.data()[i * FEATURES] > 0 ? 1 : 0;
        }
        return new NDArray(y, x.rows(), 1);
    }

    /** The shared trunk with the classifying head alone. */
    private static Model trunkAndKind() {
        Input x = Input.shape(FEATURES).name("x");
        SymbolicTensor hidden = new Dense(8, Activation.RELU).name("trunk").apply(x);
        return new Model(x, new Dense(3, Activation.SOFTMAX).name("kind").apply(hidden));
    }

    private static NDArray random(Random r, int rows, int width) {
        float[] v = new float[rows * width];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new NDArray(v, rows, width);
    }

    /** A class per sample from its features. */
    private static NDArray classes(NDArray x) {
        float[] y = new float[x.rows()];
        for (int i = 0; i < y.length; i++) {
            float s = x.data()[i * FEATURES] - x.data()[i * FEATURES + 3];
            y[i] = s < -0.5f ? 0 : s < 0.5f ? 1 : 2;
        }
        return new NDArray(y, y.length);
    }

    /** Two regression targets per sample from its features. */
    private static NDArray boxes(NDArray x) {
        float[] y = new float[x.rows() * 2];
        for (int i = 0; i < x.rows(); i++) {
            y[i * 2] = x.data()[i * FEATURES + 1] * 0.5f + 0.25f;
            y[i * 2 + 1] = x.data()[i * FEATURES + 2] - x.data()[i * FEATURES + 4];
        }
        return new NDArray(y, x.rows(), 2);
    }

    /** Copies the weights of from's layers into the layers of the same name in to. */
    private static void copyWeightsByName(Model from, Model to) {
        Map<String, NDArray> byPath = new HashMap<>();
        List<String> paths = from.weightPaths();
        List<NDArray> values = from.getWeights();
        for (int i = 0; i < paths.size(); i++) {
            byPath.put(paths.get(i), values.get(i));
        }
        to.setWeights(to.weightPaths().stream().map(byPath::get).toList());
    }

    private static void assertSameWeights(Model whole, Model part, String setting) {
        Map<String, NDArray> byPath = new HashMap<>();
        for (int i = 0; i < whole.weightPaths().size(); i++) {
            byPath.put(whole.weightPaths().get(i), whole.getWeights().get(i));
        }
        List<NDArray> partWeights = part.getWeights();
        for (int i = 0; i < partWeights.size(); i++) {
            String path = part.weightPaths().get(i);
            assertArrayEquals(partWeights.get(i).data(), byPath.get(path).data(), 0f, path + " with " + setting);
        }
    }

    /**
     * Two independent towers trained as one model of two outputs, losses weighted 1 and 0.5, train exactly as each
     * tower alone with plain SGD, the regressing one at half the rate (a weight of 0.5 halves its gradient exactly),
     * bit for bit: weights, each output's loss, the classifier's accuracy, precision and AUC (from its classification
     * counts), and their validation figures; on one CPU, on two CPU
     * replicas, and with a validation split and sample weights. The total loss is the weighted sum. Targets of one
     * output fed to the other, a weight not applied or applied to the wrong output would change the figures.
     */
    @Test
    void independentTowersTrainExactlyAsEachTowerAlone() {
        Random r = new Random(21);
        NDArray x = random(r, N, FEATURES), vx = random(r, 16, FEATURES);
        NDArray kinds = classes(x), boxes = boxes(x), vKinds = classes(vx), vBoxes = boxes(vx);
        float[] sampleWeights = new float[N];
        for (int i = 0; i < N; i++) {
            sampleWeights[i] = 0.5f + (i % 3);
        }
        for (String setting : new String[] {"validation data", "validation data, two replicas", "split, weights",
                "split, weights, two replicas"}) {
            String[] devices = setting.contains("two replicas") ? new String[] {"cpu", "cpu"} : new String[] {"cpu"};
            boolean split = setting.startsWith("split");
            try (Model both = twoTowers().device(Device.cpu()).seed(3);
                 Model kind = kindTower().device(Device.cpu()).seed(4);
                 Model box = boxTower().device(Device.cpu()).seed(5)) {
                both.compile(new SGD(0.1), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()),
                        List.of(1.0, 0.5), Metric.ACCURACY, Metric.PRECISION, Metric.AUC);
                kind.compile(new SGD(0.1), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY, Metric.PRECISION,
                        Metric.AUC);
                box.compile(new SGD(0.05), Loss.meanSquaredError());
                startTowersAlike(both, kind, box);
                FitOptions forBoth = options(devices), forKind = options(devices), forBox = options(devices);
                if (split) {
                    forBoth.validationSplit(0.25).sampleWeight(sampleWeights);
                    forKind.validationSplit(0.25).sampleWeight(sampleWeights);
                    forBox.validationSplit(0.25).sampleWeight(sampleWeights);
                } else {
                    forBoth.validationData(List.of(vx), List.of(vKinds, vBoxes));
                    forKind.validationData(vx, vKinds);
                    forBox.validationData(vx, vBoxes);
                }
                History hBoth = both.fit(List.of(x), List.of(kinds, boxes), forBoth);
                History hKind = kind.fit(x, kinds, forKind);
                History hBox = box.fit(x, boxes, forBox);
                for (String prefix : new String[] {"", "val_"}) {
                    assertEquals(hKind.get(prefix + "loss"), hBoth.get(prefix + "kind_loss"), prefix + "kind_loss, "
                            + setting);
                    for (String metric : new String[] {"accuracy", "precision", "auc"}) {
                        assertEquals(hKind.get(prefix + metric), hBoth.get(prefix + "kind_" + metric), prefix
                                + "kind_" + metric + ", " + setting);
                    }
                    assertFalse(hBoth.history().containsKey(prefix + "box_precision"), "an error has no precision");
                    assertEquals(hBox.get(prefix + "loss"), hBoth.get(prefix + "box_loss"), prefix + "box_loss, "
                            + setting);
                    for (int e = 0; e < 3; e++) {
                        double total = hKind.get(prefix + "loss").get(e) + 0.5 * hBox.get(prefix + "loss").get(e);
                        assertEquals(total, hBoth.get(prefix + "loss").get(e), 1e-6, prefix + "loss, " + setting);
                    }
                    assertFalse(hBoth.history().containsKey(prefix + "box_accuracy"), "an error has no accuracy");
                    assertFalse(hBoth.history().containsKey(prefix + "accuracy"), "Keras names each output's");
                }
                assertSameWeights(both, kind, setting);
                assertSameWeights(both, box, setting);
            }
        }
    }

    /**
     * Sample weights per output (Keras' sample_weight as a list): the two towers, the classifier's samples weighted and
     * the regressor's left unweighted (a null entry), train exactly as the classifying tower with those weights and the
     * regressing tower without any, on one CPU and on two replicas, with a validation split. Weights applied to the
     * wrong output, or to both, would change the figures. A weight of 0 leaves a sample's label out of its output's
     * loss: a missing regression target (filled with a placeholder) changes nothing.
     */
    @Test
    void sampleWeightsPerOutputWeightEachOutputsLossAlone() {
        Random r = new Random(28);
        NDArray x = random(r, N, FEATURES);
        NDArray kinds = classes(x), boxes = boxes(x);
        float[] kindWeights = new float[N];
        float[] present = new float[N];
        float[] placeheld = boxes.data().clone();
        for (int i = 0; i < N; i++) {
            kindWeights[i] = 0.25f + (i % 4);
            present[i] = i % 5 == 0 ? 0 : 1; // every fifth sample's box is missing
            if (present[i] == 0) {
                placeheld[i * 2] = 7;
                placeheld[i * 2 + 1] = -7;
            }
        }
        NDArray missingBoxes = new NDArray(placeheld, N, 2);
        for (String[] devices : new String[][] {{"cpu"}, {"cpu", "cpu"}}) {
            String setting = devices.length + " device(s)";
            try (Model both = twoTowers().device(Device.cpu()).seed(3);
                 Model kind = kindTower().device(Device.cpu()).seed(4);
                 Model box = boxTower().device(Device.cpu()).seed(5)) {
                both.compile(new SGD(0.1), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()),
                        List.of(1.0, 0.5), Metric.ACCURACY);
                kind.compile(new SGD(0.1), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
                box.compile(new SGD(0.05), Loss.meanSquaredError());
                startTowersAlike(both, kind, box);
                java.util.ArrayList<float[]> weights = new java.util.ArrayList<>();
                weights.add(kindWeights);
                weights.add(null);
                History hBoth = both.fit(List.of(x), List.of(kinds, boxes),
                        options(devices).validationSplit(0.25).sampleWeights(weights));
                History hKind = kind.fit(x, kinds, options(devices).validationSplit(0.25).sampleWeight(kindWeights));
                History hBox = box.fit(x, boxes, options(devices).validationSplit(0.25));
                for (String prefix : new String[] {"", "val_"}) {
                    assertEquals(hKind.get(prefix + "loss"), hBoth.get(prefix + "kind_loss"), prefix + setting);
                    assertEquals(hKind.get(prefix + "accuracy"), hBoth.get(prefix + "kind_accuracy"), prefix + setting);
                    assertEquals(hBox.get(prefix + "loss"), hBoth.get(prefix + "box_loss"), prefix + setting);
                }
                assertSameWeights(both, kind, setting);
                assertSameWeights(both, box, setting);
            }
            try (Model placeholders = twoTowers().device(Device.cpu()).seed(3);
                 Model truth = twoTowers().device(Device.cpu()).seed(3)) {
                for (Model m : new Model[] {placeholders, truth}) {
                    m.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()));
                }
                placeholders.fit(List.of(x), List.of(kinds, missingBoxes),
                        options(devices).sampleWeights(java.util.Arrays.asList(null, present)));
                truth.fit(List.of(x), List.of(kinds, boxes),
                        options(devices).sampleWeights(java.util.Arrays.asList(null, present)));
                assertSameWeights(placeholders, truth, "placeholders weighted 0, " + setting);
            }
        }
    }

    /** What sampleWeights refuses: both forms at once, a weight array per output miscounted or of the wrong length. */
    @Test
    void sampleWeightsPerOutputAreCheckedAgainstTheModel() {
        Random r = new Random(29);
        NDArray x = random(r, 8, FEATURES);
        List<NDArray> labels = List.of(classes(x), boxes(x));
        float[] eight = new float[8];
        java.util.Arrays.fill(eight, 1f);
        try (Model m = twoTowers().device(Device.cpu())) {
            m.compile(new Adam(), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()));
            String both = assertThrows(IllegalArgumentException.class, () -> m.fit(List.of(x), labels,
                    FitOptions.defaults().verbose(false).sampleWeight(eight).sampleWeights(List.of(eight, eight))))
                    .getMessage();
            assertTrue(both.contains("received both"), both);
            String count = assertThrows(IllegalArgumentException.class, () -> m.fit(List.of(x), labels,
                    FitOptions.defaults().verbose(false).sampleWeights(List.of(eight)))).getMessage();
            assertTrue(count.contains("each of the model's 2 outputs [kind, box]") && count.contains("received 1"),
                    count);
            String length = assertThrows(IllegalArgumentException.class, () -> m.fit(List.of(x), labels,
                    FitOptions.defaults().verbose(false).sampleWeights(List.of(eight, new float[7])))).getMessage();
            assertTrue(length.contains("8 samples of output 2 (box), received 7"), length);
            String negative = assertThrows(IllegalArgumentException.class, () -> FitOptions.defaults()
                    .sampleWeights(List.of(eight, new float[] {1, -1}))).getMessage();
            assertTrue(negative.contains("received -1.0 for sample 1 of output 2"), negative);
        }
    }

    /** Builds the three models and gives each tower alone the two-tower model's weights. */
    private static void startTowersAlike(Model both, Model kind, Model box) {
        both.build();
        kind.build();
        box.build();
        copyWeightsByName(both, kind);
        copyWeightsByName(both, box);
    }

    private static FitOptions options(String[] devices) {
        return FitOptions.defaults().epochs(3).batchSize(16).seed(7).verbose(false).devices(devices);
    }

    /**
     * A shared trunk with a head whose loss weighs 0 trains exactly as the trunk with the other head alone (the
     * zero-weighted head's gradient adds exact zeros to the trunk's, and Adam leaves its weights as they were): the
     * gradients of both heads meet in the trunk's, so a head's gradient dropped or summed twice would show.
     */
    @Test
    void aHeadWeightedZeroLeavesTheSharedTrunkTrainingAsTheOtherHeadAlone() {
        Random r = new Random(22);
        NDArray x = random(r, N, FEATURES);
        NDArray kinds = classes(x), boxes = boxes(x);
        try (Model both = sharedTrunk().device(Device.cpu()).seed(3);
             Model kind = trunkAndKind().device(Device.cpu()).seed(4)) {
            both.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()),
                    List.of(1.0, 0.0));
            kind.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy());
            both.build();
            kind.build();
            copyWeightsByName(both, kind);
            int boxKernel = both.weightPaths().indexOf("box/kernel");
            float[] boxBefore = both.getWeights().get(boxKernel).data();
            History hBoth = both.fit(List.of(x), List.of(kinds, boxes), options(new String[] {"cpu"}));
            History hKind = kind.fit(x, kinds, options(new String[] {"cpu"}));
            assertEquals(hKind.get("loss"), hBoth.get("kind_loss"));
            assertEquals(hKind.get("loss"), hBoth.get("loss"), "a zero weight leaves the box loss out of the total");
            assertTrue(hBoth.get("box_loss").get(2) > 0, "the box loss is still reported");
            assertSameWeights(both, kind, "a zero weight");
            assertArrayEquals(boxBefore, both.getWeights().get(boxKernel).data(), 0f, "the box head stays");
        }
    }

    /**
     * Three heads (a regression, a softmax classifier, a sigmoid yes/no) on a regularized trunk, listed out of their
     * creation order and weighted 0.3, 2 and 0.7: the heads learn, and evaluate's figures are those computed from
     * predict's outputs (the mean squared error, the mean cross-entropy, the mean binary cross-entropy), the total
     * their weighted sum plus the trunk's L2 penalty, and each classifying head's accuracy; testOnBatch and
     * trainOnBatch report the same names, and the progress figures' accuracy is the first classifying output's.
     */
    @Test
    void evaluateReportsEachOutputsLossAsComputedFromPredict() {
        Random r = new Random(23);
        NDArray x = random(r, 40, FEATURES);
        List<NDArray> labels = List.of(boxes(x), classes(x), flags(x));
        try (Model m = threeHeads().device(Device.cpu()).seed(3)) {
            m.compile(new Adam(0.01), List.of(Loss.meanSquaredError(), Loss.sparseCategoricalCrossentropy(),
                    Loss.binaryCrossentropy()), List.of(0.3, 2.0, 0.7), Metric.ACCURACY, Metric.RECALL,
                    Metric.MEAN_ABSOLUTE_ERROR, Metric.ROOT_MEAN_SQUARED_ERROR);
            double[] firstAccuracy = new double[1];
            History h = m.fit(List.of(x), labels, FitOptions.defaults().epochs(4).batchSize(8).seed(1).verbose(false)
                    .callbacks(new dev.osprey.callbacks.Callback() {
                        @Override
                        public void onEpochEnd(int epoch, Map<String, Double> logs,
                                               dev.osprey.callbacks.Training training) {
                            if (epoch == 0) {
                                firstAccuracy[0] = training.accuracy();
                            }
                        }
                    }));
            assertEquals(h.get("kind_accuracy").get(0), firstAccuracy[0], 1e-6, "the first classifying output's");
            for (String head : new String[] {"box", "kind", "flag"}) {
                List<Double> loss = h.get(head + "_loss");
                assertTrue(loss.get(3) < loss.get(0), head + " learns: " + loss);
            }
            Map<String, Double> e = m.evaluate(List.of(x), labels, 16);
            assertEquals(List.of("loss", "box_loss", "kind_loss", "flag_loss", "kind_accuracy", "flag_accuracy",
                    "box_mae", "box_root_mean_squared_error", "kind_recall", "kind_mae",
                    "kind_root_mean_squared_error", "flag_recall", "flag_mae", "flag_root_mean_squared_error"),
                    List.copyOf(e.keySet()));
            List<NDArray> p = m.predict(List.of(x), 16);
            double squared = 0, crossEntropy = 0, binary = 0;
            double[] absolute = new double[3]; // per head, of what predict returns against one-hot or plain targets
            double[] squares = new double[3];
            int kindRight = 0, flagRight = 0;
            int[][] kindHits = new int[3][2], flagHits = new int[2][2]; // per true class: {right, samples}
            for (int i = 0; i < x.rows(); i++) {
                for (int k = 0; k < 2; k++) {
                    double d = p.get(0).data()[i * 2 + k] - labels.get(0).data()[i * 2 + k];
                    squared += d * d / 2;
                    absolute[0] += Math.abs(d);
                    squares[0] += d * d;
                }
                int c = (int) labels.get(1).data()[i];
                for (int k = 0; k < 3; k++) {
                    double d = p.get(1).data()[i * 3 + k] - (k == c ? 1 : 0);
                    absolute[1] += Math.abs(d);
                    squares[1] += d * d;
                }
                double flagError = p.get(2).data()[i] - labels.get(2).data()[i];
                absolute[2] += Math.abs(flagError);
                squares[2] += flagError * flagError;
                crossEntropy -= Math.log(p.get(1).data()[i * 3 + c]);
                int best = 0;
                for (int k = 1; k < 3; k++) {
                    best = p.get(1).data()[i * 3 + k] > p.get(1).data()[i * 3 + best] ? k : best;
                }
                kindRight += best == c ? 1 : 0;
                kindHits[c][0] += best == c ? 1 : 0;
                kindHits[c][1]++;
                double q = p.get(2).data()[i];
                float yes = labels.get(2).data()[i];
                binary -= yes * Math.log(q) + (1 - yes) * Math.log(1 - q);
                flagRight += (q > 0.5) == (yes > 0.5) ? 1 : 0;
                flagHits[yes > 0.5 ? 1 : 0][0] += (q > 0.5) == (yes > 0.5) ? 1 : 0;
                flagHits[yes > 0.5 ? 1 : 0][1]++;
            }
            int n = x.rows();
            double penalty = 0;
            for (float w : m.getWeights().get(m.weightPaths().indexOf("trunk/kernel")).data()) {
                penalty += 0.01 * w * w;
            }
            assertEquals(squared / n, e.get("box_loss"), 1e-5);
            assertEquals(crossEntropy / n, e.get("kind_loss"), 1e-5);
            assertEquals(binary / n, e.get("flag_loss"), 1e-5);
            assertEquals(0.3 * squared / n + 2 * crossEntropy / n + 0.7 * binary / n + penalty, e.get("loss"), 1e-5);
            assertTrue(penalty > 1e-3, "the penalty shows in the total: " + penalty);
            assertEquals(kindRight / (double) n, e.get("kind_accuracy"), 1e-9);
            assertEquals(flagRight / (double) n, e.get("flag_accuracy"), 1e-9);
            assertEquals(macroRecall(kindHits), e.get("kind_recall"), 1e-9);
            assertEquals(macroRecall(flagHits), e.get("flag_recall"), 1e-9);
            int[] widths = {2, 3, 1};
            String[] heads = {"box", "kind", "flag"};
            for (int o = 0; o < 3; o++) {
                double values = (double) n * widths[o];
                assertEquals(absolute[o] / values, e.get(heads[o] + "_mae"), 1e-5, heads[o] + " mae");
                assertEquals(Math.sqrt(squares[o] / values), e.get(heads[o] + "_root_mean_squared_error"), 1e-5,
                        heads[o] + " rmse");
            }
            assertEquals(e.get("box_loss"), Math.pow(e.get("box_root_mean_squared_error"), 2), 1e-5,
                    "a squared-error loss is the squared error's mean");
            Map<String, Double> test = m.testOnBatch(List.of(x), labels); // one batch of 40, not batches of 16
            assertEquals(e.keySet(), test.keySet());
            e.forEach((k, v) -> assertEquals(v, test.get(k), 1e-6, k));
            Map<String, Double> step = m.trainOnBatch(List.of(x), labels, null);
            assertEquals(e.keySet(), step.keySet());
            assertEquals(e.get("loss"), step.get("loss"), 1e-5, "trainOnBatch reports the loss before its update");
        }
    }

    /**
     * Metrics by output (Keras' {@code metrics={"kind": ["accuracy", "precision"], "box": ["mae"]}}): each output
     * reports its own alone, with the figures the same metrics give compiled for every output; the list form is the
     * same; a saved model and a copy keep them; a classification metric or accuracy asked of an error's output, and
     * an unknown output, are refused, naming what was expected.
     */
    @Test
    void metricsByOutputReportEachOutputsOwn(@TempDir Path dir) throws java.io.IOException {
        Random r = new Random(29);
        NDArray x = random(r, 40, FEATURES);
        List<NDArray> labels = List.of(boxes(x), classes(x), flags(x));
        Map<String, Loss> losses = Map.of("box", Loss.meanSquaredError(), "kind",
                Loss.sparseCategoricalCrossentropy(), "flag", Loss.binaryCrossentropy());
        Map<String, List<Metric>> byOutput = Map.of("kind", List.of(Metric.ACCURACY, Metric.PRECISION),
                "box", List.of(Metric.MEAN_ABSOLUTE_ERROR));
        try (Model m = threeHeads().device(Device.cpu()).seed(3)) {
            m.compile(new Adam(0.01), losses, Map.of("box", 0.5), byOutput);
            assertEquals(Map.of("box", java.util.Set.of(Metric.MEAN_ABSOLUTE_ERROR), "kind",
                    java.util.Set.of(Metric.ACCURACY, Metric.PRECISION), "flag", java.util.Set.of()),
                    m.metricsByOutput());
            History h = m.fit(List.of(x), labels, FitOptions.defaults().epochs(2).batchSize(8).seed(1).verbose(false)
                    .validationSplit(0.25));
            assertTrue(h.history().keySet().containsAll(List.of("kind_accuracy", "box_mae", "kind_precision",
                    "val_kind_accuracy", "val_box_mae", "val_kind_precision")), h.history().keySet().toString());
            assertFalse(h.history().containsKey("flag_accuracy") || h.history().containsKey("kind_mae"),
                    h.history().keySet().toString());
            Map<String, Double> e = m.evaluate(List.of(x), labels, 16);
            assertEquals(List.of("loss", "box_loss", "kind_loss", "flag_loss", "kind_accuracy", "box_mae",
                    "kind_precision"), List.copyOf(e.keySet()));
            Model all = m.copy(Device.cpu()); // the same weights, compiled with the metrics for every output
            try (all) {
                assertEquals(m.metricsByOutput(), all.metricsByOutput(), "a copy keeps them");
                all.compile(new Adam(0.01), losses, Map.of("box", 0.5), Metric.ACCURACY, Metric.PRECISION,
                        Metric.MEAN_ABSOLUTE_ERROR);
                assertEquals(null, all.metricsByOutput());
                Map<String, Double> every = all.evaluate(List.of(x), labels, 16);
                e.forEach((k, v) -> assertEquals(every.get(k), v, 1e-9, k));
                assertTrue(every.containsKey("flag_accuracy") && every.containsKey("kind_mae"), every.toString());
                all.compile(new Adam(0.01), List.of(Loss.meanSquaredError(), Loss.sparseCategoricalCrossentropy(),
                        Loss.binaryCrossentropy()), List.of(0.5, 1.0, 1.0), List.of(List.of(Metric.MEAN_ABSOLUTE_ERROR),
                        List.of(Metric.ACCURACY, Metric.PRECISION), List.of()));
                assertEquals(e, all.evaluate(List.of(x), labels, 16), "the list form");
            }
            Path file = dir.resolve("by-output.osprey");
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(m.metricsByOutput(), loaded.metricsByOutput());
                assertEquals(e, loaded.evaluate(List.of(x), labels, 16));
            }
            assertEquals(List.of("box", "kind", "flag"), m.outputNames());
            String json;
            byte[] weights;
            try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(file.toFile())) {
                json = new String(zip.getInputStream(zip.getEntry("model.json")).readAllBytes(),
                        java.nio.charset.StandardCharsets.UTF_8);
                weights = zip.getInputStream(zip.getEntry("weights.safetensors")).readAllBytes();
            }
            // readers from before metrics by output find every output's metrics where they always were
            assertTrue(json.contains("\"metrics\":[\"accuracy\",\"precision\",\"mae\"]"), json);
            Path hostile = dir.resolve("hostile.osprey");
            try (java.util.zip.ZipOutputStream zip = new java.util.zip.ZipOutputStream(java.nio.file.Files
                    .newOutputStream(hostile))) {
                zip.putNextEntry(new java.util.zip.ZipEntry("model.json"));
                zip.write(json.replace("\"metrics_by_output\":{\"box\"", "\"metrics_by_output\":{\"boxes\"")
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
                zip.putNextEntry(new java.util.zip.ZipEntry("weights.safetensors"));
                zip.write(weights);
            }
            Exception refused = assertThrows(Exception.class, () -> Model.load(hostile, Device.cpu()).close());
            assertTrue(String.valueOf(refused.getMessage()).contains("expected metrics_by_output to map the outputs' "
                    + "names [box, kind, flag]"), String.valueOf(refused.getMessage()));
            String precision = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(), losses, null,
                    Map.of("box", List.of(Metric.PRECISION)))).getMessage();
            assertTrue(precision.contains("expected a loss that classifies for output 'box' to report [precision], "
                    + "received mean_squared_error"), precision);
            String accuracy = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(), losses, null,
                    Map.of("box", List.of(Metric.ACCURACY)))).getMessage();
            assertTrue(accuracy.contains("for output 'box' to report [accuracy]"), accuracy);
            String unknown = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(), losses, null,
                    Map.of("boxes", List.of(Metric.MEAN_ABSOLUTE_ERROR)))).getMessage();
            assertTrue(unknown.contains("by the outputs' names [box, kind, flag], received 'boxes'"), unknown);
            assertEquals(Map.of("box", java.util.Set.of(Metric.MEAN_ABSOLUTE_ERROR), "kind",
                    java.util.Set.of(Metric.ACCURACY, Metric.PRECISION), "flag", java.util.Set.of()),
                    m.metricsByOutput(), "a refused compile keeps the model's metrics");
        }
    }

    /** The mean over classes with samples of each class's share of its samples predicted right. */
    private static double macroRecall(int[][] hits) {
        double sum = 0;
        int classes = 0;
        for (int[] h : hits) {
            if (h[1] > 0) {
                sum += h[0] / (double) h[1];
                classes++;
            }
        }
        return sum / classes;
    }

    /**
     * Steps with and without sample weights, in turn, on the same batch size reuse the plan's target rows of each
     * kind: the plan's memory stays as it was after the first of each.
     */
    @Test
    void weightedAndUnweightedStepsInTurnKeepThePlansMemory() {
        Random r = new Random(28);
        NDArray x = random(r, 16, FEATURES);
        float[] weights = new float[16];
        java.util.Arrays.fill(weights, 2f);
        try (Model m = sharedTrunk().device(Device.cpu()).seed(3)) {
            m.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()));
            m.trainOnBatch(List.of(x), List.of(classes(x), boxes(x)), null);
            m.trainOnBatch(List.of(x), List.of(classes(x), boxes(x)), weights);
            long bytes = m.planBytes();
            for (int i = 0; i < 4; i++) {
                Map<String, Double> unweighted = m.trainOnBatch(List.of(x), List.of(classes(x), boxes(x)), null);
                Map<String, Double> weighted = m.trainOnBatch(List.of(x), List.of(classes(x), boxes(x)), weights);
                assertTrue(weighted.get("loss") > unweighted.get("loss"), "weights of 2 about double the loss: "
                        + weighted + " after " + unweighted);
            }
            assertEquals(bytes, m.planBytes());
        }
    }

    /**
     * predict on models of several outputs whose outputs are read by a layer, are the same tensor as another, are an
     * activation's input and output, or are two activations and a view of one tensor (an activation left out passes
     * its input on): every output is what the model computes (its last softmax applied once, a reader given the
     * probabilities), as a model of that output alone predicts it.
     */
    @Test
    void outputsThatOtherLayersOrOutputsShareAreAllPredictedRight() {
        Random r = new Random(29);
        NDArray x = random(r, 5, FEATURES);
        Input in = Input.shape(FEATURES);
        SymbolicTensor probs = new Dense(3, Activation.SOFTMAX).apply(in);
        SymbolicTensor confidence = new Dense(1).apply(probs);
        SymbolicTensor logits = new Dense(3).apply(in);
        SymbolicTensor softmax = new dev.osprey.layers.Softmax().apply(logits);
        SymbolicTensor shared = new Dense(3).apply(in);
        SymbolicTensor sharedSoftmax = new dev.osprey.layers.Softmax().apply(shared);
        SymbolicTensor sharedSigmoid = new dev.osprey.layers.Activation(Activation.SIGMOID).apply(shared);
        SymbolicTensor sharedView = new dev.osprey.layers.Reshape(3, 1).apply(shared);
        List<SymbolicTensor> outputs = List.of(probs, confidence, probs, logits, softmax, sharedSoftmax, sharedSigmoid,
                sharedView);
        try (Model all = new Model(List.of(in), outputs).device(Device.cpu()).seed(3)) {
            List<NDArray> p = all.predict(List.of(x), 5);
            int output = 0;
            for (SymbolicTensor t : outputs) {
                try (Model alone = new Model(in, t).device(Device.cpu())) {
                    alone.build();
                    copyWeightsByName(all, alone);
                    assertArrayEquals(alone.predict(x).data(), p.get(output).data(), 1e-6f, "output " + output);
                }
                output++;
            }
            float sum = 0;
            for (int k = 0; k < 3; k++) {
                sum += p.get(3).data()[k];
            }
            assertTrue(Math.abs(sum - 1) > 1e-3, "logits are not probabilities: " + sum);
        }
    }

    /**
     * A source whose labels are the first output's, with the other outputs' label arrays beside them
     * ({@link BatchSource#labelsSideBySide}), trains bit for bit as the arrays do; the samples' rows of the other
     * labels follow the shuffled batches (rows taken in order instead would change every figure).
     */
    @Test
    void aSourceOfEveryOutputsLabelsTrainsAsTheArraysDo() {
        Random r = new Random(26);
        NDArray x = random(r, N, FEATURES), vx = random(r, 16, FEATURES);
        try (Model arrays = sharedTrunk().device(Device.cpu()).seed(3);
             Model source = sharedTrunk().device(Device.cpu()).seed(3)) {
            for (Model m : List.of(arrays, source)) {
                m.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()),
                        List.of(1.0, 0.5), Metric.ACCURACY);
            }
            History h1 = arrays.fit(List.of(x), List.of(classes(x), boxes(x)), options(new String[] {"cpu"})
                    .validationData(List.of(vx), List.of(classes(vx), boxes(vx))));
            History h2 = source.fit(BatchSource.labelsSideBySide(new ArrayBatchSource(x, classes(x)), boxes(x)),
                    BatchSource.labelsSideBySide(new ArrayBatchSource(vx, classes(vx)), boxes(vx)),
                    options(new String[] {"cpu"}));
            assertEquals(h1.history(), h2.history());
            for (int i = 0; i < arrays.getWeights().size(); i++) {
                assertArrayEquals(arrays.getWeights().get(i).data(), source.getWeights().get(i).data(), 0f);
            }
            String few = assertThrows(IllegalArgumentException.class, () -> source.fit(
                    new ArrayBatchSource(x, classes(x)), null, FitOptions.defaults().verbose(false))).getMessage();
            assertTrue(few.contains("label rows of 3 values") && few.contains("received rows of 1"), few);
            String box = assertThrows(IllegalArgumentException.class, () -> source.fit(BatchSource.labelsSideBySide(
                    new ArrayBatchSource(x, classes(x)), classes(x)), null, FitOptions.defaults().verbose(false)))
                    .getMessage();
            assertTrue(box.contains("labels of output 2 (box)"), box);
        }
        try (Model one = trunkAndKind().device(Device.cpu())) {
            one.compile(new Adam(), Loss.sparseCategoricalCrossentropy());
            String e = assertThrows(IllegalArgumentException.class, () -> one.fit(BatchSource.labelsSideBySide(
                    new ArrayBatchSource(x, classes(x)), boxes(x)), null, FitOptions.defaults().verbose(false)))
                    .getMessage();
            assertTrue(e.contains("received a source of 2 outputs' labels"), e);
        }
    }

    /**
     * bf16 mixed precision (where the CPU has bf16 kernels) trains a model of several outputs as fp32 does, within
     * bf16's rounding: each output's loss after the same epochs within 5% of fp32's.
     */
    @Test
    void bf16TrainsEachOutputAsFp32Does() {
        try (Model probe = sharedTrunk().device(Device.cpu())) {
            org.junit.jupiter.api.Assumptions.assumeTrue(
                    probe.backend().trainingUnavailable(dev.osprey.Precision.BF16) == null,
                    () -> probe.backend().trainingUnavailable(dev.osprey.Precision.BF16));
        }
        Random r = new Random(27);
        NDArray x = random(r, N, FEATURES);
        Map<MixedPrecision, History> runs = new HashMap<>();
        for (MixedPrecision policy : new MixedPrecision[] {MixedPrecision.FLOAT32, MixedPrecision.BFLOAT16}) {
            try (Model m = sharedTrunk().device(Device.cpu()).seed(3)) {
                m.mixedPrecision(policy);
                m.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()),
                        List.of(1.0, 0.5), Metric.ACCURACY);
                assertEquals(policy, m.mixedPrecision());
                runs.put(policy, m.fit(List.of(x), List.of(classes(x), boxes(x)), options(new String[] {"cpu"})));
            }
        }
        for (String figure : new String[] {"kind_loss", "box_loss", "loss"}) {
            double fp32 = runs.get(MixedPrecision.FLOAT32).get(figure).get(2);
            double bf16 = runs.get(MixedPrecision.BFLOAT16).get(figure).get(2);
            assertEquals(fp32, bf16, 0.05 * fp32, figure);
        }
    }

    /**
     * Two heads on one tensor, a softmax layer trained with the cross-entropy (which applies the softmax itself) and a
     * sigmoid layer trained with the squared error (which takes the sigmoid's output): evaluate's figures are those of
     * predict's outputs, though the softmax layer passes the shared tensor on in its plans.
     */
    @Test
    void headsOnOneTensorEvaluateAsPredictSaysTheyShould() {
        Random r = new Random(30);
        NDArray x = random(r, 12, FEATURES);
        Input in = Input.shape(FEATURES);
        SymbolicTensor shared = new Dense(3).apply(in);
        SymbolicTensor kind = new dev.osprey.layers.Softmax().name("kind").apply(shared);
        SymbolicTensor gate = new dev.osprey.layers.Activation(Activation.SIGMOID).name("gate").apply(shared);
        NDArray gates = new NDArray(new float[12 * 3], 12, 3);
        for (int i = 0; i < gates.data().length; i++) {
            gates.data()[i] = (i % 3) * 0.4f;
        }
        try (Model m = new Model(List.of(in), List.of(kind, gate)).device(Device.cpu()).seed(3)) {
            m.compile(new Adam(), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()));
            Map<String, Double> e = m.evaluate(List.of(x), List.of(classes(x), gates), 12);
            List<NDArray> p = m.predict(List.of(x), 12);
            double crossEntropy = 0, squared = 0;
            for (int i = 0; i < 12; i++) {
                crossEntropy -= Math.log(p.get(0).data()[i * 3 + (int) classes(x).data()[i]]);
                for (int k = 0; k < 3; k++) {
                    double d = p.get(1).data()[i * 3 + k] - gates.data()[i * 3 + k];
                    squared += d * d / 3;
                }
            }
            assertEquals(crossEntropy / 12, e.get("kind_loss"), 1e-5);
            assertEquals(squared / 12, e.get("gate_loss"), 1e-5);
        }
    }

    /**
     * A model of several outputs saved and loaded keeps its losses and their weights, and trains on as the model it was
     * saved from does.
     */
    @Test
    void savedAndLoadedKeepsEachOutputsLossAndWeight(@TempDir Path dir) throws java.io.IOException {
        Random r = new Random(24);
        NDArray x = random(r, 16, FEATURES);
        try (Model m = sharedTrunk().device(Device.cpu()).seed(3)) {
            List<Loss> losses = List.of(Loss.sparseCategoricalCrossentropy().labelSmoothing(0.1),
                    Loss.meanAbsoluteError());
            m.compile(new Adam(0.01), losses, List.of(0.3, 3.0), Metric.ACCURACY);
            List<NDArray> labels = List.of(classes(x), boxes(x));
            m.fit(List.of(x), labels, FitOptions.defaults().epochs(1).verbose(false));
            Path file = dir.resolve("two-heads.osprey");
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(m.losses().toString(), loaded.losses().toString());
                assertEquals(List.of(0.3, 3.0), loaded.lossWeights());
                assertEquals(m.evaluate(List.of(x), labels, 16), loaded.evaluate(List.of(x), labels, 16));
                FitOptions more = FitOptions.defaults().epochs(2).batchSize(4).seed(9).verbose(false);
                assertEquals(m.fit(List.of(x), labels, more).history(), loaded.fit(List.of(x), labels, more).history());
            }
        }
    }

    /**
     * A model of one output compiled with a list of one loss trains exactly as with the loss itself, reports one loss
     * of weight 1, refuses another weight, and is saved in the format of one loss (version 2); a model of several
     * losses is saved as version 3.
     */
    @Test
    void aListOfOneLossIsTheLossItself(@TempDir Path dir) throws java.io.IOException {
        Random r = new Random(31);
        NDArray x = random(r, N, FEATURES);
        Map<String, History> runs = new HashMap<>();
        for (String how : new String[] {"loss", "list"}) {
            try (Model m = trunkAndKind().device(Device.cpu()).seed(3)) {
                if (how.equals("loss")) {
                    m.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
                } else {
                    m.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy()), Metric.ACCURACY);
                }
                assertEquals(List.of(Loss.sparseCategoricalCrossentropy().toString()),
                        m.losses().stream().map(Loss::toString).toList());
                assertEquals(List.of(1.0), m.lossWeights());
                runs.put(how, m.fit(x, classes(x), options(new String[] {"cpu"})));
                String weighted = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(),
                        List.of(Loss.sparseCategoricalCrossentropy()), List.of(0.5))).getMessage();
                assertTrue(weighted.contains("expected a loss weight of 1") && weighted.contains("received 0.5"),
                        weighted);
                m.save(dir.resolve(how + ".osprey"));
                assertEquals(2, savedVersion(dir.resolve(how + ".osprey")));
            }
        }
        assertEquals(runs.get("loss").history(), runs.get("list").history());
        try (Model two = sharedTrunk().device(Device.cpu())) {
            two.compile(new Adam(), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()));
            two.build();
            two.save(dir.resolve("two.osprey"));
            assertEquals(3, savedVersion(dir.resolve("two.osprey")));
        }
    }

    /** The format version in a model file's model.json. */
    private static int savedVersion(Path file) throws java.io.IOException {
        try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(file.toFile())) {
            String json = new String(zip.getInputStream(zip.getEntry("model.json")).readAllBytes(),
                    java.nio.charset.StandardCharsets.UTF_8);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"version\"\\s*:\\s*(\\d+)").matcher(json);
            assertTrue(m.find(), json);
            return Integer.parseInt(m.group(1));
        }
    }

    /**
     * A model of two inputs and two outputs trains from a source of both inputs' rows and both outputs' labels
     * ({@link BatchSource#labelsSideBySide} around {@link BatchSource#sideBySide}, or the other way round) as from the
     * arrays, bit for bit.
     */
    @Test
    void aSourceOfSeveralInputsAndOutputsTrainsAsTheArraysDo() {
        Random r = new Random(32);
        NDArray x = random(r, N, FEATURES), extra = random(r, N, 2);
        Input in = Input.shape(FEATURES).name("x");
        Input side = Input.shape(2).name("side");
        SymbolicTensor hidden = new Dense(8, Activation.RELU).name("trunk").apply(
                new dev.osprey.layers.Concatenate().apply(in, side));
        java.util.function.Supplier<Model> model = () -> new Model(List.of(in, side), List.of(
                new Dense(3, Activation.SOFTMAX).name("kind").apply(hidden), new Dense(2).name("box").apply(hidden)));
        Map<String, History> runs = new java.util.LinkedHashMap<>();
        for (String how : new String[] {"arrays", "labels around inputs", "inputs around labels"}) {
            try (Model m = model.get().device(Device.cpu()).seed(3)) {
                m.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()),
                        List.of(1.0, 0.5), Metric.ACCURACY);
                FitOptions options = options(new String[] {"cpu"});
                runs.put(how, switch (how) {
                    case "arrays" -> m.fit(List.of(x, extra), List.of(classes(x), boxes(x)), options);
                    case "labels around inputs" -> m.fit(BatchSource.labelsSideBySide(BatchSource.sideBySide(
                            new ArrayBatchSource(x, classes(x)), extra), boxes(x)), null, options);
                    default -> m.fit(BatchSource.sideBySide(BatchSource.labelsSideBySide(
                            new ArrayBatchSource(x, classes(x)), boxes(x)), extra), null, options);
                });
            }
        }
        assertEquals(runs.get("arrays").history(), runs.get("labels around inputs").history());
        assertEquals(runs.get("arrays").history(), runs.get("inputs around labels").history());
    }

    /**
     * While one thread fits a model of several outputs, the calls of several outputs from another thread are refused at
     * once with the reason (none waits for the fit to end).
     */
    @Test
    void callsOfSeveralOutputsFromAnotherThreadDuringFitAreRefusedAtOnce() throws Exception {
        Random r = new Random(33);
        NDArray x = random(r, N, FEATURES);
        List<NDArray> labels = List.of(classes(x), boxes(x));
        try (Model m = sharedTrunk().device(Device.cpu()).seed(3)) {
            m.compile(new Adam(), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()));
            java.util.concurrent.CountDownLatch inFit = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            dev.osprey.callbacks.Callback hold = new dev.osprey.callbacks.Callback() {
                @Override
                public void onBatchEnd(int batch, dev.osprey.callbacks.Training training) {
                    if (batch == 0) {
                        inFit.countDown();
                        try {
                            release.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }
            };
            java.util.concurrent.CompletableFuture<History> fit = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> m.fit(List.of(x), labels, FitOptions.defaults().epochs(1).batchSize(16).verbose(false)
                            .callbacks(hold)));
            try {
                assertTrue(inFit.await(60, java.util.concurrent.TimeUnit.SECONDS));
                List<org.junit.jupiter.api.function.Executable> calls = List.of(
                        () -> m.fit(List.of(x), labels, FitOptions.defaults().verbose(false)),
                        () -> m.trainOnBatch(List.of(x), labels, null),
                        () -> m.evaluate(List.of(x), labels, 16),
                        () -> m.testOnBatch(List.of(x), labels),
                        () -> m.fit(BatchSource.labelsSideBySide(new ArrayBatchSource(x, classes(x)), boxes(x)), null,
                                FitOptions.defaults().verbose(false)),
                        () -> m.profileTraining(List.of(x), classes(x), 1),
                        () -> m.compile(new Adam(), Map.of("kind", Loss.sparseCategoricalCrossentropy(), "box",
                                Loss.meanSquaredError()), null),
                        () -> m.fit(Map.of("x", x), Map.of("kind", classes(x), "box", boxes(x)),
                                FitOptions.defaults().verbose(false)),
                        () -> m.evaluate(Map.of("x", x), Map.of("kind", classes(x), "box", boxes(x)), 16),
                        () -> m.predict(Map.of("x", x), 16));
                // each on a thread of its own, so that one that waited for the fit would show as a timeout here
                for (org.junit.jupiter.api.function.Executable call : calls) {
                    Throwable thrown = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                        try {
                            call.execute();
                            return null;
                        } catch (Throwable t) {
                            return t;
                        }
                    }).get(60, java.util.concurrent.TimeUnit.SECONDS);
                    assertTrue(thrown instanceof IllegalStateException
                            && thrown.getMessage().contains("the model is training"), String.valueOf(thrown));
                }
            } finally {
                release.countDown();
            }
            assertEquals(1, fit.get(60, java.util.concurrent.TimeUnit.SECONDS).epochs());
        }
    }

    /**
     * Losses and weights by output name (Keras' dicts) train as the lists in output order do, an output without a
     * weight weighing 1; and a model of one input takes its array without a list (Keras' {@code fit(x, [ya, yb])}).
     */
    @Test
    void lossesByNameAndOneInputWithoutAListTrainAsTheLists() {
        Random r = new Random(34);
        NDArray x = random(r, N, FEATURES);
        List<NDArray> labels = List.of(classes(x), boxes(x));
        Map<String, History> runs = new HashMap<>();
        Map<String, Map<String, Double>> evaluated = new HashMap<>();
        for (String how : new String[] {"lists", "names"}) {
            try (Model m = sharedTrunk().device(Device.cpu()).seed(3)) {
                if (how.equals("lists")) {
                    m.compile(new Adam(0.01), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()),
                            List.of(1.0, 0.5), Metric.ACCURACY);
                    runs.put(how, m.fit(List.of(x), labels, options(new String[] {"cpu"})));
                    evaluated.put(how, m.evaluate(List.of(x), labels, 16));
                } else {
                    m.compile(new Adam(0.01), Map.of("box", Loss.meanSquaredError(), "kind",
                            Loss.sparseCategoricalCrossentropy()), Map.of("box", 0.5), Metric.ACCURACY);
                    assertEquals(List.of(1.0, 0.5), m.lossWeights());
                    runs.put(how, m.fit(x, labels, options(new String[] {"cpu"})));
                    evaluated.put(how, m.evaluate(x, labels, 16));
                    assertEquals(evaluated.get(how).keySet(), m.testOnBatch(x, labels).keySet());
                    assertEquals(evaluated.get(how).keySet(), m.trainOnBatch(x, labels, null).keySet());
                    String unknown = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(),
                            Map.of("kind", Loss.sparseCategoricalCrossentropy(), "boxes", Loss.meanSquaredError()),
                            null)).getMessage();
                    assertTrue(unknown.contains("[kind, box]") && unknown.contains("received 'boxes'"), unknown);
                    String missing = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(),
                            Map.of("kind", Loss.sparseCategoricalCrossentropy()), null)).getMessage();
                    assertTrue(missing.contains("received none for 'box'"), missing);
                }
            }
        }
        assertEquals(runs.get("lists").history(), runs.get("names").history());
        assertEquals(evaluated.get("lists"), evaluated.get("names"));
        Input in = Input.shape(FEATURES);
        Dense head = new Dense(2).name("head");
        try (Model twice = new Model(List.of(in), List.of(head.apply(in), head.apply(
                new Dense(FEATURES).name("other").apply(in)))).device(Device.cpu())) { // one layer, two outputs
            twice.compile(new Adam(), Map.of("head", Loss.meanSquaredError(), "head_2", Loss.meanAbsoluteError()),
                    Map.of("head_2", 0.25));
            assertEquals(List.of("mean_squared_error", "mean_absolute_error"),
                    twice.losses().stream().map(Loss::name).toList());
            assertEquals(List.of(1.0, 0.25), twice.lossWeights());
            String counted = assertThrows(IllegalArgumentException.class, () -> twice.compile(new Adam(),
                    List.of(Loss.meanSquaredError(), Loss.meanSquaredError()), Metric.PRECISION)).getMessage();
            assertTrue(counted.contains("expected an output whose loss classifies"), counted);
            twice.compile(new Adam(), List.of(Loss.meanSquaredError(), Loss.meanAbsoluteError()),
                    Metric.MEAN_ABSOLUTE_ERROR, Metric.MEAN_SQUARED_ERROR); // errors need no classes
            assertEquals(java.util.Set.of(Metric.MEAN_ABSOLUTE_ERROR, Metric.MEAN_SQUARED_ERROR), twice.metrics());
        }
    }

    /** Wrong settings and wrong arrays get messages that say what was expected. */
    @Test
    void wrongLossesAndLabelsAreRefusedWithWhatWasExpected() {
        Random r = new Random(25);
        NDArray x = random(r, 8, FEATURES);
        try (Model m = sharedTrunk().device(Device.cpu())) {
            String one = assertThrows(IllegalArgumentException.class,
                    () -> m.compile(new Adam(), Loss.sparseCategoricalCrossentropy())).getMessage();
            assertTrue(one.contains("2 outputs") && one.contains("one loss per output")
                    && one.contains("received one loss"), one);
            String count = assertThrows(IllegalArgumentException.class,
                    () -> m.compile(new Adam(), List.of(Loss.meanSquaredError()))).getMessage();
            assertTrue(count.contains("2 outputs"), count);
            String weights = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(),
                    List.of(Loss.meanSquaredError(), Loss.meanSquaredError()), List.of(1.0, -1.0))).getMessage();
            assertTrue(weights.contains(">= 0"), weights);
            String mismatch = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(),
                    List.of(Loss.meanSquaredError(), Loss.sparseCategoricalCrossentropy()))).getMessage();
            assertTrue(mismatch.contains("output 2 (box)") && mismatch.contains("softmax"), mismatch);

            m.compile(new Adam(), List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()));
            String single = assertThrows(IllegalArgumentException.class, () -> m.fit(x, classes(x))).getMessage();
            assertTrue(single.contains("received a model of 2 outputs") && single.contains("one label array per output"),
                    single);
            String labels = assertThrows(IllegalArgumentException.class,
                    () -> m.fit(List.of(x), List.of(classes(x)), FitOptions.defaults())).getMessage();
            assertTrue(labels.contains("expected 2 label arrays") && labels.contains("received 1"), labels);
            String width = assertThrows(IllegalArgumentException.class,
                    () -> m.fit(List.of(x), List.of(classes(x), classes(x)), FitOptions.defaults())).getMessage();
            assertTrue(width.contains("output 2 (box)") && width.contains("rows of 1"), width);
            String classWeights = assertThrows(IllegalArgumentException.class, () -> m.fit(List.of(x),
                    List.of(classes(x), boxes(x)), FitOptions.defaults().verbose(false).classWeight(1, 1, 1)))
                    .getMessage();
            assertTrue(classWeights.contains("one output"), classWeights);
            String evaluate = assertThrows(IllegalArgumentException.class, () -> m.evaluate(x, classes(x)))
                    .getMessage();
            assertTrue(evaluate.contains("one label array per output"), evaluate);
        }
        Input in = Input.shape(FEATURES);
        SymbolicTensor a = new Dense(2, Activation.SOFTMAX).name("a").apply(in);
        SymbolicTensor b = new Dense(2).name("b").apply(in);
        SymbolicTensor sum = new Add().apply(a, b);
        try (Model readOutput = new Model(List.of(in), List.of(a, sum)).device(Device.cpu())) {
            String read = assertThrows(IllegalArgumentException.class, () -> readOutput.compile(new Adam(),
                    List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError()))).getMessage();
            assertTrue(read.contains("expected an output that other layers read to keep its activation")
                    && read.contains("received output 1 (a) read by [add]") && read.contains("Activation(\"softmax\")"),
                    read);
            readOutput.compile(new Adam(), List.of(Loss.meanSquaredError(), Loss.meanSquaredError()));
        }
    }

    /**
     * A hidden layer's output trained toward targets of its own while two heads read it (feature distillation: "feat"
     * matched to a teacher's features, weighted 0.7), trains exactly as the same layers where a linear activation
     * layer passes "feat" on as the output: its gradient is its loss's plus the heads', on one CPU and on two
     * replicas. Without its loss's share (the readers' gradients alone) or without theirs (the loss's alone), the
     * weights differ.
     */
    @Test
    void anOutputThatLayersReadTrainsOnItsLossAndTheirGradients() {
        Random r = new Random(27);
        NDArray x = random(r, N, FEATURES);
        NDArray teacher = random(r, N, 5);
        List<NDArray> labels = List.of(classes(x), boxes(x), teacher);
        List<Loss> losses = List.of(Loss.sparseCategoricalCrossentropy(), Loss.meanSquaredError(),
                Loss.meanSquaredError());
        List<Double> weights = List.of(1.0, 0.5, 0.7);
        for (String[] devices : new String[][] {{"cpu"}, {"cpu", "cpu"}, {"relu"}}) {
            boolean relu = devices[0].equals("relu");
            if (relu) {
                devices = new String[] {"cpu"};
            }
            try (Model read = distilled(false, relu).device(Device.cpu()).seed(3);
                 Model passedOn = distilled(true, relu).device(Device.cpu()).seed(4)) {
                read.compile(new SGD(0.1), losses, weights, Metric.ACCURACY);
                passedOn.compile(new SGD(0.1), losses, weights, Metric.ACCURACY);
                read.build();
                passedOn.build();
                copyWeightsByName(read, passedOn);
                History hRead = read.fit(List.of(x), labels, options(devices));
                History hPassedOn = passedOn.fit(List.of(x), labels, options(devices));
                String setting = devices.length + " device(s)" + (relu ? ", ReLU features" : "");
                assertEquals(hPassedOn.get("feat_out_loss"), hRead.get("feat_loss"), setting);
                assertEquals(hPassedOn.get("kind_loss"), hRead.get("kind_loss"), setting);
                assertEquals(hPassedOn.get("loss"), hRead.get("loss"), setting);
                assertSameWeights(read, passedOn, setting);
            }
        }
    }

    /**
     * "feat" (5 linear features) read by two heads, "kind" (3 classes) and "aux" (2 values); the outputs are kind, aux
     * and feat (or, passedOn, a linear activation layer "feat_out" after it). Listed last, feat_out is the last call,
     * so its gradient is the first of feat's three, as feat's loss's is in the other model: the sums match bit for bit.
     * With relu, feat ends in a ReLU, whose gradient its last reader applies to the sum of feat's gradients.
     */
    private static Model distilled(boolean passedOn, boolean relu) {
        Input x = Input.shape(FEATURES).name("x");
        SymbolicTensor feat = new Dense(5, relu ? Activation.RELU : Activation.LINEAR).name("feat")
                .apply(new Dense(8, Activation.RELU).name("trunk").apply(x));
        SymbolicTensor kind = new Dense(3, Activation.SOFTMAX).name("kind").apply(feat);
        SymbolicTensor aux = new Dense(2).name("aux").apply(feat);
        SymbolicTensor first = passedOn
                ? new dev.osprey.layers.Activation(Activation.LINEAR).name("feat_out").apply(feat) : feat;
        return new Model(List.of(x), List.of(kind, aux, first));
    }

}
