package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.osprey.backend.Device;
import dev.osprey.backend.GpuTests;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * On the GPU, CUDA graphs and device-resident data change nothing but speed: 20 steps trained with both give the
 * weights of 20 steps launched op by op from copied batches. Strict fp32, so only summation order differs. A
 * replay that kept the recorded step's Adam step size or dropout seed would drift far outside the tolerance.
 */
class GpuGraphsTest {
    static final double TOLERANCE = 1e-4;

    static Sequential model(boolean dropout) {
        Sequential m = new Sequential(
                new Conv2D(4, 3, Activation.RELU).inputShape(8, 8, 1),
                new MaxPooling2D(2),
                new Flatten());
        if (dropout) {
            m.add(new Dropout(0.5));
        }
        m.add(new Dense(TrainingReproducibilityTest.CLASSES, Activation.SOFTMAX));
        return m.device(Device.cuda(0)).seed(3)
                .compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }

    @Test
    void graphsAndResidentDataTrainLikeOpByOpSteps() {
        compare(false);
    }

    @Test
    void dropoutGetsEachStepsSeedWhenReplayed() {
        compare(true);
    }

    @Test
    void predictionAndEvaluationReplayedFromGraphsEqualOpByOp() {
        GpuTests.requireOrSkip();
        NDArray[] d = TrainingReproducibilityTest.data();
        NDArray first = d[0].slice(0, 4);
        NDArray second = d[0].slice(4, 8);
        String previous = System.setProperty("osprey.cuda.graphs", "false");
        NDArray[] eager = new NDArray[2];
        java.util.Map<String, Double> eagerEvaluation;
        try (Sequential plain = model(true)) {
            eager[0] = plain.predict(first, 4);
            eager[1] = plain.predict(second, 4);
            eagerEvaluation = plain.evaluate(d[0], d[1], 4);
        } finally {
            restore("osprey.cuda.graphs", previous);
        }
        try (Sequential graphed = model(true)) {
            for (int round = 0; round < 3; round++) { // eager, captured, replayed; inputs change between calls
                assertClose(eager[0], graphed.predict(first, 4), "round " + round + ", first batch");
                assertClose(eager[1], graphed.predict(second, 4), "round " + round + ", second batch");
            }
            assertEquals("replaying a CUDA graph", graphed.inferenceGraphState(4));
            for (int round = 0; round < 3; round++) { // evaluation's forward pass and loss are recorded too
                java.util.Map<String, Double> evaluation = graphed.evaluate(d[0], d[1], 4);
                assertEquals(eagerEvaluation.get("loss"), evaluation.get("loss"), 1e-6, "evaluation loss");
                assertEquals(eagerEvaluation.get("accuracy"), evaluation.get("accuracy"), 1e-9, "evaluation accuracy");
            }
        }
    }

    private static void assertClose(NDArray expected, NDArray actual, String what) {
        for (int j = 0; j < expected.data().length; j++) {
            assertEquals(expected.data()[j], actual.data()[j], 1e-6, what + " [" + j + "]");
        }
    }

    private static void restore(String property, String previous) {
        if (previous == null) {
            System.clearProperty(property);
        } else {
            System.setProperty(property, previous);
        }
    }

    private static void compare(boolean dropout) {
        GpuTests.requireOrSkip();
        String previous = System.setProperty("osprey.cuda.tf32", "false");
        try {
            List<NDArray> fast = train(dropout, true);
            List<NDArray> plain = train(dropout, false);
            for (int i = 0; i < fast.size(); i++) {
                float[] a = fast.get(i).data();
                float[] b = plain.get(i).data();
                for (int j = 0; j < a.length; j++) {
                    assertEquals(b[j], a[j], TOLERANCE * Math.max(1, Math.abs(b[j])), "weights " + i + "[" + j + "]");
                }
            }
        } finally {
            restore("osprey.cuda.tf32", previous);
        }
    }

    private static List<NDArray> train(boolean dropout, boolean graphsAndResident) {
        NDArray[] d = TrainingReproducibilityTest.data(); // 16 samples: 4 steps of 4 per epoch, 20 steps in all
        try (Sequential model = model(dropout)) {
            model.fit(d[0], d[1], FitOptions.defaults().epochs(5).batchSize(4).verbose(false)
                    .stepGraphs(graphsAndResident).keepDataResident(graphsAndResident));
            if (graphsAndResident) {
                assertEquals("replaying a CUDA graph", model.stepGraphState(4));
            }
            return model.getWeights();
        }
    }
}
