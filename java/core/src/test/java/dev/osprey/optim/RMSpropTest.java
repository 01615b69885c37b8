package dev.osprey.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Sequential;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** RMSprop's first steps against a plain-Java reference of Keras' formulas, in double precision. */
class RMSpropTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"0.0, false, 0.0", "0.0, true, 0.0", "0.5, false, 0.0", "0.5, true, 0.1"})
    void firstStepsMatchKerasFormulas(double momentum, boolean centered, double weightDecay) {
        Backend cpu = Device.cpu().backend();
        int n = 37;
        Random r = new Random(3);
        double[] p = new double[n];
        float[] pf = new float[n];
        float[][] grads = new float[4][n];
        for (int i = 0; i < n; i++) {
            p[i] = r.nextGaussian();
            pf[i] = (float) p[i];
            p[i] = pf[i];
        }
        for (float[] g : grads) {
            for (int i = 0; i < n; i++) {
                g[i] = (float) r.nextGaussian();
            }
        }
        double lr = 0.01;
        double rho = 0.9;
        double eps = 1e-7;
        RMSprop optimizer = new RMSprop(lr, rho, momentum, eps, centered).weightDecay(weightDecay);
        try (Memory m = cpu.newMemory()) {
            Tensor params = m.allocate(n);
            Tensor gradients = m.allocate(n);
            cpu.copyIn(pf, 0, params);
            Optimizer.Updater u = optimizer.bind(cpu, m, params, gradients, null);
            double[] v = new double[n];
            double[] mom = new double[n];
            double[] mean = new double[n];
            for (float[] g : grads) {
                cpu.copyIn(g, 0, gradients);
                u.step();
                for (int i = 0; i < n; i++) { // Keras 3's RMSprop.update_step, with decoupled weight decay first
                    p[i] -= lr * weightDecay * p[i];
                    v[i] = rho * v[i] + (1 - rho) * g[i] * g[i];
                    double denominator = v[i] + eps;
                    if (centered) {
                        mean[i] = rho * mean[i] + (1 - rho) * g[i];
                        denominator -= mean[i] * mean[i];
                    }
                    double increment = lr * g[i] / Math.sqrt(denominator);
                    if (momentum > 0) {
                        mom[i] = momentum * mom[i] + increment;
                        increment = mom[i];
                    }
                    p[i] -= increment;
                }
            }
            float[] got = new float[n];
            cpu.copyOut(params, got, 0);
            for (int i = 0; i < n; i++) {
                assertEquals(p[i], got[i], 1e-6, "weight " + i);
            }
            assertEquals(4, u.iterations());
        }
    }

    @Test
    void trainsSavesAndLoadsWithItsState() throws Exception {
        LabeledData data = Datasets.fashionMnistSample();
        try (Sequential model = Models.tutorialCnn()) {
            model.device(Device.cpu()).seed(2);
            model.compile(new RMSprop(0.001, 0.9, 0.5, 1e-7, true), Loss.sparseCategoricalCrossentropy(),
                    Metric.ACCURACY);
            double before = model.evaluate(data.testX(), data.testY()).get("loss");
            model.fit(data.trainX().slice(0, 1024), data.trainY().slice(0, 1024), FitOptions.defaults().epochs(1)
                    .batchSize(64).seed(2).verbose(false));
            double after = model.evaluate(data.testX(), data.testY()).get("loss");
            assertEquals(true, after < before, "loss " + before + " -> " + after);
            Path file = dir.resolve("rmsprop.osprey");
            model.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(model.optimizer().config(), loaded.optimizer().config());
                assertEquals(java.util.Set.of("velocity", "momentum", "average_gradient"),
                        loaded.optimizerSlotNames());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new RMSprop(0.001, 1.0, 0, 1e-7, false));
    }
}
