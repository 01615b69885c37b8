package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The normals of a given standard deviation by their statistics (Keras' RandomNormal and TruncatedNormal: the truncated
 * one redraws beyond two standard deviations and is not rescaled, so its spread is 0.88 of the asked-for one), and their
 * configs in Keras' form.
 */
class InitializerTest {
    private static double[] meanAndStd(float[] v) {
        double sum = 0, squares = 0;
        for (float x : v) {
            sum += x;
            squares += (double) x * x;
        }
        double mean = sum / v.length;
        return new double[] {mean, Math.sqrt(squares / v.length - mean * mean)};
    }

    @Test
    void randomNormalDrawsThatStandardDeviation() {
        float[] v = new float[200_000];
        Initializer.randomNormal(0.02).fill(v, new int[] {v.length}, new SplittableRandom(1));
        double[] s = meanAndStd(v);
        assertEquals(0, s[0], 2e-4);
        assertEquals(0.02, s[1], 2e-4);
    }

    @Test
    void truncatedNormalRedrawsBeyondTwoStandardDeviationsWithoutRescaling() {
        float[] v = new float[200_000];
        Initializer.truncatedNormal(0.5).fill(v, new int[] {v.length}, new SplittableRandom(2));
        double max = 0;
        for (float x : v) {
            max = Math.max(max, Math.abs(x));
        }
        assertTrue(max <= 1.0 && max > 0.99, "every draw within two standard deviations, some near it: " + max);
        assertEquals(0.5 * 0.8796, meanAndStd(v)[1], 3e-3);
    }

    @Test
    void normalsKeepTheirStandardDeviationInKerasConfigs() {
        Initializer normal = Initializer.randomNormal(0.02);
        assertEquals(Map.of("class_name", "RandomNormal", "config", Map.of("mean", 0.0, "stddev", 0.02)),
                normal.toConfig());
        assertEquals(normal, Initializer.fromConfig(normal.toConfig()));
        Initializer truncated = Initializer.truncatedNormal(0.1);
        assertEquals(truncated, Initializer.fromConfig(truncated.toConfig()));
        assertEquals(Initializer.truncatedNormal(0.05), Initializer.fromConfig(Map.of("class_name", "TruncatedNormal",
                "config", Map.of())), "Keras' default stddev");
        assertThrows(IllegalArgumentException.class, () -> Initializer.fromConfig(Map.of("class_name", "RandomNormal",
                "config", Map.of("mean", 1.0, "stddev", 0.1))));
        assertThrows(IllegalArgumentException.class, () -> Initializer.randomNormal(0));
    }
}
