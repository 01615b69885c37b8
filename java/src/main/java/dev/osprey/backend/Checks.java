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

    /** The tensor has as many elements as this shape. */
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

    /** A view of [offset, offset + elements(viewShape)) must lie inside a tensor of this size. */
    public static void viewInside(long size, long offset, int[] viewShape) {
        if (offset < 0 || offset + elements(viewShape) > size) {
            throw new IllegalArgumentException("expected a view inside a tensor of " + size + " elements, received offset "
                    + offset + " and shape " + Tensor.describe(viewShape));
        }
    }

    // ---- the seam's per-op contracts, checked by every backend before any native call ----------------------

    public static void conv2dForward(Conv2dSpec s, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        expect("conv2dForward x", x, s.inputShape());
        expect("conv2dForward kernel", kernel, s.kernelShape());
        expect("conv2dForward bias", bias, s.filters());
        expect("conv2dForward y", y, s.outputShape());
    }

    public static void conv2dBackwardData(Conv2dSpec s, Tensor dy, Tensor kernel, Tensor dx) {
        expect("conv2dBackwardData dy", dy, s.outputShape());
        expect("conv2dBackwardData kernel", kernel, s.kernelShape());
        expect("conv2dBackwardData dx", dx, s.inputShape());
    }

    public static void conv2dBackwardFilter(Conv2dSpec s, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        expect("conv2dBackwardFilter x", x, s.inputShape());
        expect("conv2dBackwardFilter dy", dy, s.outputShape());
        expect("conv2dBackwardFilter dKernel", dKernel, s.kernelShape());
        expect("conv2dBackwardFilter dBias", dBias, s.filters());
    }

    public static void maxPool2dForward(Pool2dSpec s, Tensor x, Tensor y) {
        expect("maxPool2dForward x", x, s.inputShape());
        expect("maxPool2dForward y", y, s.outputShape());
    }

    public static void maxPool2dBackward(Pool2dSpec s, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        expect("maxPool2dBackward x", x, s.inputShape());
        expect("maxPool2dBackward y", y, s.outputShape());
        expect("maxPool2dBackward dy", dy, s.outputShape());
        expect("maxPool2dBackward dx", dx, s.inputShape());
    }

    public static void denseForward(DenseSpec s, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        expect("denseForward x", x, s.inputShape());
        expect("denseForward kernel", kernel, s.kernelShape());
        expect("denseForward bias", bias, s.units());
        expect("denseForward y", y, s.outputShape());
    }

    public static void denseBackwardData(DenseSpec s, Tensor dy, Tensor kernel, Tensor dx) {
        expect("denseBackwardData dy", dy, s.outputShape());
        expect("denseBackwardData kernel", kernel, s.kernelShape());
        expect("denseBackwardData dx", dx, s.inputShape());
    }

    public static void denseBackwardWeights(DenseSpec s, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        expect("denseBackwardWeights x", x, s.inputShape());
        expect("denseBackwardWeights dy", dy, s.outputShape());
        expect("denseBackwardWeights dKernel", dKernel, s.kernelShape());
        expect("denseBackwardWeights dBias", dBias, s.units());
    }

    /** Returns (rows, classes). */
    public static int[] softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor dLogits, Tensor stats) {
        int[] shape = rows("softmaxCrossEntropy", logits);
        expect("softmaxCrossEntropy targets", targets, shape);
        if (dLogits != null) {
            expect("softmaxCrossEntropy dLogits", dLogits, shape);
        }
        expect("softmaxCrossEntropy stats", stats, 2);
        return shape;
    }

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
