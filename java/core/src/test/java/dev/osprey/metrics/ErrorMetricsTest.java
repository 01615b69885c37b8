package dev.osprey.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Adam;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keras' regression metrics (mae, mse, root_mean_squared_error) on a model of one regression output: fit reports them
 * for the training and the validation data, the squared error equals a squared-error loss, evaluate's figures are
 * those computed from predict, and a saved model keeps them.
 */
class ErrorMetricsTest {
    private static final int FEATURES = 5;
    private static final int OUTPUTS = 3;

    private static NDArray[] data(int rows, long seed) {
        Random r = new Random(seed);
        float[] x = new float[rows * FEATURES];
        float[] y = new float[rows * OUTPUTS];
        for (int i = 0; i < rows; i++) {
            for (int f = 0; f < FEATURES; f++) {
                x[i * FEATURES + f] = (float) r.nextGaussian();
            }
            for (int o = 0; o < OUTPUTS; o++) {
                y[i * OUTPUTS + o] = x[i * FEATURES + o] - 0.5f * x[i * FEATURES + o + 1] + 0.1f * (float) r.nextGaussian();
            }
        }
        return new NDArray[] {new NDArray(x, rows, FEATURES), new NDArray(y, rows, OUTPUTS)};
    }

    private static Sequential regression() {
        return (Sequential) new Sequential(new Dense(8, Activation.RELU).inputShape(FEATURES), new Dense(OUTPUTS))
                .device(Device.cpu()).seed(5)
                .compile(new Adam(0.01), Loss.meanSquaredError(), Metric.MEAN_ABSOLUTE_ERROR,
                        Metric.MEAN_SQUARED_ERROR, Metric.ROOT_MEAN_SQUARED_ERROR);
    }

    @Test
    void fitAndEvaluateReportTheErrorsOfWhatPredictReturns(@TempDir Path dir) throws java.io.IOException {
        NDArray[] d = data(60, 3);
        try (Sequential m = regression()) {
            History h = m.fit(d[0], d[1], FitOptions.defaults().epochs(3).batchSize(8).seed(2).verbose(false)
                    .validationSplit(0.25));
            for (String prefix : new String[] {"", "val_"}) {
                for (int e = 0; e < 3; e++) {
                    double mse = h.get(prefix + "mse").get(e);
                    assertEquals(h.get(prefix + "loss").get(e), mse, 1e-5, prefix + "mse is the squared-error loss");
                    assertEquals(Math.sqrt(mse), h.get(prefix + "root_mean_squared_error").get(e), 1e-6);
                    assertTrue(h.get(prefix + "mae").get(e) > 0, prefix + "mae of epoch " + (e + 1));
                }
            }
            assertTrue(h.get("val_mae").get(2) < h.get("val_mae").get(0), "learns: " + h.get("val_mae"));
            NDArray[] test = data(30, 4);
            Map<String, Double> evaluated = m.evaluate(test[0], test[1], 7);
            assertEquals(List.of("loss", "mae", "mse", "root_mean_squared_error"), List.copyOf(evaluated.keySet()));
            float[] p = m.predict(test[0], 7).data();
            double absolute = 0;
            double squared = 0;
            for (int i = 0; i < p.length; i++) {
                double err = p[i] - test[1].data()[i];
                absolute += Math.abs(err);
                squared += err * err;
            }
            assertEquals(absolute / p.length, evaluated.get("mae"), 1e-6);
            assertEquals(squared / p.length, evaluated.get("mse"), 1e-6);
            assertEquals(Math.sqrt(squared / p.length), evaluated.get("root_mean_squared_error"), 1e-6);
            Path file = dir.resolve("regression.osprey");
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(m.metrics(), loaded.metrics());
                Map<String, Double> again = loaded.evaluate(test[0], test[1], 7);
                assertEquals(evaluated.keySet(), again.keySet());
                evaluated.forEach((k, v) -> assertEquals(v, again.get(k), 1e-6, k));
            }
        }
    }
}
