package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Keras' label smoothing: softened targets, the loss evaluate reports against them, and model files keep it. */
class LabelSmoothingTest {
    @TempDir
    Path dir;

    @Test
    void targetsAreSoftenedTowardsTheUniformDistribution() {
        float[] out = new float[6];
        Loss.sparseCategoricalCrossentropy().labelSmoothing(0.3).targets(new float[] {2, 0}, 2, 3, out);
        assertArrayEquals(new float[] {0.1f, 0.1f, 0.8f, 0.8f, 0.1f, 0.1f}, out, 1e-7f);
        Loss.categoricalCrossentropy().labelSmoothing(0.5).targets(new float[] {0, 1, 0.5f, 0.5f}, 2, 2, out);
        assertArrayEquals(new float[] {0.25f, 0.75f, 0.5f, 0.5f}, java.util.Arrays.copyOf(out, 4), 1e-7f);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Loss.categoricalCrossentropy().labelSmoothing(1));
        assertEquals("categorical_crossentropy: expected label smoothing in [0, 1), received 1.0", e.getMessage());
    }

    @Test
    void evaluateReportsTheCrossEntropyAgainstSmoothedTargetsAndTheFileKeepsIt() throws Exception {
        Random r = new Random(5);
        int n = 32;
        float[] x = new float[n * 4];
        float[] y = new float[n];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(3);
        }
        NDArray xs = new NDArray(x, n, 4);
        NDArray ys = new NDArray(y, n);
        double s = 0.2;
        Path file = dir.resolve("smooth.osprey");
        try (Model model = new Sequential(new Dense(3, Activation.SOFTMAX).inputShape(4)).device(Device.cpu())
                .compile(new Adam(), Loss.sparseCategoricalCrossentropy().labelSmoothing(s), Metric.ACCURACY)) {
            float[] p = model.predict(xs).data();
            double expected = 0;
            for (int i = 0; i < n; i++) {
                for (int c = 0; c < 3; c++) {
                    double target = (c == (int) y[i] ? 1 - s : 0) + s / 3;
                    expected -= target * Math.log(p[i * 3 + c]);
                }
            }
            Map<String, Double> logs = model.evaluate(xs, ys, 8);
            assertEquals(expected / n, logs.get("loss"), 1e-5);
            model.save(file);
        }
        try (Model loaded = Model.load(file)) {
            assertEquals(s, loaded.loss().labelSmoothing());
        }
        assertTrue(java.nio.file.Files.size(file) > 0);
    }
}
