package dev.osprey.data;

import dev.osprey.NDArray;

/** Integer labels (N) to one-hot rows (N, classes), and back. Keras' to_categorical. */
public final class OneHot {
    private OneHot() {
    }

    public static NDArray encode(NDArray labels, int classes) {
        if (classes <= 0) {
            throw new IllegalArgumentException("OneHot: expected classes > 0, received " + classes);
        }
        if (labels.rowSize() != 1) {
            throw new IllegalArgumentException("OneHot: expected labels of shape (N) or (N, 1), received "
                    + labels.shapeString());
        }
        float[] d = labels.data();
        float[] out = new float[d.length * classes];
        for (int i = 0; i < d.length; i++) {
            int c = (int) d[i];
            if (c != d[i] || c < 0 || c >= classes) {
                throw new IllegalArgumentException("OneHot: expected integer labels in [0, " + classes + "), received "
                        + d[i] + " at row " + i);
            }
            out[i * classes + c] = 1f;
        }
        return new NDArray(out, d.length, classes);
    }

    public static int[] decode(NDArray oneHot) {
        return oneHot.argMax();
    }
}
