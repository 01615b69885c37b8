package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Keras' sample_weight: each sample's loss and gradient scaled by its own weight, the mean still over the batch. */
class SampleWeightTest {
    private static final int N = 40;

    private static NDArray x() {
        return Datasets.fashionMnistSample().trainX().slice(0, N);
    }

    private static NDArray y() {
        return Datasets.fashionMnistSample().trainY().slice(0, N);
    }

    private static void assertSameWeights(Model expected, Model actual, float tolerance) {
        List<NDArray> a = expected.getWeights();
        List<NDArray> b = actual.getWeights();
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i).data(), b.get(i).data(), tolerance, "weight " + i);
        }
    }

    @Test
    void sampleWeightsOfEachSamplesClassTrainExactlyAsClassWeights() {
        double[] w = {1, 0, 3, 0.5, 0, 0, 2, 0, 1, 0.25};
        float[] perSample = new float[N];
        for (int i = 0; i < N; i++) {
            perSample[i] = (float) w[(int) y().data()[i]];
        }
        try (Sequential byClass = ClassWeightTest.model(0.05); Sequential bySample = ClassWeightTest.model(0.05)) {
            History hc = byClass.fit(x(), y(), ClassWeightTest.oneStep().batchSize(16).classWeight(w));
            History hs = bySample.fit(x(), y(), ClassWeightTest.oneStep().batchSize(16).sampleWeight(perSample));
            assertSameWeights(byClass, bySample, 0f);
            assertEquals(hc.last("loss"), hs.last("loss"), 0);
        }
    }

    @Test
    void sampleAndClassWeightsMultiply() {
        double[] w = {2, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        float[] half = new float[N];
        java.util.Arrays.fill(half, 0.5f);
        try (Sequential both = ClassWeightTest.model(0.05); Sequential byClass = ClassWeightTest.model(0.025)) {
            both.fit(x(), y(), ClassWeightTest.oneStep().classWeight(w).sampleWeight(half));
            byClass.fit(x(), y(), ClassWeightTest.oneStep().classWeight(w));
            assertSameWeights(byClass, both, 1e-7f);
        }
    }

    @Test
    void aSampleOfWeightZeroTeachesNothing() {
        float[] weights = new float[N];
        float[] otherLabels = y().data().clone();
        for (int i = 0; i < N; i++) {
            weights[i] = i % 3 == 0 ? 0f : 1f;
            if (weights[i] == 0f) {
                otherLabels[i] = (otherLabels[i] + 3) % 10; // wrong labels, weighted 0
            }
        }
        try (Sequential a = ClassWeightTest.model(0.05); Sequential b = ClassWeightTest.model(0.05)) {
            a.fit(x(), y(), ClassWeightTest.oneStep().epochs(2).sampleWeight(weights));
            b.fit(x(), new NDArray(otherLabels, N, 1), ClassWeightTest.oneStep().epochs(2).sampleWeight(weights));
            assertSameWeights(a, b, 0f);
        }
    }

    @Test
    void weightsFollowTheirSamplesThroughShufflingAndTheValidationSplit() {
        // Weight 0 on every sample of class 0, with the data shuffled and 25% held out: the trained weights must equal
        // those trained with class weight 0 for class 0, which cannot be confused about which sample is which.
        float[] weights = new float[N];
        for (int i = 0; i < N; i++) {
            weights[i] = y().data()[i] == 0 ? 0f : 1f;
        }
        double[] classWeights = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        FitOptions shuffled = ClassWeightTest.oneStep().shuffle(true).batchSize(8).epochs(2).validationSplit(0.25);
        try (Sequential a = ClassWeightTest.model(0.05); Sequential b = ClassWeightTest.model(0.05)) {
            History ha = a.fit(x(), y(), shuffled.sampleWeight(weights));
            History hb = b.fit(x(), y(), ClassWeightTest.oneStep().shuffle(true).batchSize(8).epochs(2)
                    .validationSplit(0.25).classWeight(classWeights));
            assertSameWeights(a, b, 0f);
            assertEquals(hb.last("val_loss"), ha.last("val_loss"), 0);
        }
    }

    @Test
    void trainOnBatchTakesSampleWeights() {
        float[] twos = new float[N];
        java.util.Arrays.fill(twos, 2f);
        try (Sequential weighted = ClassWeightTest.model(0.05); Sequential faster = ClassWeightTest.model(0.1)) {
            double lw = weighted.trainOnBatch(x(), y(), twos).get("loss");
            double lf = faster.trainOnBatch(x(), y()).get("loss");
            assertSameWeights(faster, weighted, 0f);
            assertEquals(2 * lf, lw, 1e-6);
        }
    }

    @Test
    void badSampleWeightsAreRefusedWithWhatWasExpected() {
        assertEquals("sampleWeight: expected finite weights >= 0, received -1.0 for sample 1",
                assertThrows(IllegalArgumentException.class, () -> FitOptions.defaults().sampleWeight(1, -1))
                        .getMessage());
        assertThrows(IllegalArgumentException.class, () -> FitOptions.defaults().sampleWeight(Float.NaN));
        try (Sequential m = ClassWeightTest.model(0.05)) {
            assertEquals("fit: expected one sample weight for each of the 40 samples, received 3",
                    assertThrows(IllegalArgumentException.class,
                            () -> m.fit(x(), y(), ClassWeightTest.oneStep().sampleWeight(1, 1, 1))).getMessage());
            LabeledData d = Datasets.fashionMnistSample();
            BatchSource source = new ArrayBatchSource(d.trainX().slice(0, 8), d.trainY().slice(0, 8));
            assertThrows(IllegalArgumentException.class,
                    () -> m.fit(source, null, ClassWeightTest.oneStep().sampleWeight(new float[8])));
        }
    }
}
