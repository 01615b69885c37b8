package dev.osprey.backend;

import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Finite-difference checks of the reference ops' backward passes: the oracle has to be right before it judges
 * anyone. Loss = sum(y * r) for a fixed random r, so dL/dy = r.
 */
class ReferenceGradientTest {
    private static final double H = 1e-2;

    @Test
    void convolutionGradientsMatchFiniteDifferences() {
        Conv2dSpec s = new Conv2dSpec(2, 6, 5, 3, 4, 3, 3, 2, 1, 1, 1, 1, 1, Activation.LINEAR);
        Random r = new Random(11);
        float[] x = random(r, 2 * 6 * 5 * 3), k = random(r, 3 * 3 * 3 * 4), b = random(r, 4);
        float[] weights = random(r, 2 * s.outH() * s.outW() * 4);
        checkGradient("conv dx", x, ReferenceOps.conv2dBackwardData(s, weights, k),
                xs -> ReferenceOps.conv2dForward(s, xs, k, b), weights);
        float[][] dk = ReferenceOps.conv2dBackwardFilter(s, x, weights);
        checkGradient("conv dk", k, dk[0], ks -> ReferenceOps.conv2dForward(s, x, ks, b), weights);
        checkGradient("conv db", b, dk[1], bs -> ReferenceOps.conv2dForward(s, x, k, bs), weights);
    }

    @Test
    void poolingGradientMatchesFiniteDifferences() {
        Pool2dSpec s = new Pool2dSpec(2, 5, 5, 3, 2, 2, 2, 2, 0, 0, 0, 0);
        Random r = new Random(12);
        float[] x = random(r, 2 * 5 * 5 * 3);
        float[] weights = random(r, 2 * 2 * 2 * 3);
        checkGradient("pool dx", x, ReferenceOps.maxPoolBackward(s, x, weights),
                xs -> ReferenceOps.maxPoolForward(s, xs), weights);
    }

    @Test
    void averagePoolingGradientMatchesFiniteDifferences() {
        Pool2dSpec s = new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, 2, 5, 6, 3, 3, 2, 2, 2, 1, 0, 1, 1);
        Random r = new Random(15);
        float[] x = random(r, 2 * 5 * 6 * 3);
        float[] weights = random(r, 2 * s.outH() * s.outW() * 3);
        checkGradient("average pool dx", x, ReferenceOps.averagePoolBackward(s, weights),
                xs -> ReferenceOps.averagePoolForward(s, xs), weights);
    }

    @Test
    void layerNormGradientsMatchFiniteDifferences() {
        LayerNormSpec s = new LayerNormSpec(5, 7, 1e-3f);
        Random r = new Random(16);
        float[] x = random(r, 35), gamma = random(r, 7), beta = random(r, 7), weights = random(r, 35);
        for (int i = 0; i < x.length; i++) {
            x[i] = 2 * x[i] + i / 7; // rows with their own offsets, which the normalization removes
        }
        float[][] expected = ReferenceOps.layerNormBackward(s, x, weights, gamma);
        checkGradient("layer norm dx", x, expected[0], xs -> ReferenceOps.layerNorm(s, xs, gamma, beta), weights);
        checkGradient("layer norm dgamma", gamma, expected[1], gs -> ReferenceOps.layerNorm(s, x, gs, beta), weights);
        checkGradient("layer norm dbeta", beta, expected[2], bs -> ReferenceOps.layerNorm(s, x, gamma, bs), weights);
    }

    @Test
    void denseGradientsMatchFiniteDifferences() {
        DenseSpec s = new DenseSpec(3, 7, 4, Activation.LINEAR);
        Random r = new Random(13);
        float[] x = random(r, 21), k = random(r, 28), b = random(r, 4), weights = random(r, 12);
        checkGradient("dense dx", x, ReferenceOps.denseBackwardData(s, weights, k),
                xs -> ReferenceOps.denseForward(s, xs, k, b), weights);
        float[][] dk = ReferenceOps.denseBackwardWeights(s, x, weights);
        checkGradient("dense dk", k, dk[0], ks -> ReferenceOps.denseForward(s, x, ks, b), weights);
    }

    @Test
    void crossEntropyGradientMatchesFiniteDifferences() {
        Random r = new Random(14);
        int rows = 4, classes = 5;
        float[] logits = random(r, rows * classes);
        float[] targets = new float[rows * classes];
        for (int i = 0; i < rows; i++) {
            targets[i * classes + r.nextInt(classes)] = 1;
        }
        float[] analytic = ReferenceOps.softmaxCrossEntropy(logits, targets, rows, classes)[1];
        float[] ones = {1f};
        checkGradient("cross-entropy dlogits", logits, analytic, z -> {
            float[] losses = ReferenceOps.softmaxCrossEntropy(z, targets, rows, classes)[0];
            double mean = 0;
            for (float l : losses) {
                mean += l / rows;
            }
            return new float[] {(float) mean};
        }, ones);
    }

    private static void checkGradient(String what, float[] input, float[] analytic, Function<float[], float[]> f,
                                      float[] weights) {
        for (int i = 0; i < input.length; i++) {
            float saved = input[i];
            input[i] = (float) (saved + H);
            double plus = dot(f.apply(input), weights);
            input[i] = (float) (saved - H);
            double minus = dot(f.apply(input), weights);
            input[i] = saved;
            double numeric = (plus - minus) / (2 * H);
            double err = Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric));
            assertTrue(err < 2e-2, what + "[" + i + "]: finite difference " + numeric + ", analytic " + analytic[i]);
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }
}
