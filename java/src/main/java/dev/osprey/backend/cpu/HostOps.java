package dev.osprey.backend.cpu;

import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.SgdSpec;
import java.nio.FloatBuffer;

/**
 * The CPU backend's ops written in Java: all of them touch (N, classes) rows or one pass over the parameter
 * arena, so they cost microseconds next to the convolutions. Absolute get/put only: buffers are shared.
 */
final class HostOps {
    private HostOps() {
    }

    static void softmax(FloatBuffer logits, FloatBuffer probabilities, int rows, int classes) {
        for (int r = 0; r < rows; r++) {
            int base = r * classes;
            float max = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                max = Math.max(max, logits.get(base + c));
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(logits.get(base + c) - max);
            }
            for (int c = 0; c < classes; c++) {
                probabilities.put(base + c, (float) (Math.exp(logits.get(base + c) - max) / sum));
            }
        }
    }

    /** Adds [sum of per-row losses, correct arg-max count] to stats; dLogits (nullable) = (p - t) / rows. */
    static void softmaxCrossEntropy(FloatBuffer logits, FloatBuffer targets, FloatBuffer dLogits, FloatBuffer stats,
                                    int rows, int classes) {
        double lossSum = 0;
        int correct = 0;
        float scale = 1f / rows;
        for (int r = 0; r < rows; r++) {
            int base = r * classes;
            float max = Float.NEGATIVE_INFINITY;
            int predicted = 0;
            int expected = 0;
            for (int c = 0; c < classes; c++) {
                float z = logits.get(base + c);
                if (z > max) {
                    max = z;
                    predicted = c;
                }
                if (targets.get(base + c) > targets.get(base + expected)) {
                    expected = c;
                }
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(logits.get(base + c) - max);
            }
            double logSum = Math.log(sum);
            for (int c = 0; c < classes; c++) {
                double logP = logits.get(base + c) - max - logSum;
                float t = targets.get(base + c);
                if (t != 0f) {
                    lossSum -= t * logP;
                }
                if (dLogits != null) {
                    dLogits.put(base + c, (float) (Math.exp(logP) - t) * scale);
                }
            }
            if (predicted == expected) {
                correct++;
            }
        }
        stats.put(0, (float) (stats.get(0) + lossSum));
        stats.put(1, stats.get(1) + correct);
    }

    static void adam(AdamSpec s, long step, FloatBuffer p, FloatBuffer g, FloatBuffer m, FloatBuffer v, int n) {
        double alpha = s.learningRate() * Math.sqrt(1 - Math.pow(s.beta2(), step)) / (1 - Math.pow(s.beta1(), step));
        float a = (float) alpha;
        float oneMinusB1 = 1f - s.beta1();
        float oneMinusB2 = 1f - s.beta2();
        float eps = s.epsilon();
        for (int i = 0; i < n; i++) {
            float grad = g.get(i);
            float mi = m.get(i);
            float vi = v.get(i);
            mi += (grad - mi) * oneMinusB1;
            vi += (grad * grad - vi) * oneMinusB2;
            m.put(i, mi);
            v.put(i, vi);
            p.put(i, p.get(i) - mi * a / ((float) Math.sqrt(vi) + eps));
        }
    }

    static void sgd(SgdSpec s, FloatBuffer p, FloatBuffer g, FloatBuffer velocity, int n) {
        float lr = s.learningRate();
        float mu = s.momentum();
        for (int i = 0; i < n; i++) {
            float grad = g.get(i);
            if (mu == 0f) {
                p.put(i, p.get(i) - lr * grad);
                continue;
            }
            float vi = mu * velocity.get(i) - lr * grad;
            velocity.put(i, vi);
            p.put(i, p.get(i) + (s.nesterov() ? mu * vi - lr * grad : vi));
        }
    }

    static void dropout(float rate, long seed, FloatBuffer x, FloatBuffer mask, FloatBuffer y, int n) {
        float keepScale = 1f / (1f - rate);
        for (int i = 0; i < n; i++) {
            float u = uniform(seed, i);
            float k = u >= rate ? keepScale : 0f;
            mask.put(i, k);
            y.put(i, x.get(i) * k);
        }
    }

    /** A counter-based uniform in [0, 1): the same (seed, index) gives the same number on every backend. */
    static float uniform(long seed, long index) {
        long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 40) * 0x1.0p-24f;
    }

    static void multiply(FloatBuffer a, FloatBuffer b, FloatBuffer out, int n) {
        for (int i = 0; i < n; i++) {
            out.put(i, a.get(i) * b.get(i));
        }
    }

    static void fill(FloatBuffer t, float value, int n) {
        for (int i = 0; i < n; i++) {
            t.put(i, value);
        }
    }
}
