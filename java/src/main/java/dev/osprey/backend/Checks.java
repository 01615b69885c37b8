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
}
