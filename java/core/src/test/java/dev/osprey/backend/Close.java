package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;

/** One closeness check for every test: prints the largest error and the first mismatches. */
public final class Close {
    private Close() {
    }

    /** |a - e| <= tolerance * max(1, |e|) element-wise: relative for large values, absolute near zero. */
    public static void assertClose(String what, float[] expected, float[] actual, double tolerance) {
        if (expected.length != actual.length) {
            fail(what + ": expected " + expected.length + " values, received " + actual.length);
        }
        double worst = 0;
        int worstAt = -1;
        StringBuilder first = new StringBuilder();
        int mismatches = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs((double) actual[i] - expected[i]) / Math.max(1.0, Math.abs(expected[i]));
            if (!(err <= tolerance)) {
                if (mismatches++ < 5) {
                    first.append(String.format("%n  [%d] expected %.7g, received %.7g", i, expected[i], actual[i]));
                }
            }
            if (err > worst || Double.isNaN(err)) {
                worst = err;
                worstAt = i;
            }
        }
        if (mismatches > 0) {
            fail(String.format("%s: %d of %d values differ by more than %.1e (largest %.3e at %d):%s", what,
                    mismatches, expected.length, tolerance, worst, worstAt, first));
        }
    }

    /** Whether {@link #assertClose} would pass. */
    public static boolean isClose(float[] expected, float[] actual, double tolerance) {
        if (expected.length != actual.length) {
            return false;
        }
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs((double) actual[i] - expected[i]) / Math.max(1.0, Math.abs(expected[i]));
            if (!(err <= tolerance)) {
                return false;
            }
        }
        return true;
    }

    public static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian());
        }
        return a;
    }
}
