package dev.osprey.backend;

import java.util.Arrays;

/**
 * A buffer of floats owned by a backend, with a logical row-major shape. Images are (N, H, W, C), as in Keras.
 * A tensor is created by {@link Backend#allocate} or {@link Backend#view} and freed by its owner's close().
 */
public interface Tensor {
    int[] shape();

    /** Number of elements. */
    default long size() {
        long n = 1;
        for (int d : shape()) {
            n *= d;
        }
        return n;
    }

    static String describe(int[] shape) {
        return Arrays.toString(shape).replace('[', '(').replace(']', ')');
    }
}
