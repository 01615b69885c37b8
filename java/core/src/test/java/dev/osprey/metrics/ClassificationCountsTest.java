package dev.osprey.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The backend's classification counts (CPU) against the host-side report computed from the same scores: confusion
 * matrix, macro precision, recall and F1, top-k, and AUC, which the histograms give exactly for scores rounded down to
 * their bins.
 */
class ClassificationCountsTest {
    private static final Backend CPU = Device.cpu().backend();

    private static float[] count(float[] scores, Activation.Kind kind, float[] targets, int rows, int width,
                                 int targetWidth, int k) {
        try (Memory m = CPU.newMemory()) {
            Tensor out = m.allocate(rows, width);
            CPU.copyIn(scores, 0, out);
            Tensor t = m.allocate(rows, targetWidth);
            CPU.copyIn(targets, 0, t);
            Tensor counts = m.allocate(ClassificationCounts.size(width));
            CPU.classificationCounts(out, kind, t, k, counts);
            CPU.classificationCounts(out, kind, t, k, counts); // counts accumulate: twice the same batch
            float[] v = new float[ClassificationCounts.size(width)];
            CPU.copyOut(counts, v, 0);
            return v;
        }
    }

    private static float[] rounded(float[] p) {
        float[] r = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            r[i] = Math.min((int) (p[i] * ClassificationCounts.BINS), ClassificationCounts.BINS - 1)
                    / (float) ClassificationCounts.BINS;
        }
        return r;
    }

    @Test
    void countsGiveTheReportsFiguresWithAnEmptyClass() {
        int rows = 300, classes = 6;
        Random r = new Random(4);
        float[] p = new float[rows * classes];
        float[] oneHot = new float[rows * classes];
        int[] labels = new int[rows];
        for (int i = 0; i < rows; i++) {
            labels[i] = r.nextInt(classes - 1); // class 5 never occurs
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                p[i * classes + c] = (float) Math.exp(2 * r.nextGaussian() + (c == labels[i] ? 1.5 : 0));
                sum += p[i * classes + c];
            }
            for (int c = 0; c < classes; c++) {
                p[i * classes + c] /= (float) sum;
            }
            oneHot[i * classes + labels[i]] = 1f;
        }
        ClassificationCounts counts = new ClassificationCounts(count(p, null, oneHot, rows, classes, classes, 2), classes);
        ClassificationReport report = ClassificationReport.of(p, classes, labels, null);
        ClassificationReport binned = ClassificationReport.of(rounded(p), classes, labels, null);
        assertEquals(2L * rows, counts.samples());
        long[][] twice = report.confusionMatrix();
        for (long[] row : twice) {
            for (int c = 0; c < row.length; c++) {
                row[c] *= 2;
            }
        }
        assertArrayEquals(twice, counts.confusionMatrix());
        assertEquals(report.accuracy(), counts.value(Metric.ACCURACY), 1e-12);
        assertEquals(ClassificationReport.macro(report.precision()), counts.value(Metric.PRECISION), 1e-12);
        assertEquals(ClassificationReport.macro(report.recall()), counts.value(Metric.RECALL), 1e-12);
        assertEquals(ClassificationReport.macro(report.f1()), counts.value(Metric.F1_SCORE), 1e-12);
        assertEquals(report.topKAccuracy(2), counts.value(Metric.TOP_K_CATEGORICAL_ACCURACY), 1e-12);
        double[] auc = counts.auc();
        assertTrue(Double.isNaN(auc[5]), "no sample of class 5: no AUC");
        for (int c = 0; c < 5; c++) {
            assertEquals(binned.auc()[c], auc[c], 1e-12, "AUC of class " + c + " on binned scores");
            assertEquals(report.auc()[c], auc[c], 0.01, "AUC of class " + c + " near the exact one");
        }
        assertEquals(ClassificationReport.macro(binned.auc()), counts.value(Metric.AUC), 1e-12);
    }

    @Test
    void softmaxIsAppliedToLogitsAndAWeightColumnIsIgnored() {
        int rows = 50, classes = 4;
        Random r = new Random(5);
        float[] logits = new float[rows * classes];
        float[] probabilities = new float[rows * classes];
        float[] weighted = new float[rows * (classes + 1)];
        float[] oneHot = new float[rows * classes];
        for (int i = 0; i < rows; i++) {
            int label = r.nextInt(classes);
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                logits[i * classes + c] = (float) r.nextGaussian();
                sum += Math.exp(logits[i * classes + c]);
            }
            for (int c = 0; c < classes; c++) {
                probabilities[i * classes + c] = (float) (Math.exp(logits[i * classes + c]) / sum);
            }
            oneHot[i * classes + label] = 1f;
            weighted[i * (classes + 1) + label] = 1f;
            weighted[i * (classes + 1) + classes] = 0.25f;
        }
        ClassificationCounts fromLogits = new ClassificationCounts(
                count(logits, Activation.Kind.SOFTMAX, weighted, rows, classes, classes + 1, 5), classes);
        ClassificationCounts fromProbabilities = new ClassificationCounts(
                count(probabilities, null, oneHot, rows, classes, classes, 5), classes);
        assertArrayEquals(fromProbabilities.confusionMatrix(), fromLogits.confusionMatrix());
        assertEquals(fromProbabilities.value(Metric.AUC), fromLogits.value(Metric.AUC), 0.02);
        assertEquals(1.0, fromLogits.value(Metric.TOP_K_CATEGORICAL_ACCURACY), 0, "k=5 of 4 classes: always a hit");
    }

    @Test
    void oneSigmoidOutputCountsAsTwoClasses() {
        float[] logits = {2f, -1f, 0.5f, -3f, 0.1f, -0.2f};
        float[] targets = {1, 0, 0, 0, 1, 1};
        ClassificationCounts c = new ClassificationCounts(
                count(logits, Activation.Kind.SIGMOID, targets, 6, 1, 1, 1), 1);
        // predicted 1 where the logit > 0: rows 0, 2, 4; true 1: rows 0, 4, 5
        assertArrayEquals(new long[][] {{4, 2}, {2, 4}}, c.confusionMatrix());
        assertEquals(2.0 / 3, c.value(Metric.PRECISION), 1e-12); // both classes: 4/6
        float[] p1 = new float[6];
        float[] both = new float[12];
        int[] labels = new int[6];
        for (int i = 0; i < 6; i++) {
            p1[i] = (float) (1 / (1 + Math.exp(-logits[i])));
            both[2 * i] = 1 - p1[i];
            both[2 * i + 1] = p1[i];
            labels[i] = (int) targets[i];
        }
        assertEquals(ClassificationReport.of(rounded(both), 2, labels, null).auc()[1], c.auc()[1], 1e-12);
    }

    @Test
    void errorsAreTakenOverEveryValueOfTheScoresAgainstTheTargets() {
        // 2 rows of 3 regression values, as they are; the weight column is not a target
        float[] y = {1f, 2f, 3f, -1f, 0.5f, 0f};
        float[] t = {1.5f, 2f, 1f, 9f, 1f, 0.5f, -3f, 9f};
        ClassificationCounts c = new ClassificationCounts(count(y, null, t, 2, 3, 4, 1), 3);
        // errors -0.5, 0, 2, -2, 0, 3: |.| sums to 7.5, squares to 0.25 + 4 + 4 + 9 = 17.25, over 6 values
        assertEquals(7.5 / 6, c.value(Metric.MEAN_ABSOLUTE_ERROR), 1e-7);
        assertEquals(17.25 / 6, c.value(Metric.MEAN_SQUARED_ERROR), 1e-7);
        assertEquals(Math.sqrt(17.25 / 6), c.value(Metric.ROOT_MEAN_SQUARED_ERROR), 1e-7);
        // softmax scores of logits ln 1, ln 3 (0.25, 0.75) against one-hot [0, 1]: errors 0.25, 0.25
        float ln3 = (float) Math.log(3);
        ClassificationCounts softmax = new ClassificationCounts(
                count(new float[] {0f, ln3}, Activation.Kind.SOFTMAX, new float[] {0f, 1f}, 1, 2, 2, 1), 2);
        assertEquals(0.25, softmax.value(Metric.MEAN_ABSOLUTE_ERROR), 1e-6);
        assertEquals(0.0625, softmax.value(Metric.MEAN_SQUARED_ERROR), 1e-6);
        // one sigmoid output: its score s = sigmoid(ln 3) = 0.75 against its target, not the two classes' scores
        ClassificationCounts binary = new ClassificationCounts(
                count(new float[] {ln3, -ln3}, Activation.Kind.SIGMOID, new float[] {1f, 1f}, 2, 1, 1, 1), 1);
        assertEquals((0.25 + 0.75) / 2, binary.value(Metric.MEAN_ABSOLUTE_ERROR), 1e-6);
        assertEquals((0.0625 + 0.5625) / 2, binary.value(Metric.MEAN_SQUARED_ERROR), 1e-6);
        assertTrue(Metric.MEAN_ABSOLUTE_ERROR.fromCounts() && !Metric.MEAN_ABSOLUTE_ERROR.classifies());
        assertEquals(Metric.MEAN_ABSOLUTE_ERROR, Metric.of("mean_absolute_error"));
        assertEquals(Metric.MEAN_SQUARED_ERROR, Metric.of("MeanSquaredError"));
        assertEquals(Metric.ROOT_MEAN_SQUARED_ERROR, Metric.of("RootMeanSquaredError"));
        assertEquals(Metric.ROOT_MEAN_SQUARED_ERROR, Metric.of("rmse"));
    }

    @Test
    void noSamplesGiveNaNAndBadCallsSayWhatWasExpected() {
        ClassificationCounts empty = new ClassificationCounts(new float[ClassificationCounts.size(3)], 3);
        for (Metric m : Metric.values()) {
            assertTrue(Double.isNaN(empty.value(m)), m + " of nothing");
        }
        assertThrows(IllegalArgumentException.class, () -> new ClassificationCounts(new float[5], 3));
        try (Memory m = CPU.newMemory()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.classificationCounts(
                    m.allocate(2, 3), Activation.Kind.RELU, m.allocate(2, 3), 1, m.allocate(ClassificationCounts.size(3))));
            assertEquals("classificationCounts: expected scores through softmax, sigmoid or as they are, received RELU",
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> CPU.classificationCounts(
                    m.allocate(2, 3), null, m.allocate(2, 3), 1, m.allocate(7)));
        }
    }
}
