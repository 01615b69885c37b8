package dev.osprey.backend;

import java.util.Arrays;

/** Argument checks every backend makes before a native call, with the same messages everywhere. */
public final class Checks {
    private Checks() {
    }

    /** Elements of a shape whose every dimension is positive. */
    public static long elements(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("expected every dimension > 0, received shape " + Tensor.describe(shape));
            }
            n *= d;
        }
        return n;
    }

    /**
     * The tensor has as many elements as this shape; its dimensions may differ (callers pass views of one layout, such
     * as a kernel as a flat run of floats), so a transposed tensor of the same size passes.
     */
    public static void expect(String what, Tensor t, int... shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        if (t == null || t.size() != n) {
            throw new IllegalArgumentException(what + ": expected shape " + Tensor.describe(shape) + ", received "
                    + (t == null ? "null" : Tensor.describe(t.shape())));
        }
    }

    /** Each of others is non-null and holds as many elements as first (which must not be null). */
    public static void sameSize(String what, Tensor first, Tensor... others) {
        for (Tensor o : others) {
            if (o == null || o.size() != first.size()) {
                throw new IllegalArgumentException(what + ": expected tensors of " + first.size() + " elements, received "
                        + (o == null ? "null" : Arrays.toString(o.shape())));
            }
        }
    }

    /** (rows, classes) of a 2-D tensor. */
    public static int[] rows(String what, Tensor t) {
        int[] shape = t.shape();
        if (shape.length != 2) {
            throw new IllegalArgumentException(what + ": expected (rows, classes), received " + Tensor.describe(shape));
        }
        return shape;
    }

    /** A moving average's momentum: in [0, 1]. */
    public static void movingAverageMomentum(float momentum) {
        if (!(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("movingAverage: expected a momentum in [0, 1], received " + momentum);
        }
    }

    /** A view of [offset, offset + elements(viewShape)) must lie inside a tensor of this size. */
    public static void viewInside(long size, long offset, int[] viewShape) {
        if (offset < 0 || offset + elements(viewShape) > size) {
            throw new IllegalArgumentException("expected a view inside a tensor of " + size + " elements, received offset "
                    + offset + " and shape " + Tensor.describe(viewShape));
        }
    }

    // ---- the seam's per-op contracts, checked by every backend before any native call ----------------------

    /**
     * {@link Backend#conv2dForward}'s tensors hold the spec's input, kernel, bias and output sizes; bias is null
     * exactly when the spec has none.
     */
    public static void conv2dForward(Conv2dSpec s, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        expect("conv2dForward x", x, s.inputShape());
        expect("conv2dForward kernel", kernel, s.kernelShape());
        bias("conv2dForward bias", s, bias);
        expect("conv2dForward y", y, s.outputShape());
    }

    /**
     * {@link Backend#conv2dBackwardData}'s tensors: dy of the output's size, kernel of the kernel's, dx of the
     * input's.
     */
    public static void conv2dBackwardData(Conv2dSpec s, Tensor dy, Tensor kernel, Tensor dx) {
        expect("conv2dBackwardData dy", dy, s.outputShape());
        expect("conv2dBackwardData kernel", kernel, s.kernelShape());
        expect("conv2dBackwardData dx", dx, s.inputShape());
    }

    /**
     * {@link Backend#conv2dBackwardFilter}'s tensors hold the spec's sizes; dBias is null exactly when the spec has no
     * bias.
     */
    public static void conv2dBackwardFilter(Conv2dSpec s, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        expect("conv2dBackwardFilter x", x, s.inputShape());
        expect("conv2dBackwardFilter dy", dy, s.outputShape());
        expect("conv2dBackwardFilter dKernel", dKernel, s.kernelShape());
        bias("conv2dBackwardFilter dBias", s, dBias);
    }

    /**
     * Inference convolution: kernel has preparedFloats elements (0: Keras' kernel shape), residual is null or y-shaped.
     */
    public static void conv2dInference(ConvInference op, Tensor x, Tensor kernel, long preparedFloats, Tensor bias,
                                       Tensor residual, Tensor y) {
        Conv2dSpec s = op.spec();
        if (op.residual() != (residual != null)) {
            throw new IllegalArgumentException("conv2dInference: expected " + (op.residual() ? "a residual" : "none")
                    + ", received " + (residual == null ? "none" : Tensor.describe(residual.shape())));
        }
        expect("conv2dInference x", x, s.inputShape());
        preparedKernel("conv2dInference kernel", kernel, preparedFloats, s.kernelShape());
        bias("conv2dInference bias", s, bias);
        if (residual != null) {
            expect("conv2dInference residual", residual, s.outputShape());
        }
        expect("conv2dInference y", y, op.outputShape());
    }

    /**
     * Inference dense layer: kernel has preparedFloats elements (0: Keras' (inFeatures, units)), bias (units) is
     * required.
     */
    public static void denseInference(DenseSpec s, Tensor x, Tensor kernel, long preparedFloats, Tensor bias, Tensor y) {
        expect("denseInference x", x, s.inputShape());
        preparedKernel("denseInference kernel", kernel, preparedFloats, s.kernelShape());
        expect("denseInference bias", bias, s.units());
        expect("denseInference y", y, s.outputShape());
    }

    /** A kernel in a backend's prepared layout (preparedFloats elements), or in Keras' shape when that is 0. */
    public static void preparedKernel(String what, Tensor kernel, long preparedFloats, int[] kerasShape) {
        if (preparedFloats == 0) {
            expect(what, kernel, kerasShape);
        } else if (kernel == null || kernel.size() != preparedFloats || kernel.shape().length != 1) {
            // a Keras-shaped kernel of the same size is refused too: it was not prepared
            throw new IllegalArgumentException(what + ": expected a prepared kernel (a vector of " + preparedFloats
                    + " floats, as the backend's prepare op writes it), received "
                    + (kernel == null ? "null" : Tensor.describe(kernel.shape())));
        }
    }

    /** Refuses an op with a depthwise convolution after it, which only conv2dInferenceWithDepthwise runs. */
    public static void notFused(String what, ConvInference op) {
        if (op.depthwise() != null) {
            throw new IllegalArgumentException(what + ": expected a convolution without a depthwise one after it "
                    + "(conv2dInferenceWithDepthwise runs those), received " + op.spec() + " then " + op.depthwise());
        }
    }

    /** An op without a max pooling after it: for backends that fuse none ({@link Backend#fusesMaxPool}). */
    public static void notPooled(String what, ConvInference op) {
        if (op.maxPool() != null) {
            throw new IllegalArgumentException(what + ": expected a convolution without a max pooling after it (only "
                    + "backends whose fusesMaxPool says so run those), received " + op.spec() + " then " + op.maxPool());
        }
    }

    /** A convolution's bias: (filters) when the spec has one, else null. */
    public static void bias(String what, Conv2dSpec s, Tensor bias) {
        if (s.hasBias()) {
            expect(what, bias, s.filters());
        } else if (bias != null) {
            throw new IllegalArgumentException(what + ": expected none (the convolution has no bias), received "
                    + Tensor.describe(bias.shape()));
        }
    }

    /** x and y hold the spec's input and output sizes, and workspace at least workspaceSize floats unless that is 0. */
    public static void pool2dForward(Pool2dSpec s, Tensor x, Tensor y, Tensor workspace, long workspaceSize) {
        expect("pool2dForward x", x, s.inputShape());
        expect("pool2dForward y", y, s.outputShape());
        workspace("pool2dForward", workspace, workspaceSize);
    }

    /**
     * x and dx hold the spec's input size, y and dy its output size, and workspace at least workspaceSize floats unless
     * that is 0.
     */
    public static void pool2dBackward(Pool2dSpec s, Tensor x, Tensor y, Tensor dy, Tensor workspace, Tensor dx,
                                      long workspaceSize) {
        expect("pool2dBackward x", x, s.inputShape());
        expect("pool2dBackward y", y, s.outputShape());
        expect("pool2dBackward dy", dy, s.outputShape());
        expect("pool2dBackward dx", dx, s.inputShape());
        workspace("pool2dBackward", workspace, workspaceSize);
    }

    /** A workspace of at least size floats (pooling's arg-max, a fused ReLU's mask), or none when size is 0. */
    public static void workspace(String what, Tensor workspace, long size) {
        if (size > 0 && (workspace == null || workspace.size() < size)) {
            throw new IllegalArgumentException(what + ": expected a workspace of at least " + size
                    + " floats, received " + (workspace == null ? "null" : workspace.size()));
        }
    }

    /** {@link Backend#denseForward}'s tensors hold the spec's input, kernel, bias (required) and output sizes. */
    public static void denseForward(DenseSpec s, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        expect("denseForward x", x, s.inputShape());
        expect("denseForward kernel", kernel, s.kernelShape());
        expect("denseForward bias", bias, s.units());
        expect("denseForward y", y, s.outputShape());
    }

    /**
     * {@link Backend#denseBackwardData}'s tensors: dy of the output's size, kernel of the kernel's, dx of the
     * input's.
     */
    public static void denseBackwardData(DenseSpec s, Tensor dy, Tensor kernel, Tensor dx) {
        expect("denseBackwardData dy", dy, s.outputShape());
        expect("denseBackwardData kernel", kernel, s.kernelShape());
        expect("denseBackwardData dx", dx, s.inputShape());
    }

    /** {@link Backend#denseBackwardWeights}'s tensors hold the spec's sizes; dBias (units) is required. */
    public static void denseBackwardWeights(DenseSpec s, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        expect("denseBackwardWeights x", x, s.inputShape());
        expect("denseBackwardWeights dy", dy, s.outputShape());
        expect("denseBackwardWeights dKernel", dKernel, s.kernelShape());
        expect("denseBackwardWeights dBias", dBias, s.units());
    }

    /**
     * x and y hold the spec's (batch, height, width, channels) elements, and each per-channel tensor (gamma, the
     * statistics, their gradients) holds channels; messages start with what.
     */
    public static void batchNorm(String what, BatchNormSpec s, Tensor x, Tensor y, Tensor... perChannel) {
        expect(what + " x", x, s.shape());
        expect(what + " y", y, s.shape());
        for (Tensor t : perChannel) {
            expect(what + " per-channel tensor", t, s.channels());
        }
    }

    /**
     * Backend.batchMatMul's arguments: a, b and c each of its size where its items are packed, else holding at least
     * what its layout reaches, with rows no closer than their length; c's products apart from each other; c neither a
     * nor b (as objects: views over the same memory are not caught).
     */
    public static void batchMatMul(BatchMatMulSpec s, Tensor a, Tensor b, Tensor c) {
        matMulOperand("batchMatMul a", a, s.aLayout(), s.aShape(), s.aExtent(), s.heads());
        matMulOperand("batchMatMul b", b, s.bLayout(), s.bShape(), s.bExtent(), s.heads());
        matMulOperand("batchMatMul c", c, s.cLayout(), s.cShape(), s.cExtent(), s.heads());
        if (!nonOverlapping(s.cLayout(), s.batch(), s.heads(), s.m(), s.n())) {
            throw new IllegalArgumentException("batchMatMul c: expected a layout giving each sample's and head's "
                    + s.m() + "x" + s.n() + " product values of its own, received " + s.cLayout() + " for "
                    + s.batch() + " samples of " + s.heads() + " heads, whose products would overlap");
        }
        if (c == a || c == b) {
            throw new IllegalArgumentException("batchMatMul: expected c to be a tensor of its own, received c the same "
                    + "tensor as " + (c == a ? "a" : "b"));
        }
    }

    /**
     * Whether samples x heads x rows x columns of a strided layout (columns adjacent) reach distinct values: taken by
     * stride from the smallest, each axis of more than one index must step past everything the smaller ones reach.
     */
    static boolean nonOverlapping(BatchMatMulSpec.Layout layout, int samples, int heads, int rows, int columns) {
        // the three axes by stride, smallest first, in locals: batchMatMul checks this on every call
        long s0 = layout.sampleStride(), s1 = layout.headStride(), s2 = layout.rowStride();
        long n0 = samples, n1 = heads, n2 = rows;
        if (s0 > s1) {
            long t = s0; s0 = s1; s1 = t;
            t = n0; n0 = n1; n1 = t;
        }
        if (s1 > s2) {
            long t = s1; s1 = s2; s2 = t;
            t = n1; n1 = n2; n2 = t;
        }
        if (s0 > s1) {
            long t = s0; s0 = s1; s1 = t;
            t = n0; n0 = n1; n1 = t;
        }
        long reached = columns; // one past the last value the axes taken so far reach from a start
        reached = step(s0, n0, reached);
        reached = step(s1, n1, reached);
        return step(s2, n2, reached) >= 0;
    }

    /** An axis of count indices stride apart after axes reaching `reached`: what they reach together, or -1 (overlap). */
    private static long step(long stride, long count, long reached) {
        if (reached < 0 || count == 1) {
            return reached;
        }
        return stride < reached ? -1 : stride * (count - 1) + reached; // no overflow: the spec's extent fits a long
    }

    private static void matMulOperand(String what, Tensor t, BatchMatMulSpec.Layout layout, int[] packedShape,
                                      long extent, int heads) {
        if (layout.rowStride() < packedShape[2]) {
            throw new IllegalArgumentException(what + ": expected rows at least " + packedShape[2] + " values apart, "
                    + "received a layout of " + layout);
        }
        if (layout.isPacked(heads, packedShape[1], packedShape[2])) {
            expect(what, t, packedShape);
        } else if (t == null || t.size() < extent) {
            throw new IllegalArgumentException(what + ": expected at least " + extent + " values for " + packedShape[0]
                    + " matrices of " + packedShape[1] + "x" + packedShape[2] + " laid out as " + layout + ", received "
                    + (t == null ? "null" : Tensor.describe(t.shape())));
        }
    }

    /** Backend.layerNormForward's arguments: sizes, and mean and variance both given (training) or both null. */
    public static void layerNormForward(LayerNormSpec s, Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean,
                                        Tensor variance) {
        expect("layerNormForward x", x, s.shape());
        expect("layerNormForward y", y, s.shape());
        expect("layerNormForward gamma", gamma, s.width());
        expect("layerNormForward beta", beta, s.width());
        if ((mean == null) != (variance == null)) {
            throw new IllegalArgumentException("layerNormForward: expected mean and variance both given (training) or "
                    + "both null (inference), received " + (mean == null ? "only variance" : "only mean"));
        }
        if (mean != null) {
            expect("layerNormForward mean", mean, s.rows());
            expect("layerNormForward variance", variance, s.rows());
        }
    }

    /** Backend.layerNormBackward's arguments: every tensor given, each of its size. */
    public static void layerNormBackward(LayerNormSpec s, Tensor x, Tensor dy, Tensor gamma, Tensor mean,
                                         Tensor variance, Tensor dx, Tensor dGamma, Tensor dBeta) {
        expect("layerNormBackward x", x, s.shape());
        expect("layerNormBackward dy", dy, s.shape());
        expect("layerNormBackward dx", dx, s.shape());
        expect("layerNormBackward gamma", gamma, s.width());
        expect("layerNormBackward dGamma", dGamma, s.width());
        expect("layerNormBackward dBeta", dBeta, s.width());
        expect("layerNormBackward mean", mean, s.rows());
        expect("layerNormBackward variance", variance, s.rows());
    }

    /**
     * x and out are (batch, ..., channels) and gate (batch, ..., channels) with gate's middle of size 1 (Multiply's
     * channel gate); returns {batch, pixels, channels}.
     */
    public static int[] channelGate(String what, Tensor x, Tensor gate, Tensor out) {
        sameSize(what, x, out);
        int[] xs = x.shape();
        int[] gs = gate.shape();
        int batch = xs[0];
        int channels = xs[xs.length - 1];
        if (gs[0] != batch || gs[gs.length - 1] != channels || gate.size() != (long) batch * channels
                || x.size() % ((long) batch * channels) != 0) {
            throw new IllegalArgumentException(what + ": expected a gate of shape (" + batch + ", 1, 1, " + channels
                    + ") for x of shape " + Tensor.describe(xs) + ", received " + Tensor.describe(gs));
        }
        return new int[] {batch, Math.toIntExact(x.size() / ((long) batch * channels)), channels};
    }

    /** Throws unless a is element-wise (not softmax): what an op that fuses it after another can apply. */
    public static void elementwise(String what, dev.osprey.Activation a) {
        if (a.kind() == dev.osprey.Activation.Kind.SOFTMAX) {
            throw new IllegalArgumentException(what + ": expected an element-wise activation, received softmax");
        }
    }

    /** Returns (rows, last axis) for softmax, (size, 1) for element-wise activations. */
    public static int[] activation(String what, dev.osprey.Activation a, Tensor x, Tensor y) {
        if (x != null) {
            sameSize(what, y, x);
        }
        if (a.kind() != dev.osprey.Activation.Kind.SOFTMAX) {
            return new int[] {(int) y.size(), 1};
        }
        int[] shape = y.shape();
        int last = shape[shape.length - 1];
        return new int[] {(int) (y.size() / last), last};
    }

    /** small holds the spec's unpadded size and large its padded size (x and y forward, dx and dy backward). */
    public static void pad2d(String what, Pad2dSpec s, Tensor small, Tensor large) {
        expect(what + " unpadded", small, s.inputShape());
        expect(what + " padded", large, s.outputShape());
    }

    /** x and y hold the spec's values. */
    public static void permute(String what, PermuteSpec s, Tensor x, Tensor y) {
        if (x.size() != s.size() || y.size() != s.size()) {
            throw new IllegalArgumentException(what + ": expected x and y of " + s.size() + " values (" + s
                    + "), received " + x.size() + " and " + y.size());
        }
    }

    /** Returns the widths of the parts; their sum must be the whole's row. */
    public static int[] concat(String what, int rows, java.util.List<Tensor> parts, Tensor whole) {
        if (rows <= 0 || parts.isEmpty() || whole.size() % rows != 0) {
            throw new IllegalArgumentException(what + ": expected rows > 0 dividing the whole's " + whole.size()
                    + " values and at least one part, received rows " + rows + " and " + parts.size() + " parts");
        }
        int[] widths = new int[parts.size()];
        long total = 0;
        for (int i = 0; i < widths.length; i++) {
            Tensor p = parts.get(i);
            if (p.size() % rows != 0) {
                throw new IllegalArgumentException(what + ": expected part " + i + " to hold a whole number of "
                        + rows + " rows, received " + Tensor.describe(p.shape()));
            }
            widths[i] = (int) (p.size() / rows);
            total += widths[i];
        }
        if (total * rows != whole.size()) {
            throw new IllegalArgumentException(what + ": expected the parts' " + total * rows + " values to fill the "
                    + "whole, received a whole of " + Tensor.describe(whole.shape()));
        }
        return widths;
    }

    /**
     * Returns (rows, width, weighted): outputs is (rows, width), targets (rows, width) or (rows, width + 1) with the
     * rows' weights last, dOutputs (when not null) like outputs, stats two values.
     */
    public static int[] loss(LossKind kind, Tensor outputs, Tensor targets, Tensor dOutputs, Tensor stats) {
        String what = "loss " + kind;
        if (kind == null) {
            throw new IllegalArgumentException("loss: expected a loss kind, received null");
        }
        int[] shape = rows(what, outputs);
        int rows = shape[0];
        int width = shape[1];
        int[] t = targets == null ? null : targets.shape();
        boolean weighted = t != null && t.length == 2 && t[0] == rows && t[1] == width + 1;
        if (!weighted) {
            if (t == null || t.length != 2 || t[0] != rows || t[1] != width) {
                throw new IllegalArgumentException(what + " targets: expected shape " + Tensor.describe(new int[] {rows, width})
                        + " or, with row weights, " + Tensor.describe(new int[] {rows, width + 1}) + ", received "
                        + (targets == null ? "null" : Tensor.describe(targets.shape())));
            }
        }
        if (dOutputs != null) {
            expect(what + " gradient", dOutputs, shape);
        }
        expect(what + " stats", stats, 2);
        return new int[] {rows, width, weighted ? 1 : 0};
    }

    /** Returns (rows, width, target stride); checks the scores' kind, k and the counts' size. */
    public static int[] classificationCounts(Tensor outputs, dev.osprey.Activation.Kind scores, Tensor targets, int k,
                                             Tensor counts, long firstRow) {
        firstRow("classificationCounts", firstRow);
        int[] shape = scored("classificationCounts", outputs, scores, targets);
        int width = shape[1];
        if (k < 1) {
            throw new IllegalArgumentException("classificationCounts: expected k >= 1, received " + k);
        }
        expect("classificationCounts counts", counts, dev.osprey.metrics.ClassificationCounts.size(width));
        return shape;
    }

    /** As {@link #classificationCounts}, into sums of ErrorSums.SIZE floats; returns {rows, width, target stride}. */
    public static int[] errorSums(Tensor outputs, dev.osprey.Activation.Kind scores, Tensor targets, Tensor sums,
                                  long firstRow) {
        firstRow("errorSums", firstRow);
        int[] shape = scored("errorSums", outputs, scores, targets);
        expect("errorSums sums", sums, dev.osprey.metrics.ErrorSums.SIZE);
        return shape;
    }

    private static void firstRow(String op, long firstRow) {
        if (firstRow < 0) {
            throw new IllegalArgumentException(op + ": expected a first row >= 0, received " + firstRow);
        }
    }

    /**
     * outputs (rows, width), targets (rows, width) or (rows, width + 1), scores through softmax, sigmoid or as they
     * are; returns {rows, width, target stride}.
     */
    private static int[] scored(String op, Tensor outputs, dev.osprey.Activation.Kind scores, Tensor targets) {
        int[] shape = rows(op, outputs);
        int rows = shape[0];
        int width = shape[1];
        int[] t = targets == null ? null : targets.shape();
        long stride = t != null && t.length == 2 && t[0] == rows ? t[1] : -1;
        if (stride != width && stride != width + 1) {
            throw new IllegalArgumentException(op + " targets: expected shape "
                    + Tensor.describe(new int[] {rows, width}) + " or " + Tensor.describe(new int[] {rows, width + 1})
                    + ", received " + (targets == null ? "null" : Tensor.describe(targets.shape())));
        }
        if (scores != null && scores != dev.osprey.Activation.Kind.SOFTMAX
                && scores != dev.osprey.Activation.Kind.SIGMOID) {
            throw new IllegalArgumentException(op + ": expected scores through softmax, sigmoid or as they are, "
                    + "received " + scores);
        }
        return new int[] {rows, width, (int) stride};
    }

    /** weights and gradient (when not null) hold as many values; stats two. */
    public static void regularize(Tensor weights, Tensor gradient, float l1, float l2, Tensor stats) {
        if (gradient != null) {
            sameSize("regularize gradient", weights, gradient);
        }
        expect("regularize stats", stats, 2);
        if (!(l1 >= 0 && l2 >= 0) || Float.isInfinite(l1) || Float.isInfinite(l2)) {
            throw new IllegalArgumentException("regularize: expected finite l1, l2 >= 0, received " + l1 + ", " + l2);
        }
    }

    /** rate lies in [0, 1), and x, mask and y hold as many elements as each other. */
    public static void dropoutForward(float rate, Tensor x, Tensor mask, Tensor y) {
        if (!(rate >= 0f && rate < 1f)) {
            throw new IllegalArgumentException("dropout: expected 0 <= rate < 1, received " + rate);
        }
        sameSize("dropoutForward", x, mask, y);
    }

    // ---- resident data ------------------------------------------------------------------------------------

    /** Samples of a resident data set: x holds whole samples, targets one row of classes per sample. */
    public static int residentData(float[] x, int sampleSize, float[] targets, int classes) {
        if (sampleSize <= 0 || classes <= 0) {
            throw new IllegalArgumentException("resident data: expected sample size and classes > 0, received "
                    + sampleSize + " and " + classes);
        }
        if (x.length == 0 || x.length % sampleSize != 0) {
            throw new IllegalArgumentException("resident data: expected a positive whole number of samples of "
                    + sampleSize + " floats, received " + x.length + " floats");
        }
        int samples = x.length / sampleSize;
        if ((long) samples * classes != targets.length) {
            throw new IllegalArgumentException("resident data: expected " + samples + " target rows of " + classes
                    + " (" + (long) samples * classes + " floats), received " + targets.length + " floats");
        }
        return samples;
    }

    /** An epoch order must be a permutation of 0..samples-1. */
    public static void epochOrder(int[] order, int samples) {
        if (order.length != samples) {
            throw new IllegalArgumentException("resident data: expected an order of " + samples + " samples, received "
                    + order.length);
        }
        boolean[] seen = new boolean[samples];
        for (int i : order) {
            if (i < 0 || i >= samples || seen[i]) {
                throw new IllegalArgumentException("resident data: expected a permutation of 0.." + (samples - 1)
                        + ", received " + (i < 0 || i >= samples ? "index " + i : "index " + i + " twice"));
            }
            seen[i] = true;
        }
    }

    /** A gather of count rows from position from of an order of this length into x and targets. */
    public static void gather(int from, int count, int orderLength, Tensor x, int sampleSize, Tensor targets,
                              int classes) {
        if (count <= 0 || from < 0 || from + count > orderLength) {
            throw new IllegalArgumentException("resident data: expected rows inside the epoch's order of " + orderLength
                    + " (was startEpoch called?), received rows " + from + " to " + (from + count));
        }
        expect("resident data gather x", x, count, sampleSize);
        expect("resident data gather targets", targets, count, classes);
    }
}
