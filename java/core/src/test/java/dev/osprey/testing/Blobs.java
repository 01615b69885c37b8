package dev.osprey.testing;

import dev.osprey.NDArray;
import java.util.Random;

/** A tiny seeded classification set for training tests: three classes of 6x6 images, a bright row 0, 2 or 4 over noise. */
public final class Blobs {
    private Blobs() {
    }

    /** {samples (n, 6, 6, 1), labels (n)}: the same seed gives the same set. */
    public static NDArray[] of(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * 36];
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            int c = r.nextInt(3);
            y[i] = c;
            for (int j = 0; j < 36; j++) {
                x[i * 36 + j] = 0.3f * r.nextFloat() + (j / 6 == 2 * c ? 1f : 0f);
            }
        }
        return new NDArray[] {new NDArray(x, n, 6, 6, 1), new NDArray(y, n)};
    }
}
