package dev.osprey;

import java.util.Arrays;

/**
 * A float array with a shape, batch first: images (N, H, W, C) as in Keras, labels (N) or one-hot (N, classes).
 * Host memory only; the backend copies batches of it in and out.
 */
public final class NDArray {
    private final float[] data;
    private final int[] shape;

    /** Wraps data (not copied) in this shape, batch first; throws unless the shape holds exactly data.length values. */
    public NDArray(float[] data, int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("expected dimensions >= 0, received " + Arrays.toString(shape));
            }
            n *= d;
        }
        if (shape.length == 0 || n != data.length) {
            throw new IllegalArgumentException("expected " + n + " values for shape " + Arrays.toString(shape)
                    + ", received " + data.length);
        }
        this.data = data;
        this.shape = shape.clone();
    }

    /** An array of this shape, all zeros. */
    public static NDArray zeros(int... shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return new NDArray(new float[Math.toIntExact(n)], shape);
    }

    /** The backing array (no copy): row-major, batch first. */
    public float[] data() {
        return data;
    }

    /** The shape, batch first (a copy). */
    public int[] shape() {
        return shape.clone();
    }

    /** Size of the first dimension. */
    public int rows() {
        return shape[0];
    }

    /** Shape of one row, e.g. (28, 28, 1). */
    public Shape sampleShape() {
        return shape.length == 1 ? Shape.of(1) : Shape.of(Arrays.copyOfRange(shape, 1, shape.length));
    }

    /** Values in one row. */
    public int rowSize() {
        return rows() == 0 ? 0 : data.length / rows();
    }

    /** The value at this index, one coordinate per dimension. */
    public float get(int... index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("expected " + shape.length + " indices, received " + index.length);
        }
        int flat = 0;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " outside shape " + Arrays.toString(shape));
            }
            flat = flat * shape[i] + index[i];
        }
        return data[flat];
    }

    /** Rows [from, to) as a new array. */
    public NDArray slice(int from, int to) {
        if (from < 0 || to > rows() || from > to) {
            throw new IllegalArgumentException("expected 0 <= from <= to <= " + rows() + ", received [" + from + ", " + to + ")");
        }
        int[] s = shape.clone();
        s[0] = to - from;
        return new NDArray(Arrays.copyOfRange(data, from * rowSize(), to * rowSize()), s);
    }

    /** Index of the largest value in each row of an (N, classes) array. */
    public int[] argMax() {
        int cols = rowSize();
        int[] out = new int[rows()];
        for (int r = 0; r < rows(); r++) {
            int best = 0;
            for (int c = 1; c < cols; c++) {
                if (data[r * cols + c] > data[r * cols + best]) {
                    best = c;
                }
            }
            out[r] = best;
        }
        return out;
    }

    /** The shape in parentheses, e.g. (60000, 28, 28, 1): for messages. */
    public String shapeString() {
        return Arrays.toString(shape).replace('[', '(').replace(']', ')');
    }

    @Override
    public String toString() {
        return "NDArray" + shapeString();
    }
}
