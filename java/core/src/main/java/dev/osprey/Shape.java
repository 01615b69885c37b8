package dev.osprey;

import java.util.Arrays;

/** The shape of one sample, without the batch dimension: (H, W, C) for images, (features) after Flatten. */
public final class Shape {
    private final int[] dims;

    private Shape(int[] dims) {
        this.dims = dims;
    }

    /**
     * A shape of these dimensions, each > 0, of at most {@link Limits#maxTensorElements()} values in all: a layer
     * whose output per sample is larger is refused where it is declared (a model file can't claim one).
     */
    public static Shape of(int... dims) {
        if (dims.length == 0) {
            throw new IllegalArgumentException("expected at least one dimension, received none");
        }
        long limit = Math.min(Integer.MAX_VALUE, Limits.current().maxTensorElements());
        long values = 1;
        for (int d : dims) {
            if (d <= 0) {
                throw new IllegalArgumentException("expected every dimension > 0, received " + Arrays.toString(dims));
            }
            values *= d;
            if (values > limit) {
                throw new Limits.LimitExceededException("expected a sample of at most " + limit + " values ("
                        + Limits.describe("maxTensorElements", limit) + "), received shape " + Arrays.toString(dims));
            }
        }
        return new Shape(dims.clone());
    }

    /** The number of dimensions. */
    public int rank() {
        return dims.length;
    }

    /** Dimension i, counted from 0. */
    public int dim(int i) {
        return dims[i];
    }

    /** The dimensions (a copy). */
    public int[] dims() {
        return dims.clone();
    }

    /** Number of values in one sample. */
    public int size() {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        return n;
    }

    /** (batch, dims...). */
    public int[] withBatch(int batch) {
        int[] out = new int[dims.length + 1];
        out[0] = batch;
        System.arraycopy(dims, 0, out, 1, dims.length);
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    /** Keras' notation, e.g. (28, 28, 1). */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < dims.length; i++) {
            b.append(i == 0 ? "" : ", ").append(dims[i]);
        }
        return b.append(dims.length == 1 ? ",)" : ")").toString();
    }
}
