package dev.osprey.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Models;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The report's figures against values worked by hand on six fixed predictions, one class never seen. */
class ClassificationReportTest {
    /*
     * 4 classes; class 3 has no image. Scores (rows), labels and arg-max:
     *   0: [0.7, 0.2, 0.1, 0.0]  label 0 -> 0
     *   1: [0.4, 0.5, 0.1, 0.0]  label 0 -> 1
     *   2: [0.1, 0.8, 0.1, 0.0]  label 1 -> 1
     *   3: [0.3, 0.3, 0.4, 0.0]  label 1 -> 2  (class 1 ties class 0 at 0.3)
     *   4: [0.2, 0.1, 0.7, 0.0]  label 2 -> 2
     *   5: [0.1, 0.1, 0.2, 0.6]  label 2 -> 3
     * confusion: [[1,1,0,0],[0,1,1,0],[0,0,1,1],[0,0,0,0]]
     * precision: 0: 1/1, 1: 1/2, 2: 1/2, 3: 0/1; recall: 1/2 each for 0-2, class 3 none (NaN)
     * f1: 2tp/(pred+actual): 0: 2/3, 1: 2/4, 2: 2/4, 3: NaN
     * AUC class 0 (positives rows 0, 1: scores 0.7, 0.4; negatives 0.1, 0.3, 0.2, 0.1): every pair right -> 1
     * AUC class 1 (positives 0.8, 0.3; negatives 0.2, 0.5, 0.1, 0.1): 0.8 beats 4; 0.3 beats 0.2, 0.1, 0.1 -> 7/8
     * AUC class 2 (positives 0.7, 0.2; negatives 0.1, 0.1, 0.1, 0.4): 0.7 beats 4; 0.2 beats 3 -> 7/8
     * top-2: row 1 (0 is 2nd) yes, row 3 (label 1 ties 0 at 0.3 behind 0.4: one higher) yes, row 5 (2 is 2nd) yes:
     *   6/6; top-1 = accuracy 3/6.
     */
    static final float[] SCORES = {0.7f, 0.2f, 0.1f, 0f, 0.4f, 0.5f, 0.1f, 0f, 0.1f, 0.8f, 0.1f, 0f, 0.3f, 0.3f, 0.4f,
            0f, 0.2f, 0.1f, 0.7f, 0f, 0.1f, 0.1f, 0.2f, 0.6f};
    static final int[] LABELS = {0, 0, 1, 1, 2, 2};

    @Test
    void figuresMatchTheHandWorkedValues() {
        ClassificationReport r = ClassificationReport.of(SCORES, 4, LABELS, List.of("a", "b", "c", "d"));
        assertArrayEquals(new long[][] {{1, 1, 0, 0}, {0, 1, 1, 0}, {0, 0, 1, 1}, {0, 0, 0, 0}}, r.confusionMatrix());
        assertArrayEquals(new double[] {1, 0.5, 0.5, 0}, r.precision(), 1e-12);
        assertArrayEquals(new double[] {0.5, 0.5, 0.5, Double.NaN}, r.recall(), 1e-12);
        assertArrayEquals(new double[] {2.0 / 3, 0.5, 0.5, Double.NaN}, r.f1(), 1e-12);
        assertArrayEquals(new double[] {1, 7.0 / 8, 7.0 / 8, Double.NaN}, r.auc(), 1e-12);
        assertArrayEquals(new long[] {2, 2, 2, 0}, r.support());
        assertEquals(0.5, r.accuracy(), 1e-12);
        assertEquals(0.5, r.topKAccuracy(1), 1e-12);
        assertEquals(1.0, r.topKAccuracy(2), 1e-12);
        assertEquals((1 + 0.5 + 0.5 + 0) / 4, ClassificationReport.macro(r.precision()), 1e-12);
        assertEquals(0.5, ClassificationReport.macro(r.recall()), 1e-12); // the empty class is skipped
        assertEquals((2.0 / 3 + 1) / 3, ClassificationReport.macro(r.f1()), 1e-12);
        String table = r.toTable(2);
        assertTrue(table.contains("d") && table.contains("top-2 accuracy 1.0000"), table);
    }

    @Test
    void badInputIsAClearError() {
        assertThrows(IllegalArgumentException.class, () -> ClassificationReport.of(SCORES, 4, new int[] {0, 1}, null));
        assertThrows(IllegalArgumentException.class,
                () -> ClassificationReport.of(SCORES, 4, new int[] {0, 1, 2, 3, 4, 0}, null));
        assertThrows(IllegalArgumentException.class, () -> ClassificationReport.of(SCORES, 4, LABELS, List.of("a")));
    }

    @Test
    void aModelReportsOnItsOwnPredictions() {
        LabeledData d = Datasets.fashionMnistSample();
        try (Sequential model = Models.tutorialCnn()) {
            model.device(Device.cpu());
            model.classNames(Datasets.FASHION_MNIST_CLASSES);
            ClassificationReport r = model.classificationReport(d.testX().slice(0, 300), d.testY().slice(0, 300), 100);
            long total = 0;
            for (long s : r.support()) {
                total += s;
            }
            assertEquals(300, total);
            assertEquals(Datasets.FASHION_MNIST_CLASSES, r.classNames());
            assertEquals(r.accuracy(), r.topKAccuracy(1), 1e-12);
        }
    }
}
