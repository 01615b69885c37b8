package dev.osprey.backend;

import dev.osprey.Activation;

/**
 * The oracle: every op in naive loops with double accumulation, NHWC activations and Keras' parameter layouts
 * (conv kernel (kh, kw, in / groups, out), dense kernel (in, out)). Slow on purpose; clarity is the point. Written
 * from the formulas, not from the backends (activations included: Keras 3's definitions).
 */
public final class ReferenceOps {
    private ReferenceOps() {
    }

    // ---- convolution (groups, dilation, optional bias) --------------------------------------------------

    /** The input pixel a kernel tap reads, or -1 outside the image (padding). */
    private static int tap(int out, int stride, int pad, int k, int dilation, int size) {
        int at = out * stride - pad + k * dilation;
        return at < 0 || at >= size ? -1 : at;
    }

    public static float[] conv2dForward(Conv2dSpec s, float[] x, float[] k, float[] b) {
        int oh = s.outH(), ow = s.outW(), f = s.filters(), g = s.groups();
        int inPerGroup = s.inC() / g, outPerGroup = f / g;
        float[] y = new float[s.batch() * oh * ow * f];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int o = 0; o < f; o++) {
                        double acc = b == null ? 0 : b[o];
                        int group = o / outPerGroup;
                        for (int u = 0; u < s.kernelH(); u++) {
                            int h = tap(i, s.strideH(), s.padTop(), u, s.dilationH(), s.inH());
                            for (int v = 0; v < s.kernelW() && h >= 0; v++) {
                                int w = tap(j, s.strideW(), s.padLeft(), v, s.dilationW(), s.inW());
                                if (w < 0) {
                                    continue;
                                }
                                for (int c = 0; c < inPerGroup; c++) {
                                    acc += (double) x[((n * s.inH() + h) * s.inW() + w) * s.inC() + group * inPerGroup + c]
                                            * k[((u * s.kernelW() + v) * inPerGroup + c) * f + o];
                                }
                            }
                        }
                        y[((n * oh + i) * ow + j) * f + o] = (float) activate(s.activation(), acc);
                    }
                }
            }
        }
        return y;
    }

    public static float[] conv2dBackwardData(Conv2dSpec s, float[] dy, float[] k) {
        int oh = s.outH(), ow = s.outW(), f = s.filters(), g = s.groups();
        int inPerGroup = s.inC() / g, outPerGroup = f / g;
        double[] dx = new double[s.batch() * s.inH() * s.inW() * s.inC()];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int o = 0; o < f; o++) {
                        double d = dy[((n * oh + i) * ow + j) * f + o];
                        int group = o / outPerGroup;
                        for (int u = 0; u < s.kernelH(); u++) {
                            int h = tap(i, s.strideH(), s.padTop(), u, s.dilationH(), s.inH());
                            for (int v = 0; v < s.kernelW() && h >= 0; v++) {
                                int w = tap(j, s.strideW(), s.padLeft(), v, s.dilationW(), s.inW());
                                if (w < 0) {
                                    continue;
                                }
                                for (int c = 0; c < inPerGroup; c++) {
                                    dx[((n * s.inH() + h) * s.inW() + w) * s.inC() + group * inPerGroup + c] +=
                                            d * k[((u * s.kernelW() + v) * inPerGroup + c) * f + o];
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
        int oh = s.outH(), ow = s.outW(), f = s.filters(), g = s.groups();
        int inPerGroup = s.inC() / g, outPerGroup = f / g;
        double[] dk = new double[s.kernelH() * s.kernelW() * inPerGroup * f];
        double[] db = new double[f];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int o = 0; o < f; o++) {
                        double d = dy[((n * oh + i) * ow + j) * f + o];
                        db[o] += d;
                        int group = o / outPerGroup;
                        for (int u = 0; u < s.kernelH(); u++) {
                            int h = tap(i, s.strideH(), s.padTop(), u, s.dilationH(), s.inH());
                            for (int v = 0; v < s.kernelW() && h >= 0; v++) {
                                int w = tap(j, s.strideW(), s.padLeft(), v, s.dilationW(), s.inW());
                                if (w < 0) {
                                    continue;
                                }
                                for (int c = 0; c < inPerGroup; c++) {
                                    dk[((u * s.kernelW() + v) * inPerGroup + c) * f + o] +=
                                            d * x[((n * s.inH() + h) * s.inW() + w) * s.inC() + group * inPerGroup + c];
                                }
                            }
                        }
                    }
                }
            }
        }
        return new float[][] {toFloat(dk), toFloat(db)};
    }

    // ---- pooling -----------------------------------------------------------------------------------------

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

    /** Average over the window's input values (padding not counted), as Keras' AveragePooling2D. */
    public static float[] averagePoolForward(Pool2dSpec s, float[] x) {
        int oh = s.outH(), ow = s.outW(), ch = s.channels();
        float[] y = new float[s.batch() * oh * ow * ch];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int c = 0; c < ch; c++) {
                        double sum = 0;
                        int count = 0;
                        for (int[] at : window(s, n, i, j, c)) {
                            sum += x[at[0]];
                            count++;
                        }
                        y[((n * oh + i) * ow + j) * ch + c] = (float) (sum / count);
                    }
                }
            }
        }
        return y;
    }

    public static float[] averagePoolBackward(Pool2dSpec s, float[] dy) {
        int oh = s.outH(), ow = s.outW(), ch = s.channels();
        double[] dx = new double[s.batch() * s.inH() * s.inW() * ch];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    for (int c = 0; c < ch; c++) {
                        java.util.List<int[]> in = window(s, n, i, j, c);
                        for (int[] at : in) {
                            dx[at[0]] += dy[((n * oh + i) * ow + j) * ch + c] / in.size();
                        }
                    }
                }
            }
        }
        return toFloat(dx);
    }

    /** Indices of the input values under output (n, i, j, c)'s window. */
    private static java.util.List<int[]> window(Pool2dSpec s, int n, int i, int j, int c) {
        java.util.List<int[]> out = new java.util.ArrayList<>();
        for (int u = 0; u < s.poolH(); u++) {
            int h = i * s.strideH() - s.padTop() + u;
            for (int v = 0; v < s.poolW() && h >= 0 && h < s.inH(); v++) {
                int w = j * s.strideW() - s.padLeft() + v;
                if (w >= 0 && w < s.inW()) {
                    out.add(new int[] {((n * s.inH() + h) * s.inW() + w) * s.channels() + c});
                }
            }
        }
        return out;
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

    // ---- dense -------------------------------------------------------------------------------------------

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

    // ---- batch normalization (Keras: biased batch variance) ----------------------------------------------

    /** {mean, biased variance} per channel of NHWC data. */
    public static double[][] channelStatistics(BatchNormSpec s, float[] x) {
        int rows = s.rows(), ch = s.channels();
        double[] mean = new double[ch];
        double[] var = new double[ch];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < ch; c++) {
                mean[c] += x[r * ch + c];
            }
        }
        for (int c = 0; c < ch; c++) {
            mean[c] /= rows;
        }
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < ch; c++) {
                double d = x[r * ch + c] - mean[c];
                var[c] += d * d;
            }
        }
        for (int c = 0; c < ch; c++) {
            var[c] /= rows;
        }
        return new double[][] {mean, var};
    }

    /** y = gamma (x - mean) / sqrt(var + eps) + beta with the given statistics. */
    public static float[] batchNormApply(BatchNormSpec s, float[] x, float[] gamma, float[] beta, double[] mean,
                                         double[] var) {
        int ch = s.channels();
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            int c = i % ch;
            y[i] = (float) (gamma[c] * (x[i] - mean[c]) / Math.sqrt(var[c] + s.epsilon()) + beta[c]);
        }
        return y;
    }

    /** Training mode: normalizes with the batch's own statistics. */
    public static float[] batchNormTraining(BatchNormSpec s, float[] x, float[] gamma, float[] beta) {
        double[][] st = channelStatistics(s, x);
        return batchNormApply(s, x, gamma, beta, st[0], st[1]);
    }

    /** {dx, dgamma, dbeta} of the training-mode forward. */
    public static float[][] batchNormBackward(BatchNormSpec s, float[] x, float[] dy, float[] gamma) {
        int rows = s.rows(), ch = s.channels();
        double[][] st = channelStatistics(s, x);
        double[] dgamma = new double[ch];
        double[] dbeta = new double[ch];
        for (int i = 0; i < x.length; i++) {
            int c = i % ch;
            double xhat = (x[i] - st[0][c]) / Math.sqrt(st[1][c] + s.epsilon());
            dbeta[c] += dy[i];
            dgamma[c] += dy[i] * xhat;
        }
        double[] dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            int c = i % ch;
            double inv = 1 / Math.sqrt(st[1][c] + s.epsilon());
            double xhat = (x[i] - st[0][c]) * inv;
            dx[i] = gamma[c] * inv * (dy[i] - dbeta[c] / rows - xhat * dgamma[c] / rows);
        }
        return new float[][] {toFloat(dx), toFloat(dgamma), toFloat(dbeta)};
    }

    // ---- layer normalization -------------------------------------------------------------------------------

    /** {mean, biased variance} of each row of (rows, width). */
    public static double[][] rowStatistics(LayerNormSpec s, float[] x) {
        int rows = s.rows(), w = s.width();
        double[] mean = new double[rows], var = new double[rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < w; c++) {
                mean[r] += x[r * w + c];
            }
            mean[r] /= w;
            for (int c = 0; c < w; c++) {
                double d = x[r * w + c] - mean[r];
                var[r] += d * d;
            }
            var[r] /= w;
        }
        return new double[][] {mean, var};
    }

    /** C = op(A) . op(B) for each item, summed in double; C's tensor as its layout lays it out (zeros elsewhere). */
    public static float[] batchMatMul(BatchMatMulSpec s, float[] a, float[] b) {
        float[] c = new float[Math.toIntExact(s.cExtent())];
        batchMatMul(s, a, b, c);
        return c;
    }

    /**
     * The same into c, every operand read and written through its layout (item (sample, head) at sample *
     * sampleStride + head * headStride, rows rowStride apart): values of c outside C's layout are left as they are.
     */
    public static void batchMatMul(BatchMatMulSpec s, float[] a, float[] b, float[] c) {
        int m = s.m(), n = s.n(), k = s.k();
        BatchMatMulSpec.Layout la = s.aLayout(), lb = s.bLayout(), lc = s.cLayout();
        for (int sample = 0; sample < s.batch(); sample++) {
            for (int head = 0; head < s.heads(); head++) {
                long ao = sample * la.sampleStride() + head * la.headStride();
                long bo = sample * lb.sampleStride() + head * lb.headStride();
                long co = sample * lc.sampleStride() + head * lc.headStride();
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double sum = 0;
                        for (int p = 0; p < k; p++) {
                            float av = a[(int) (ao + (s.transposeA() ? p * la.rowStride() + i : i * la.rowStride() + p))];
                            float bv = b[(int) (bo + (s.transposeB() ? j * lb.rowStride() + p : p * lb.rowStride() + j))];
                            sum += (double) av * bv;
                        }
                        c[(int) (co + i * lc.rowStride() + j)] = (float) sum;
                    }
                }
            }
        }
    }

    /** y = gamma (x - mean) / sqrt(var + eps) + beta, each row by its own statistics. */
    public static float[] layerNorm(LayerNormSpec s, float[] x, float[] gamma, float[] beta) {
        double[][] st = rowStatistics(s, x);
        int w = s.width();
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            int r = i / w, c = i % w;
            y[i] = (float) (gamma[c] * (x[i] - st[0][r]) / Math.sqrt(st[1][r] + s.epsilon()) + beta[c]);
        }
        return y;
    }

    /** {dx, dgamma, dbeta} of {@link #layerNorm}, from the textbook formulas. */
    public static float[][] layerNormBackward(LayerNormSpec s, float[] x, float[] dy, float[] gamma) {
        double[][] st = rowStatistics(s, x);
        int rows = s.rows(), w = s.width();
        double[] dgamma = new double[w], dbeta = new double[w], dx = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double inv = 1 / Math.sqrt(st[1][r] + s.epsilon());
            double sumG = 0, sumGXhat = 0;
            for (int c = 0; c < w; c++) {
                int i = r * w + c;
                double xhat = (x[i] - st[0][r]) * inv;
                double g = dy[i] * gamma[c];
                sumG += g;
                sumGXhat += g * xhat;
                dgamma[c] += dy[i] * xhat;
                dbeta[c] += dy[i];
            }
            for (int c = 0; c < w; c++) {
                int i = r * w + c;
                double xhat = (x[i] - st[0][r]) * inv;
                dx[i] = inv * (dy[i] * gamma[c] - sumG / w - xhat * sumGXhat / w);
            }
        }
        return new float[][] {toFloat(dx), toFloat(dgamma), toFloat(dbeta)};
    }

    // ---- activations (Keras 3's definitions) -------------------------------------------------------------

    public static double activate(Activation a, double x) {
        double alpha = a.alpha();
        double cap = a.maxValue();
        return switch (a.kind()) {
            case LINEAR -> x;
            case RELU -> Math.min(cap, x >= 0 ? x : alpha * x);
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            case TANH -> Math.tanh(x);
            case ELU -> x > 0 ? x : alpha * (Math.exp(x) - 1);
            case GELU -> 0.5 * x * (1 + erf(x / Math.sqrt(2)));
            case SWISH -> x / (1 + Math.exp(-x));
            case HARD_SWISH -> x * relu6(x + 3) / 6;
            case HARD_SIGMOID -> relu6(x + 3) / 6;
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not element-wise");
        };
    }

    private static double relu6(double x) {
        return Math.min(Math.max(x, 0), 6);
    }

    /** The derivative at x (away from kinks: tests keep inputs off them). */
    public static double derivative(Activation a, double x) {
        return switch (a.kind()) {
            case LINEAR -> 1;
            case RELU -> x >= a.maxValue() ? 0 : x > 0 ? 1 : a.alpha();
            case SIGMOID -> {
                double s = 1 / (1 + Math.exp(-x));
                yield s * (1 - s);
            }
            case TANH -> 1 - Math.tanh(x) * Math.tanh(x);
            case ELU -> x > 0 ? 1 : a.alpha() * Math.exp(x);
            case GELU -> 0.5 * (1 + erf(x / Math.sqrt(2))) + x * Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
            case SWISH -> {
                double s = 1 / (1 + Math.exp(-x));
                yield s + x * s * (1 - s);
            }
            case HARD_SWISH -> x < -3 ? 0 : x > 3 ? 1 : (2 * x + 3) / 6;
            case HARD_SIGMOID -> x < -3 || x > 3 ? 0 : 1.0 / 6;
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not element-wise");
        };
    }

    public static float[] activationForward(Activation a, float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = (float) activate(a, x[i]);
        }
        return y;
    }

    public static float[] activationBackward(Activation a, float[] x, float[] dy) {
        float[] dx = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            dx[i] = (float) (dy[i] * derivative(a, x[i]));
        }
        return dx;
    }

    public static float[] reluBackward(float[] y, float[] dy) {
        float[] dx = new float[dy.length];
        for (int i = 0; i < dy.length; i++) {
            dx[i] = y[i] > 0 ? dy[i] : 0f;
        }
        return dx;
    }

    /** erf by its Taylor series (|x| < 3) or its continued fraction: 1e-13 accuracy, enough for an oracle. */
    static double erf(double x) {
        double t = Math.abs(x);
        double r;
        if (t < 3) {
            double term = t, sum = t;
            for (int n = 1; n < 200; n++) {
                term *= -t * t / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0;
            for (int n = 80; n >= 1; n--) {
                f = n / 2.0 / (t + f);
            }
            r = 1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
        }
        return x < 0 ? -r : r;
    }

    public static float[] softmax(float[] x, int rows, int width) {
        float[] y = new float[x.length];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < width; c++) {
                max = Math.max(max, x[r * width + c]);
            }
            double sum = 0;
            for (int c = 0; c < width; c++) {
                sum += Math.exp(x[r * width + c] - max);
            }
            for (int c = 0; c < width; c++) {
                y[r * width + c] = (float) (Math.exp(x[r * width + c] - max) / sum);
            }
        }
        return y;
    }

    public static float[] softmaxBackward(float[] y, float[] dy, int rows, int width) {
        float[] dx = new float[y.length];
        for (int r = 0; r < rows; r++) {
            double dot = 0;
            for (int c = 0; c < width; c++) {
                dot += (double) dy[r * width + c] * y[r * width + c];
            }
            for (int c = 0; c < width; c++) {
                dx[r * width + c] = (float) (y[r * width + c] * (dy[r * width + c] - dot));
            }
        }
        return dx;
    }

    /** Returns {losses per row, dLogits of the batch-mean loss}. */
    public static float[][] softmaxCrossEntropy(float[] logits, float[] targets, int rows, int classes) {
        float[] losses = new float[rows];
        float[] grad = new float[logits.length];
        float[] p = softmax(logits, rows, classes);
        for (int r = 0; r < rows; r++) {
            double loss = 0;
            for (int c = 0; c < classes; c++) {
                loss -= targets[r * classes + c] * Math.log(p[r * classes + c]);
                grad[r * classes + c] = (p[r * classes + c] - targets[r * classes + c]) / rows;
            }
            losses[r] = (float) loss;
        }
        return new float[][] {losses, grad};
    }

    // ---- moves -------------------------------------------------------------------------------------------

    public static float[] pad(Pad2dSpec s, float[] x) {
        float[] y = new float[s.batch() * s.outH() * s.outW() * s.channels()];
        for (int n = 0; n < s.batch(); n++) {
            for (int h = 0; h < s.inH(); h++) {
                for (int w = 0; w < s.inW(); w++) {
                    for (int c = 0; c < s.channels(); c++) {
                        y[((n * s.outH() + h + s.top()) * s.outW() + w + s.left()) * s.channels() + c] =
                                x[((n * s.inH() + h) * s.inW() + w) * s.channels() + c];
                    }
                }
            }
        }
        return y;
    }

    public static float[] crop(Pad2dSpec s, float[] dy) {
        float[] dx = new float[s.batch() * s.inH() * s.inW() * s.channels()];
        for (int n = 0; n < s.batch(); n++) {
            for (int h = 0; h < s.inH(); h++) {
                for (int w = 0; w < s.inW(); w++) {
                    for (int c = 0; c < s.channels(); c++) {
                        dx[((n * s.inH() + h) * s.inW() + w) * s.channels() + c] =
                                dy[((n * s.outH() + h + s.top()) * s.outW() + w + s.left()) * s.channels() + c];
                    }
                }
            }
        }
        return dx;
    }

    public static float[] concat(int rows, float[][] parts) {
        int total = 0;
        for (float[] p : parts) {
            total += p.length / rows;
        }
        float[] whole = new float[rows * total];
        for (int r = 0; r < rows; r++) {
            int at = r * total;
            for (float[] p : parts) {
                int w = p.length / rows;
                System.arraycopy(p, r * w, whole, at, w);
                at += w;
            }
        }
        return whole;
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
