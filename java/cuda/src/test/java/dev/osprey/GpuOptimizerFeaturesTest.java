package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.backend.GpuTests;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * On the GPU, the training toolkit's later settings against what they promise, computed on the host from the GPU's
 * own results (the bundle carries no CPU backend): gradients accumulated over 2 batches of 4 train as batches of 8;
 * the moving average of the weights (useEma) is the average of the weights after each step; mae and mse are those of
 * predict's outputs; accuracy and precision come from the classification counts on the device.
 */
class GpuOptimizerFeaturesTest {
    private static final int FEATURES = 6;
    private static final double TOLERANCE = GpuTrainingTest.TF32_TOLERANCE;

    private static NDArray[] data(int rows, long seed) {
        Random r = new Random(seed);
        float[] x = new float[rows * FEATURES];
        float[] y = new float[rows];
        for (int i = 0; i < rows; i++) {
            y[i] = i % 3;
            for (int f = 0; f < FEATURES; f++) {
                x[i * FEATURES + f] = (float) r.nextGaussian() + (f % 3 == y[i] ? 1f : 0f);
            }
        }
        return new NDArray[] {new NDArray(x, rows, FEATURES), new NDArray(y, rows)};
    }

    private static Sequential model(dev.osprey.optim.Optimizer optimizer) {
        return (Sequential) new Sequential(new Dense(8, Activation.RELU).inputShape(FEATURES),
                new Dense(3, Activation.SOFTMAX)).device(Device.cuda(0)).seed(4)
                .compile(optimizer, Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY, Metric.PRECISION,
                        Metric.MEAN_ABSOLUTE_ERROR, Metric.MEAN_SQUARED_ERROR);
    }

    private static void assertClose(List<NDArray> expected, List<NDArray> actual, String what) {
        for (int w = 0; w < expected.size(); w++) {
            float[] e = expected.get(w).data();
            float[] a = actual.get(w).data();
            for (int i = 0; i < e.length; i++) {
                assertEquals(e[i], a[i], TOLERANCE * Math.max(1, Math.abs(e[i])), what + " weight " + w + "[" + i + "]");
            }
        }
    }

    @Test
    void accumulatedGradientsTrainAsTheLargerBatch() {
        GpuTests.requireOrSkip();
        NDArray[] d = data(16, 1);
        try (Sequential grouped = model(new Adam(0.01).gradientAccumulationSteps(2));
             Sequential whole = model(new Adam(0.01))) {
            for (int step = 0; step < 2; step++) {
                for (int half = 0; half < 2; half++) {
                    int from = step * 8 + half * 4;
                    grouped.trainOnBatch(d[0].slice(from, from + 4), d[1].slice(from, from + 4));
                }
                whole.trainOnBatch(d[0].slice(step * 8, step * 8 + 8), d[1].slice(step * 8, step * 8 + 8));
            }
            assertClose(whole.getWeights(), grouped.getWeights(), "2 accumulated batches of 4");
        }
    }

    @Test
    void theMovingAverageIsTheAverageOfTheWeightsAfterEachStep() {
        GpuTests.requireOrSkip();
        NDArray[] d = data(16, 2);
        try (Sequential m = model(new Adam(0.05).useEma(0.5))) {
            List<float[]> average = null;
            for (int step = 0; step < 4; step++) {
                m.trainOnBatch(d[0].slice(step * 4, step * 4 + 4), d[1].slice(step * 4, step * 4 + 4));
                List<NDArray> w = m.getWeights(); // the trained weights: the average takes their place at the end
                if (average == null) { // the first step copies the weights
                    average = new ArrayList<>();
                    for (NDArray a : w) {
                        average.add(a.data().clone());
                    }
                    continue;
                }
                for (int k = 0; k < w.size(); k++) {
                    float[] a = average.get(k);
                    float[] v = w.get(k).data();
                    for (int i = 0; i < a.length; i++) {
                        a[i] = 0.5f * a[i] + 0.5f * v[i];
                    }
                }
            }
            m.finalizeWeights();
            List<NDArray> expected = new ArrayList<>();
            for (int k = 0; k < average.size(); k++) {
                expected.add(new NDArray(average.get(k), m.getWeights().get(k).shape()));
            }
            assertClose(expected, m.getWeights(), "the moving average");
        }
    }

    @Test
    void countedMetricsAreThoseOfPredict() {
        GpuTests.requireOrSkip();
        NDArray[] d = data(40, 3);
        try (Sequential m = model(new Adam(0.01))) {
            m.fit(d[0], d[1], FitOptions.defaults().epochs(2).batchSize(8).verbose(false));
            Map<String, Double> e = m.evaluate(d[0], d[1], 16);
            float[] p = m.predict(d[0], 16).data();
            double absolute = 0, squared = 0;
            int right = 0;
            for (int i = 0; i < 40; i++) {
                int best = 0;
                for (int c = 0; c < 3; c++) {
                    double err = p[i * 3 + c] - (c == (int) d[1].data()[i] ? 1 : 0);
                    absolute += Math.abs(err);
                    squared += err * err;
                    best = p[i * 3 + c] > p[i * 3 + best] ? c : best;
                }
                right += best == (int) d[1].data()[i] ? 1 : 0;
            }
            assertEquals(absolute / 120, e.get("mae"), 1e-4);
            assertEquals(squared / 120, e.get("mse"), 1e-4);
            assertEquals(right / 40.0, e.get("accuracy"), 1e-9);
            assertTrue(e.get("precision") >= 0 && e.get("precision") <= 1, e.toString());
        }
    }
}
