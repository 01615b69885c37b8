package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Device;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.Training;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A tiny fixed-seed model: its first losses repeat bit for bit run after run, and they equal what a plain-Java
 * reference (reference ops + Keras' Adam) computes from the same initial weights on the same batches.
 */
class TrainingReproducibilityTest {
    static final int N = 16, BATCH = 4, STEPS = 8, CLASSES = 3;

    static Sequential tinyModel(long seed) {
        return new Sequential(
                new Conv2D(4, 3, Activation.RELU).inputShape(8, 8, 1),
                new MaxPooling2D(2),
                new Flatten(),
                new Dense(CLASSES, Activation.SOFTMAX))
                .device(Device.cpu()).seed(seed)
                .compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }

    static NDArray[] data() {
        Random r = new Random(5);
        float[] x = new float[N * 64];
        float[] y = new float[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % CLASSES;
            for (int j = 0; j < 64; j++) {
                x[i * 64 + j] = r.nextFloat() + (j % (CLASSES + 1) == y[i] ? 0.5f : 0f);
            }
        }
        return new NDArray[] {new NDArray(x, N, 8, 8, 1), new NDArray(y, N)};
    }

    /** Per-batch loss: the running epoch mean turned back into each batch's own mean. */
    static List<Double> batchLosses(Sequential model, NDArray x, NDArray y) {
        List<Double> losses = new ArrayList<>();
        double[] previousSum = {0};
        Callback recorder = new Callback() {
            @Override
            public void onEpochBegin(int epoch, Training t) {
                previousSum[0] = 0;
            }

            @Override
            public void onBatchEnd(int batch, Training t) {
                double sum = t.loss() * (batch + 1) * BATCH;
                losses.add((sum - previousSum[0]) / BATCH);
                previousSum[0] = sum;
            }
        };
        model.fit(x, y, FitOptions.defaults().epochs(STEPS * BATCH / N).batchSize(BATCH).shuffle(false)
                .verbose(false).callbacks(recorder));
        return losses;
    }

    @Test
    void theSameSeedGivesTheSameLossesAndWeights() {
        NDArray[] d = data();
        List<Double> first, second;
        List<NDArray> w1, w2;
        try (Sequential a = tinyModel(7); Sequential b = tinyModel(7)) {
            first = batchLosses(a, d[0], d[1]);
            second = batchLosses(b, d[0], d[1]);
            w1 = a.getWeights();
            w2 = b.getWeights();
        }
        assertEquals(first, second);
        for (int i = 0; i < w1.size(); i++) {
            assertArrayEquals(w1.get(i).data(), w2.get(i).data(), 0f);
        }
        try (Sequential c = tinyModel(8)) {
            assertTrue(!batchLosses(c, d[0], d[1]).equals(first), "a different seed should start elsewhere");
        }
    }

    @Test
    void firstLossesMatchAPlainJavaReferenceTraining() {
        NDArray[] d = data();
        List<Double> osprey;
        List<NDArray> initial;
        try (Sequential model = tinyModel(3)) {
            initial = model.getWeights();
            osprey = batchLosses(model, d[0], d[1]);
        }
        List<Double> reference = referenceLosses(initial, d[0], d[1]);
        assertEquals(STEPS, osprey.size());
        for (int i = 0; i < STEPS; i++) {
            assertEquals(reference.get(i), osprey.get(i), 1e-4 * Math.max(1, Math.abs(reference.get(i))),
                    "loss of step " + (i + 1) + ": reference " + reference + ", osprey " + osprey);
        }
        assertTrue(reference.get(STEPS - 1) < reference.get(0), "the reference training should learn: " + reference);
    }

    /** The same training written with the reference ops and Keras' Adam, in doubles where it matters. */
    static List<Double> referenceLosses(List<NDArray> initial, NDArray x, NDArray y) {
        Conv2dSpec conv = new Conv2dSpec(BATCH, 8, 8, 1, 4, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU);
        Pool2dSpec pool = new Pool2dSpec(BATCH, 6, 6, 4, 2, 2, 2, 2, 0, 0, 0, 0);
        DenseSpec dense = new DenseSpec(BATCH, 36, CLASSES, Activation.LINEAR);
        float[][] p = new float[4][];
        float[][] m = new float[4][];
        float[][] v = new float[4][];
        for (int i = 0; i < 4; i++) {
            p[i] = initial.get(i).data().clone();
            m[i] = new float[p[i].length];
            v[i] = new float[p[i].length];
        }
        List<Double> losses = new ArrayList<>();
        for (int step = 0; step < STEPS; step++) {
            int start = (step * BATCH) % N;
            float[] xb = x.slice(start, start + BATCH).data();
            float[] targets = new float[BATCH * CLASSES];
            for (int i = 0; i < BATCH; i++) {
                targets[i * CLASSES + (int) y.data()[start + i]] = 1;
            }
            float[] a1 = ReferenceOps.conv2dForward(conv, xb, p[0], p[1]);
            float[] a2 = ReferenceOps.maxPoolForward(pool, a1);
            float[] logits = ReferenceOps.denseForward(dense, a2, p[2], p[3]);
            float[][] ce = ReferenceOps.softmaxCrossEntropy(logits, targets, BATCH, CLASSES);
            double loss = 0;
            for (float l : ce[0]) {
                loss += l / BATCH;
            }
            losses.add(loss);
            float[][] gDense = ReferenceOps.denseBackwardWeights(dense, a2, ce[1]);
            float[] dA2 = ReferenceOps.denseBackwardData(dense, ce[1], p[2]);
            float[] dA1 = ReferenceOps.reluBackward(a1, ReferenceOps.maxPoolBackward(pool, a1, dA2));
            float[][] gConv = ReferenceOps.conv2dBackwardFilter(conv, xb, dA1);
            float[][] g = {gConv[0], gConv[1], gDense[0], gDense[1]};
            double alpha = 0.01 * Math.sqrt(1 - Math.pow(0.999, step + 1)) / (1 - Math.pow(0.9, step + 1));
            for (int k = 0; k < 4; k++) {
                for (int i = 0; i < p[k].length; i++) {
                    m[k][i] += (g[k][i] - m[k][i]) * (1 - 0.9f);
                    v[k][i] += (g[k][i] * g[k][i] - v[k][i]) * (1 - 0.999f);
                    p[k][i] -= (float) (m[k][i] * alpha / (Math.sqrt(v[k][i]) + 1e-7));
                }
            }
        }
        return losses;
    }
}
