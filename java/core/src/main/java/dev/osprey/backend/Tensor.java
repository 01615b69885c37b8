package dev.osprey.backend;

import java.util.Arrays;

/**
 * A buffer of floats owned by a backend, with a logical row-major shape. Images are (N, H, W, C), as in Keras.
 * A tensor is created by {@link Memory#allocate} or {@link Backend#view} and freed by its owner's close().
 */
public interface Tensor {
    /** The logical shape, outermost axis first; a copy, so changing it changes nothing. */
    int[] shape();

    /** Number of elements. */
    default long size() {
        long n = 1;
        for (int d : shape()) {
            n *= d;
        }
        return n;
    }

    /** A shape as error messages write it: (2, 3, 4). */
    static String describe(int[] shape) {
        return Arrays.toString(shape).replace('[', '(').replace(']', ')');
    }
}
