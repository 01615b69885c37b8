package dev.osprey.layers;

import dev.osprey.NDArray;
import java.util.Random;

/** Seeded standard-normal arrays for the layers' tests. */
final class GaussianArrays {
    private GaussianArrays() {
    }

    /** An array of this shape, its values drawn from r's standard normal. */
    static NDArray of(Random r, int... shape) {
        int size = 1;
        for (int d : shape) {
            size *= d;
        }
        float[] v = new float[size];
        for (int i = 0; i < size; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new NDArray(v, shape);
    }
}
