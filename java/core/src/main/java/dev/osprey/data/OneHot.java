package dev.osprey.data;

import dev.osprey.NDArray;

/** Integer labels (N) to one-hot rows (N, classes), and back. Keras' to_categorical. */
public final class OneHot {
    private OneHot() {
    }

    /**
     * Rows (N, classes) with a 1 at each label's class and 0 elsewhere, from labels (N) or (N, 1). Throws
     * IllegalArgumentException unless classes > 0 and every label is a whole number in [0, classes).
     */
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

    /**
     * The class of each row of (N, classes): the index of its largest value, the first one on ties. Works on
     * probabilities as well as one-hot rows.
     */
    public static int[] decode(NDArray oneHot) {
        return oneHot.argMax();
    }
}
