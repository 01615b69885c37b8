package dev.osprey.backend.cpu;

import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Pad2dSpec;
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.LossKind;
import java.nio.FloatBuffer;

/**
 * The CPU backend's ops written in Java: loss rows, one pass over the parameter arena, and memory moves (padding,
 * concatenation) done as bulk copies, so they cost little next to the convolutions. Absolute get/put only: buffers are shared.
 */
final class HostOps {
    private HostOps() {
    }

    /**
     * The fused loss op (see Backend.loss) row by row: targets rows are width wide, or width + 1 with the row's
     * weight last. Sums in double; the kernels in loss.cu follow the same formulas in float.
     */
    static void loss(LossKind kind, FloatBuffer outputs, FloatBuffer targets, FloatBuffer dOutputs, FloatBuffer stats,
                     int rows, int width, boolean weighted) {
        int stride = weighted ? width + 1 : width;
        double lossSum = 0;
        double correct = 0;
        float[] y = new float[width];
        float[] t = new float[width];
        float[] g = new float[width];
        for (int r = 0; r < rows; r++) {
            outputs.get(r * width, y);
            targets.get(r * stride, t);
            float weight = weighted ? targets.get(r * stride + width) : 1f;
            double rowLoss = switch (kind) {
                case SOFTMAX_CROSS_ENTROPY -> softmaxCrossEntropyRow(y, t, g);
                case SIGMOID_BINARY_CROSS_ENTROPY -> sigmoidBinaryCrossEntropyRow(y, t, g);
                case MEAN_SQUARED_ERROR -> squaredErrorRow(y, t, g);
                case MEAN_ABSOLUTE_ERROR -> absoluteErrorRow(y, t, g);
            };
            lossSum += weight * rowLoss;
            correct += kind == LossKind.SIGMOID_BINARY_CROSS_ENTROPY ? binaryMatches(y, t, 0f)
                    : width == 1 && kind != LossKind.SOFTMAX_CROSS_ENTROPY ? binaryMatches(y, t, 0.5f)
                    : argMax(y) == argMax(t) ? 1 : 0;
            if (dOutputs != null) {
                float scale = weight / rows;
                for (int c = 0; c < width; c++) {
                    g[c] *= scale;
                }
                dOutputs.put(r * width, g);
            }
        }
        stats.put(0, (float) (stats.get(0) + lossSum));
        stats.put(1, (float) (stats.get(1) + correct));
    }

    /** -sum t log softmax(z); g = softmax(z) - t (targets summing to 1). */
    private static double softmaxCrossEntropyRow(float[] z, float[] t, float[] g) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : z) {
            sum += Math.exp(v - max);
        }
        double logSum = Math.log(sum);
        double loss = 0;
        for (int c = 0; c < z.length; c++) {
            double logP = z[c] - max - logSum;
            if (t[c] != 0f) {
                loss -= t[c] * logP;
            }
            g[c] = (float) (Math.exp(logP) - t[c]);
        }
        return loss;
    }

    /** Mean of max(z, 0) - z t + log(1 + e^-|z|) (cross-entropy of sigmoid(z), stable); g = (sigmoid(z) - t) / width. */
    private static double sigmoidBinaryCrossEntropyRow(float[] z, float[] t, float[] g) {
        double loss = 0;
        for (int c = 0; c < z.length; c++) {
            double v = z[c];
            loss += Math.max(v, 0) - v * t[c] + Math.log1p(Math.exp(-Math.abs(v)));
            g[c] = (float) ((1 / (1 + Math.exp(-v)) - t[c]) / z.length);
        }
        return loss / z.length;
    }

    /** Mean of (y - t)^2; g = 2 (y - t) / width. */
    private static double squaredErrorRow(float[] y, float[] t, float[] g) {
        double loss = 0;
        for (int c = 0; c < y.length; c++) {
            float d = y[c] - t[c];
            loss += (double) d * d;
            g[c] = 2 * d / y.length;
        }
        return loss / y.length;
    }

    /** Mean of |y - t|; g = sign(y - t) / width (0 where they are equal). */
    private static double absoluteErrorRow(float[] y, float[] t, float[] g) {
        double loss = 0;
        for (int c = 0; c < y.length; c++) {
            float d = y[c] - t[c];
            loss += Math.abs(d);
            g[c] = Math.signum(d) / y.length;
        }
        return loss / y.length;
    }

    /** The share of values on the same side of threshold as their target's side of 0.5. */
    private static double binaryMatches(float[] y, float[] t, float threshold) {
        int matches = 0;
        for (int c = 0; c < y.length; c++) {
            if ((y[c] > threshold) == (t[c] > 0.5f)) {
                matches++;
            }
        }
        return (double) matches / y.length;
    }

    /** The first index of the largest value. */
    private static int argMax(float[] v) {
        int best = 0;
        for (int c = 1; c < v.length; c++) {
            if (v[c] > v[best]) {
                best = c;
            }
        }
        return best;
    }

    /**
     * Backend.classificationCounts row by row, in float as the kernel (metrics.cu) computes (the exponentials may
     * differ in the last bit, so a score exactly at a bin edge could land in the next bin on the other backend).
     */
    static void classificationCounts(FloatBuffer outputs, int activation, FloatBuffer targets, int k, FloatBuffer counts,
                                     int rows, int width, int stride, int firstLane) {
        int classes = width == 1 ? 2 : width;
        int bins = dev.osprey.metrics.ClassificationCounts.BINS;
        int histograms = classes * classes + 1;
        int errors = histograms + classes * 2 * bins;
        float[] p = new float[classes];
        for (int r = 0; r < rows; r++) {
            int truth = 0;
            if (width == 1) {
                truth = targets.get(r * stride) > 0.5f ? 1 : 0;
                float s = outputs.get(r);
                if (activation == SIGMOID) {
                    s = sigmoid(s);
                }
                p[0] = 1f - s;
                p[1] = s;
            } else {
                for (int c = 1; c < width; c++) {
                    if (targets.get(r * stride + c) > targets.get(r * stride + truth)) {
                        truth = c;
                    }
                }
                float max = outputs.get(r * width);
                for (int c = 1; c < width; c++) {
                    max = Math.max(max, outputs.get(r * width + c));
                }
                float sum = 0f;
                for (int c = 0; c < width; c++) {
                    sum += (float) Math.exp(outputs.get(r * width + c) - max);
                }
                for (int c = 0; c < width; c++) {
                    float y = outputs.get(r * width + c);
                    p[c] = activation == SOFTMAX ? (float) Math.exp(y - max) / sum
                            : activation == SIGMOID ? sigmoid(y) : y;
                }
            }
            int predicted = 0;
            int higher = 0;
            for (int c = 0; c < classes; c++) {
                if (p[c] > p[predicted]) {
                    predicted = c;
                }
                if (p[c] > p[truth]) {
                    higher++;
                }
            }
            add(counts, truth * classes + predicted, 1f);
            if (higher < k) {
                add(counts, classes * classes, 1f);
            }
            for (int c = 0; c < classes; c++) {
                int bin = Math.min(Math.max((int) (p[c] * bins), 0), bins - 1);
                add(counts, histograms + (c * 2 + (c == truth ? 0 : 1)) * bins + bin, 1f);
            }
            if (width == 1) {
                p[0] = p[1]; // one output: its score s against its target
            }
            addErrors(p, targets, r, width, stride, firstLane, counts, errors);
        }
    }

    /**
     * Backend.errorSums row by row: each row's scores (through softmax or sigmoid, or as they are) against its targets,
     * added to lane (firstLane + r) % LANES of the {@link dev.osprey.metrics.ErrorSums}, in float as the kernel
     * (metrics.cu) adds.
     */
    static void errorSums(FloatBuffer outputs, int activation, FloatBuffer targets, FloatBuffer sums, int rows,
                          int width, int stride, int firstLane) {
        float[] p = new float[width];
        boolean softmax = activation == SOFTMAX && width > 1;
        for (int r = 0; r < rows; r++) {
            float max = outputs.get(r * width);
            float sum = 0f;
            if (softmax) { // only a softmax needs the row's max and sum
                for (int c = 1; c < width; c++) {
                    max = Math.max(max, outputs.get(r * width + c));
                }
                for (int c = 0; c < width; c++) {
                    sum += (float) Math.exp(outputs.get(r * width + c) - max);
                }
            }
            for (int c = 0; c < width; c++) {
                float y = outputs.get(r * width + c);
                p[c] = softmax ? (float) Math.exp(y - max) / sum : activation == SIGMOID ? sigmoid(y) : y;
            }
            addErrors(p, targets, r, width, stride, firstLane, sums, 0);
        }
    }

    /**
     * Adds row r's errors (scores p[0..width) against its targets) to lane (firstLane + r) % LANES of the error sums
     * at offset.
     */
    private static void addErrors(float[] p, FloatBuffer targets, int r, int width, int stride, int firstLane,
                                  FloatBuffer sums, int offset) {
        float absolute = 0f;
        float squared = 0f;
        for (int c = 0; c < width; c++) {
            float d = p[c] - targets.get(r * stride + c);
            absolute += Math.abs(d);
            squared += d * d;
        }
        int lanes = dev.osprey.metrics.ErrorSums.LANES;
        int lane = offset + (int) ((firstLane + (long) r) % lanes);
        add(sums, lane, absolute);
        add(sums, lane + lanes, squared);
        add(sums, lane + 2 * lanes, 1f);
    }

    /** The kinds classificationCounts takes, as Activation.Kind ordinals (what the kernel receives). */
    static final int SOFTMAX = dev.osprey.Activation.Kind.SOFTMAX.ordinal();
    static final int SIGMOID = dev.osprey.Activation.Kind.SIGMOID.ordinal();

    private static float sigmoid(float x) {
        return 1f / (1f + (float) Math.exp(-x));
    }

    private static void add(FloatBuffer b, int index, float v) {
        b.put(index, b.get(index) + v);
    }

    /** Backend.regularize: gradient += l1 sign(w) + 2 l2 w; stats[0] += lossScale (l1 sum|w| + l2 sum w^2). */
    static void regularize(FloatBuffer w, FloatBuffer g, float l1, float l2, float lossScale, FloatBuffer stats, int n) {
        double abs = 0;
        double squares = 0;
        float[][] chunks = CHUNKS.get();
        float[] wc = chunks[0];
        float[] gc = chunks[1];
        for (int start = 0; start < n; start += CHUNK) {
            int len = Math.min(CHUNK, n - start);
            w.get(start, wc, 0, len);
            for (int i = 0; i < len; i++) {
                abs += Math.abs(wc[i]);
                squares += (double) wc[i] * wc[i];
            }
            if (g != null) {
                g.get(start, gc, 0, len);
                for (int i = 0; i < len; i++) {
                    gc[i] += l1 * Math.signum(wc[i]) + 2 * l2 * wc[i];
                }
                g.put(start, gc, 0, len);
            }
        }
        stats.put(0, (float) (stats.get(0) + lossScale * (l1 * abs + l2 * squares)));
    }

    /** Floats per bulk copy of the optimizer loops: plain arrays let the JIT vectorize the arithmetic. */
    private static final int CHUNK = 4096;
    /** Per thread: chunks of the parameters, gradients, up to three slots and the decay mask, reused by every step. */
    private static final ThreadLocal<float[][]> CHUNKS = ThreadLocal.withInitial(() -> new float[6][CHUNK]);

    /**
     * Adam, or with vhat (not null) AMSGrad, which divides by the running maximum of the second moments instead;
     * decayMask null decays every weight (when the spec has weight decay).
     */
    static void adam(AdamSpec s, long step, FloatBuffer p, FloatBuffer g, FloatBuffer m, FloatBuffer v,
                     FloatBuffer vhat, FloatBuffer decayMask, int n) {
        double alpha = s.learningRate() * Math.sqrt(1 - Math.pow(s.beta2(), step)) / (1 - Math.pow(s.beta1(), step));
        float a = (float) alpha;
        float oneMinusB1 = 1f - s.beta1();
        float oneMinusB2 = 1f - s.beta2();
        float eps = s.epsilon();
        float decay = s.learningRate() * s.weightDecay();
        float[][] chunks = CHUNKS.get();
        float[] pc = chunks[0], gc = chunks[1], mc = chunks[2], vc = chunks[3], dc = chunks[4], hc = chunks[5];
        for (int start = 0; start < n; start += CHUNK) {
            int len = Math.min(CHUNK, n - start);
            p.get(start, pc, 0, len);
            g.get(start, gc, 0, len);
            m.get(start, mc, 0, len);
            v.get(start, vc, 0, len);
            decay(pc, decay, decayMask, start, dc, len);
            if (vhat == null) { // one loop a variant: split into passes, Adam ran slower
                for (int i = 0; i < len; i++) {
                    float grad = gc[i];
                    float mi = mc[i] += (grad - mc[i]) * oneMinusB1;
                    float vi = vc[i] += (grad * grad - vc[i]) * oneMinusB2;
                    pc[i] -= mi * a / ((float) Math.sqrt(vi) + eps);
                }
            } else {
                vhat.get(start, hc, 0, len);
                for (int i = 0; i < len; i++) {
                    float grad = gc[i];
                    float mi = mc[i] += (grad - mc[i]) * oneMinusB1;
                    float hi = hc[i] = Math.max(hc[i], vc[i] += (grad * grad - vc[i]) * oneMinusB2);
                    pc[i] -= mi * a / ((float) Math.sqrt(hi) + eps);
                }
                vhat.put(start, hc, 0, len);
            }
            p.put(start, pc, 0, len);
            m.put(start, mc, 0, len);
            v.put(start, vc, 0, len);
        }
    }

    /**
     * Keras' decoupled weight decay on a chunk of weights: w -= decay * w where the mask (read into maskChunk) is 1,
     * or everywhere when the mask is null. Nothing when decay is 0.
     */
    private static void decay(float[] weights, float decay, FloatBuffer mask, int start, float[] maskChunk, int len) {
        if (decay == 0f) {
            return;
        }
        if (mask == null) {
            for (int i = 0; i < len; i++) {
                weights[i] -= decay * weights[i];
            }
            return;
        }
        mask.get(start, maskChunk, 0, len);
        for (int i = 0; i < len; i++) {
            weights[i] -= decay * maskChunk[i] * weights[i];
        }
    }

    /**
     * SGD; decayMask null decays every weight (when the spec has weight decay). Element by element: the JIT
     * vectorizes this loop over the buffers as it is, and copying chunks into arrays, as Adam does, made it slower.
     */
    static void sgd(SgdSpec s, FloatBuffer p, FloatBuffer g, FloatBuffer velocity, FloatBuffer decayMask, int n) {
        float lr = s.learningRate();
        float mu = s.momentum();
        float decay = lr * s.weightDecay();
        for (int i = 0; i < n; i++) {
            if (decay != 0f) {
                p.put(i, p.get(i) - decay * (decayMask == null ? 1f : decayMask.get(i)) * p.get(i));
            }
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

    static void rmsprop(dev.osprey.backend.RmspropSpec s, FloatBuffer p, FloatBuffer g, FloatBuffer velocity,
                        FloatBuffer momentum, FloatBuffer mean, FloatBuffer decayMask, int n) {
        float lr = s.learningRate();
        float rho = s.rho();
        float oneMinusRho = 1 - rho;
        float mu = s.momentum();
        float eps = s.epsilon();
        float decay = lr * s.weightDecay();
        float[][] chunks = CHUNKS.get();
        float[] pc = chunks[0], gc = chunks[1], vc = chunks[2], mo = chunks[3], dc = chunks[4], ac = chunks[5];
        for (int start = 0; start < n; start += CHUNK) {
            int len = Math.min(CHUNK, n - start);
            p.get(start, pc, 0, len);
            g.get(start, gc, 0, len);
            velocity.get(start, vc, 0, len);
            if (momentum != null) {
                momentum.get(start, mo, 0, len);
            }
            if (mean != null) {
                mean.get(start, ac, 0, len);
            }
            decay(pc, decay, decayMask, start, dc, len);
            float[] increment = dc; // the mask's chunk is free once the decay is done
            // in phases without branches, loops the JIT vectorizes; per value the same operations in the same order
            for (int i = 0; i < len; i++) {
                vc[i] = rho * vc[i] + oneMinusRho * gc[i] * gc[i];
            }
            if (mean != null) {
                for (int i = 0; i < len; i++) {
                    float mi = rho * ac[i] + oneMinusRho * gc[i];
                    ac[i] = mi;
                    increment[i] = lr * gc[i] / (float) Math.sqrt(vc[i] + eps - mi * mi);
                }
            } else {
                for (int i = 0; i < len; i++) {
                    increment[i] = lr * gc[i] / (float) Math.sqrt(vc[i] + eps);
                }
            }
            if (momentum != null) {
                for (int i = 0; i < len; i++) {
                    float m = mu * mo[i] + increment[i];
                    mo[i] = m;
                    pc[i] -= m;
                }
            } else {
                for (int i = 0; i < len; i++) {
                    pc[i] -= increment[i];
                }
            }
            p.put(start, pc, 0, len);
            velocity.put(start, vc, 0, len);
            if (momentum != null) {
                momentum.put(start, mo, 0, len);
            }
            if (mean != null) {
                mean.put(start, ac, 0, len);
            }
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
        return dev.osprey.backend.CounterRandom.uniform(seed, index);
    }

    static void fill(FloatBuffer t, float value, int n) {
        for (int i = 0; i < n; i++) {
            t.put(i, value);
        }
    }

    /** ReLU with both a cap and a negative slope (oneDNN has no single algorithm for it). */
    static void reluForward(float slope, float cap, FloatBuffer x, FloatBuffer y, int n) {
        for (int i = 0; i < n; i++) {
            float v = x.get(i);
            y.put(i, v >= cap ? cap : v >= 0 ? v : slope * v);
        }
    }

    /** Its gradient, from the output: 0 at the cap, the slope below zero. */
    static void reluBackward(float slope, float cap, FloatBuffer y, FloatBuffer dy, FloatBuffer dx, int n) {
        for (int i = 0; i < n; i++) {
            float v = y.get(i);
            dx.put(i, v >= cap ? 0f : v > 0 ? dy.get(i) : slope * dy.get(i));
        }
    }

    /** moving = moving * momentum + batch * (1 - momentum), per channel. */
    static void moveStatistics(FloatBuffer moving, FloatBuffer batch, float momentum, int channels) {
        for (int c = 0; c < channels; c++) {
            moving.put(c, moving.get(c) * momentum + batch.get(c) * (1f - momentum));
        }
    }

    /** y = x framed by zeros, NHWC, one bulk copy per image row. */
    static void pad(Pad2dSpec s, FloatBuffer x, FloatBuffer y) {
        fill(y, 0f, s.batch() * s.outH() * s.outW() * s.channels());
        int row = s.inW() * s.channels();
        for (int n = 0; n < s.batch(); n++) {
            for (int h = 0; h < s.inH(); h++) {
                y.put(((n * s.outH() + h + s.top()) * s.outW() + s.left()) * s.channels(), x,
                        (n * s.inH() + h) * row, row);
            }
        }
    }

    /** dx = the interior of dy. */
    static void crop(Pad2dSpec s, FloatBuffer dy, FloatBuffer dx) {
        int row = s.inW() * s.channels();
        for (int n = 0; n < s.batch(); n++) {
            for (int h = 0; h < s.inH(); h++) {
                dx.put((n * s.inH() + h) * row, dy, ((n * s.outH() + h + s.top()) * s.outW() + s.left()) * s.channels(),
                        row);
            }
        }
    }

    /** Parts of (rows, widths[i]) side by side into (rows, sum of widths), or back when {@code split}. */
    static void concat(int rows, FloatBuffer[] parts, int[] widths, FloatBuffer whole, boolean split) {
        int total = 0;
        for (int w : widths) {
            total += w;
        }
        for (int r = 0; r < rows; r++) {
            int offset = r * total;
            for (int i = 0; i < parts.length; i++) {
                if (split) {
                    parts[i].put(r * widths[i], whole, offset, widths[i]);
                } else {
                    whole.put(offset, parts[i], r * widths[i], widths[i]);
                }
                offset += widths[i];
            }
        }
    }
}
