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

    /**
     * Errors need no classification counts, which grow with an output's width squared: a regression output of 50,000
     * values (50,000^2 counts would not fit one tensor) reports mae alone, or beside a classifier's precision in a
     * model of two outputs, where only the classifier keeps classification counts.
     */
    @Test
    void aWideRegressionOutputKeepsItsErrorSumsAlone() {
        int wide = 50_000;
        Random r = new Random(8);
        float[] x = new float[4 * FEATURES];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        NDArray inputs = new NDArray(x, 4, FEATURES);
        NDArray targets = new NDArray(new float[4 * wide], 4, wide);
        try (Sequential m = new Sequential(new Dense(wide).inputShape(FEATURES))) {
            m.device(Device.cpu()).compile(new Adam(), Loss.meanSquaredError(), Metric.MEAN_ABSOLUTE_ERROR);
            Map<String, Double> e = m.evaluate(inputs, targets, 4);
            double absolute = 0;
            for (float v : m.predict(inputs, 4).data()) {
                absolute += Math.abs(v);
            }
            assertEquals(absolute / (4.0 * wide), e.get("mae"), 1e-6);
        }
        dev.osprey.Input in = dev.osprey.Input.shape(FEATURES);
        try (Model two = new Model(List.of(in), List.of(new Dense(3, Activation.SOFTMAX).name("kind").apply(in),
                new Dense(wide).name("box").apply(in)))) {
            two.device(Device.cpu()).compile(new Adam(), List.of(Loss.sparseCategoricalCrossentropy(),
                    Loss.meanSquaredError()), Metric.PRECISION, Metric.MEAN_ABSOLUTE_ERROR);
            Map<String, Double> e = two.evaluate(List.of(inputs), List.of(new NDArray(new float[] {0, 1, 2, 1}, 4),
                    targets), 4);
            assertTrue(e.containsKey("kind_precision") && e.containsKey("kind_mae") && e.containsKey("box_mae"),
                    e.toString());
            History h = two.fit(List.of(inputs), List.of(new NDArray(new float[] {0, 1, 2, 1}, 4), targets),
                    FitOptions.defaults().epochs(1).batchSize(2).verbose(false));
            assertTrue(h.get("box_mae").get(0) > 0, h.history().toString());
        }
    }

    /**
     * Compiled with errors alone, then with a classification metric, then errors alone again: each evaluate reports the
     * same mae (the counts of each layout are kept and zeroed, not mixed).
     */
    @Test
    void recompilingWithOtherMetricsKeepsTheFiguresRight() {
        NDArray[] d = data(20, 6);
        try (Sequential m = regression()) {
            double mae = m.evaluate(d[0], d[1], 8).get("mae");
            m.compile(new Adam(0.01), Loss.meanSquaredError(), Metric.MEAN_ABSOLUTE_ERROR, Metric.PRECISION);
            Map<String, Double> both = m.evaluate(d[0], d[1], 8);
            assertEquals(mae, both.get("mae"), 1e-6);
            assertTrue(both.containsKey("precision"), both.toString());
            m.compile(new Adam(0.01), Loss.meanSquaredError(), Metric.MEAN_ABSOLUTE_ERROR);
            assertEquals(mae, m.evaluate(d[0], d[1], 8).get("mae"), 1e-6);
            assertEquals(mae, m.evaluate(d[0], d[1], 8).get("mae"), 1e-6, "evaluated twice: zeroed in between");
        }
    }

    /**
     * A million rows of the same small error (1e-4): added into one float the sum would drift by several percent as it
     * grows; spread over the lanes it stays within 0.1% of the exact mean.
     */
    @Test
    void errorSumsStayCloseOverAMillionRows() {
        dev.osprey.backend.Backend cpu = Device.cpu().backend();
        int rows = 1 << 16;
        try (dev.osprey.backend.Memory m = cpu.newMemory()) {
            dev.osprey.backend.Tensor out = m.allocate(rows, 1);
            dev.osprey.backend.Tensor t = m.allocate(rows, 1);
            cpu.fill(out, 1e-4f);
            cpu.fill(t, 0f);
            dev.osprey.backend.Tensor sums = m.allocate(ErrorSums.SIZE);
            for (int call = 0; call < 16; call++) {
                cpu.errorSums(out, null, t, sums, (long) call * rows);
            }
            float[] v = new float[ErrorSums.SIZE];
            cpu.copyOut(sums, v, 0);
            ErrorSums e = ErrorSums.read(v, 0);
            assertEquals(16L * rows, e.rows());
            assertEquals(1e-4f, e.value(Metric.MEAN_ABSOLUTE_ERROR, 1), 1e-7);
            assertEquals((double) 1e-4f * 1e-4f, e.value(Metric.MEAN_SQUARED_ERROR, 1), 1e-11);
        }
    }
}
