package dev.osprey.backend;

import dev.osprey.Activation;

/**
 * The oracle: every op in naive loops with double accumulation, NHWC activations and Keras' parameter layouts
 * (conv kernel (kh, kw, in, out), dense kernel (in, out)). Slow on purpose; clarity is the point.
 */
public final class ReferenceOps {
    private ReferenceOps() {
    }

    public static float[] conv2dForward(Conv2dSpec s, float[] x, float[] k, float[] b) {
        int oh = s.outH(), ow = s.outW();
        float[] y = new float[s.batch() * oh * ow * s.filters()];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int f = 0; f < s.filters(); f++) {
                        double acc = b[f];
                        for (int u = 0; u < s.kernelH(); u++) {
                            int h = i * s.strideH() - s.padTop() + u;
                            if (h < 0 || h >= s.inH()) {
                                continue;
                            }
                            for (int v = 0; v < s.kernelW(); v++) {
                                int w = j * s.strideW() - s.padLeft() + v;
                                if (w < 0 || w >= s.inW()) {
                                    continue;
                                }
                                for (int c = 0; c < s.inC(); c++) {
                                    acc += (double) x[((n * s.inH() + h) * s.inW() + w) * s.inC() + c]
                                            * k[((u * s.kernelW() + v) * s.inC() + c) * s.filters() + f];
                                }
                            }
                        }
                        y[((n * oh + i) * ow + j) * s.filters() + f] = (float) activate(s.activation(), acc);
                    }
                }
            }
        }
        return y;
    }

    public static float[] conv2dBackwardData(Conv2dSpec s, float[] dy, float[] k) {
        int oh = s.outH(), ow = s.outW();
        double[] dx = new double[s.batch() * s.inH() * s.inW() * s.inC()];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int f = 0; f < s.filters(); f++) {
                        double g = dy[((n * oh + i) * ow + j) * s.filters() + f];
                        for (int u = 0; u < s.kernelH(); u++) {
                            int h = i * s.strideH() - s.padTop() + u;
                            if (h < 0 || h >= s.inH()) {
                                continue;
                            }
                            for (int v = 0; v < s.kernelW(); v++) {
                                int w = j * s.strideW() - s.padLeft() + v;
                                if (w < 0 || w >= s.inW()) {
                                    continue;
                                }
                                for (int c = 0; c < s.inC(); c++) {
                                    dx[((n * s.inH() + h) * s.inW() + w) * s.inC() + c] +=
                                            g * k[((u * s.kernelW() + v) * s.inC() + c) * s.filters() + f];
                                }
                            }
                        }
                    }
                }
            }
        }
        return toFloat(dx);
    }

    /** Returns the kernel gradient followed by the bias gradient. */
    public static float[][] conv2dBackwardFilter(Conv2dSpec s, float[] x, float[] dy) {
        int oh = s.outH(), ow = s.outW();
        double[] dk = new double[s.kernelH() * s.kernelW() * s.inC() * s.filters()];
        double[] db = new double[s.filters()];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int f = 0; f < s.filters(); f++) {
                        double g = dy[((n * oh + i) * ow + j) * s.filters() + f];
                        db[f] += g;
                        for (int u = 0; u < s.kernelH(); u++) {
                            int h = i * s.strideH() - s.padTop() + u;
                            if (h < 0 || h >= s.inH()) {
                                continue;
                            }
                            for (int v = 0; v < s.kernelW(); v++) {
                                int w = j * s.strideW() - s.padLeft() + v;
                                if (w < 0 || w >= s.inW()) {
                                    continue;
                                }
                                for (int c = 0; c < s.inC(); c++) {
                                    dk[((u * s.kernelW() + v) * s.inC() + c) * s.filters() + f] +=
                                            g * x[((n * s.inH() + h) * s.inW() + w) * s.inC() + c];
                                }
                            }
                        }
                    }
                }
            }
        }
        return new float[][] {toFloat(dk), toFloat(db)};
    }

    public static float[] maxPoolForward(Pool2dSpec s, float[] x) {
        int oh = s.outH(), ow = s.outW(), ch = s.channels();
        float[] y = new float[s.batch() * oh * ow * ch];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int c = 0; c < ch; c++) {
                        y[((n * oh + i) * ow + j) * ch + c] = x[argMax(s, x, n, i, j, c)];
                    }
                }
            }
        }
        return y;
    }

    public static float[] maxPoolBackward(Pool2dSpec s, float[] x, float[] dy) {
        int oh = s.outH(), ow = s.outW(), ch = s.channels();
        double[] dx = new double[x.length];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int c = 0; c < ch; c++) {
                        dx[argMax(s, x, n, i, j, c)] += dy[((n * oh + i) * ow + j) * ch + c];
                    }
                }
            }
        }
        return toFloat(dx);
    }

    private static int argMax(Pool2dSpec s, float[] x, int n, int i, int j, int c) {
        int best = -1;
        for (int u = 0; u < s.poolH(); u++) {
            int h = i * s.strideH() - s.padTop() + u;
            if (h < 0 || h >= s.inH()) {
                continue;
            }
            for (int v = 0; v < s.poolW(); v++) {
                int w = j * s.strideW() - s.padLeft() + v;
                if (w < 0 || w >= s.inW()) {
                    continue;
                }
                int index = ((n * s.inH() + h) * s.inW() + w) * s.channels() + c;
                if (best < 0 || x[index] > x[best]) {
                    best = index;
                }
            }
        }
        return best;
    }

    public static float[] denseForward(DenseSpec s, float[] x, float[] k, float[] b) {
        float[] y = new float[s.batch() * s.units()];
        for (int n = 0; n < s.batch(); n++) {
            for (int o = 0; o < s.units(); o++) {
                double acc = b[o];
                for (int i = 0; i < s.inFeatures(); i++) {
                    acc += (double) x[n * s.inFeatures() + i] * k[i * s.units() + o];
                }
                y[n * s.units() + o] = (float) activate(s.activation(), acc);
            }
        }
        return y;
    }

    public static float[] denseBackwardData(DenseSpec s, float[] dy, float[] k) {
        float[] dx = new float[s.batch() * s.inFeatures()];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < s.inFeatures(); i++) {
                double acc = 0;
                for (int o = 0; o < s.units(); o++) {
                    acc += (double) dy[n * s.units() + o] * k[i * s.units() + o];
                }
                dx[n * s.inFeatures() + i] = (float) acc;
            }
        }
        return dx;
    }

    public static float[][] denseBackwardWeights(DenseSpec s, float[] x, float[] dy) {
        double[] dk = new double[s.inFeatures() * s.units()];
        double[] db = new double[s.units()];
        for (int n = 0; n < s.batch(); n++) {
            for (int o = 0; o < s.units(); o++) {
                double g = dy[n * s.units() + o];
                db[o] += g;
                for (int i = 0; i < s.inFeatures(); i++) {
                    dk[i * s.units() + o] += g * x[n * s.inFeatures() + i];
                }
            }
        }
        return new float[][] {toFloat(dk), toFloat(db)};
    }

    public static float[] reluBackward(float[] y, float[] dy) {
        float[] dx = new float[dy.length];
        for (int i = 0; i < dy.length; i++) {
            dx[i] = y[i] > 0 ? dy[i] : 0f;
        }
        return dx;
    }

    /** Returns {losses per row, dLogits of the batch-mean loss}. */
    public static float[][] softmaxCrossEntropy(float[] logits, float[] targets, int rows, int classes) {
        float[] losses = new float[rows];
        float[] grad = new float[logits.length];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                max = Math.max(max, logits[r * classes + c]);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(logits[r * classes + c] - max);
            }
            double loss = 0;
            for (int c = 0; c < classes; c++) {
                double p = Math.exp(logits[r * classes + c] - max) / sum;
                loss -= targets[r * classes + c] * Math.log(p);
                grad[r * classes + c] = (float) ((p - targets[r * classes + c]) / rows);
            }
            losses[r] = (float) loss;
        }
        return new float[][] {losses, grad};
    }

    private static double activate(Activation a, double v) {
        return a == Activation.RELU ? Math.max(0, v) : v;
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
