package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * MultiHeadAttention against the formula it stands for, computed here from the layer's own weights in Keras' shapes;
 * Keras' shapes and parameter counts; dropout only while training; clear errors for inputs it can't take. Its
 * gradients are checked against finite differences in GraphGradientTest, its config and file in LayerRoundTripTest.
 */
class MultiHeadAttentionTest {
    @Test
    void keepsKerasShapesAndParameterCounts() {
        // Keras' documented example: 2 heads of key_dim 2, target (8, 16) attending over source (4, 16)
        Input target = Input.shape(8, 16);
        Input source = Input.shape(4, 16);
        MultiHeadAttention layer = new MultiHeadAttention(2, 2);
        SymbolicTensor out = layer.apply(target, source);
        assertEquals(Shape.of(8, 16), out.shape());
        try (Model model = new Model(List.of(target, source), List.of(out))) {
            // query, key, value: (16, 2, 2) kernels and (2, 2) biases; output: (2, 2, 16) kernel and (16) bias
            assertEquals(3 * (64 + 4) + 64 + 16, model.countParams());
        }
        Input pixels = Input.shape(3, 5, 7);
        assertEquals(Shape.of(3, 5, 4), new MultiHeadAttention(1, 8).outputShape(4).apply(pixels, pixels).shape());
    }

    @Test
    void computesScaledDotProductAttentionPerHeadThenTheOutputProjection() {
        int tq = 5, tv = 4, dq = 6, dv = 3, dk = 7, heads = 3, keyDim = 2, valueDim = 4, outDim = 5, batch = 2;
        Input query = Input.shape(tq, dq);
        Input value = Input.shape(tv, dv);
        Input key = Input.shape(tv, dk);
        MultiHeadAttention layer = new MultiHeadAttention(heads, keyDim).valueDim(valueDim).outputShape(outDim);
        try (Model model = new Model(List.of(query, value, key), List.of(layer.apply(query, value, key)))) {
            model.seed(4).build();
            Random r = new Random(11);
            List<NDArray> weights = new ArrayList<>();
            for (NDArray w : model.getWeights()) { // biases too, which start at zero
                weights.add(GaussianArrays.of(r, w.shape()));
            }
            model.setWeights(weights);
            NDArray q = GaussianArrays.of(r, batch, tq, dq), v = GaussianArrays.of(r, batch, tv, dv);
            NDArray k = GaussianArrays.of(r, batch, tv, dk);
            float[] got = model.predict(List.of(q, v, k), batch).get(0).data();
            float[] expected = attention(weights, q.data(), v.data(), k.data(), batch, tq, tv, dq, dv, dk, heads,
                    keyDim, valueDim, outDim);
            assertArrayEquals(expected, got, 2e-5f);
        }
    }

    /** The formula in doubles: weights in Keras' order, each projection's kernel (in, heads, dim). */
    private static float[] attention(List<NDArray> w, float[] q, float[] v, float[] k, int batch, int tq, int tv,
                                     int dq, int dv, int dk, int heads, int keyDim, int valueDim, int outDim) {
        float[] wq = w.get(0).data(), bq = w.get(1).data(), wk = w.get(2).data(), bk = w.get(3).data();
        float[] wv = w.get(4).data(), bv = w.get(5).data(), wo = w.get(6).data(), bo = w.get(7).data();
        float[] out = new float[batch * tq * outDim];
        for (int n = 0; n < batch; n++) {
            double[][][] context = new double[heads][tq][valueDim];
            for (int h = 0; h < heads; h++) {
                double[][] qp = project(q, n * tq * dq, tq, dq, wq, bq, heads, h, keyDim);
                double[][] kp = project(k, n * tv * dk, tv, dk, wk, bk, heads, h, keyDim);
                double[][] vp = project(v, n * tv * dv, tv, dv, wv, bv, heads, h, valueDim);
                for (int i = 0; i < tq; i++) {
                    double[] s = new double[tv];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < tv; j++) {
                        for (int d = 0; d < keyDim; d++) {
                            s[j] += qp[i][d] * kp[j][d];
                        }
                        s[j] /= Math.sqrt(keyDim);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j < tv; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = 0; j < tv; j++) {
                        for (int d = 0; d < valueDim; d++) {
                            context[h][i][d] += s[j] / sum * vp[j][d];
                        }
                    }
                }
            }
            for (int i = 0; i < tq; i++) {
                for (int o = 0; o < outDim; o++) {
                    double y = bo[o];
                    for (int h = 0; h < heads; h++) {
                        for (int d = 0; d < valueDim; d++) {
                            y += context[h][i][d] * wo[(h * valueDim + d) * outDim + o];
                        }
                    }
                    out[(n * tq + i) * outDim + o] = (float) y;
                }
            }
        }
        return out;
    }

    /** One head's projection of rows x[offset..]: (rows, dim). */
    private static double[][] project(float[] x, int offset, int rows, int in, float[] kernel, float[] bias, int heads,
                                      int h, int dim) {
        double[][] p = new double[rows][dim];
        for (int t = 0; t < rows; t++) {
            for (int d = 0; d < dim; d++) {
                double y = bias[h * dim + d];
                for (int c = 0; c < in; c++) {
                    y += x[offset + t * in + c] * kernel[(c * heads + h) * dim + d];
                }
                p[t][d] = y;
            }
        }
        return p;
    }

    @Test
    void dropsAttentionWeightsOnlyWhileTraining() {
        Input in = Input.shape(6, 4);
        MultiHeadAttention dropping = new MultiHeadAttention(2, 3).dropout(0.5);
        Input same = Input.shape(6, 4);
        MultiHeadAttention plain = new MultiHeadAttention(2, 3);
        try (Model a = new Model(in, dropping.apply(in, in)); Model b = new Model(same, plain.apply(same, same))) {
            a.seed(2).build();
            b.seed(2).build();
            b.setWeights(a.getWeights());
            NDArray x = GaussianArrays.of(new Random(3), 4, 6, 4);
            assertArrayEquals(b.predict(x).data(), a.predict(x).data(), 0f, "inference ignores dropout");
        }
    }

    @Test
    void refusesInputsItCannotTakeSayingWhatItExpected() {
        Input tokens = Input.shape(5, 4);
        IllegalArgumentException one = assertThrows(IllegalArgumentException.class,
                () -> new MultiHeadAttention(2, 2).apply(tokens));
        assertTrue(one.getMessage().contains("expected a query and a value") && one.getMessage().contains("apply(x, x)"),
                one.getMessage());
        Input value = Input.shape(3, 4);
        Input key = Input.shape(2, 4);
        IllegalArgumentException positions = assertThrows(IllegalArgumentException.class,
                () -> new MultiHeadAttention(2, 2).apply(tokens, value, key));
        assertTrue(positions.getMessage().contains("key with the value's 3 positions")
                && positions.getMessage().contains("(2, 4)"), positions.getMessage());
        Input vector = Input.shape(4);
        IllegalArgumentException flat = assertThrows(IllegalArgumentException.class,
                () -> new MultiHeadAttention(2, 2).apply(vector, vector));
        assertTrue(flat.getMessage().contains("(positions..., features)"), flat.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new MultiHeadAttention(0, 2));
        assertThrows(IllegalArgumentException.class, () -> new MultiHeadAttention(2, 2).dropout(1));
    }
}
