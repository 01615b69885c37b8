package dev.osprey.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.osprey.Model;
import dev.osprey.Sequential;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Adam with AMSGrad: first steps against a double-precision reference of Keras' formulas; kept in model files. */
class AmsgradTest {
    @TempDir
    Path dir;

    @Test
    void firstStepsMatchKerasFormulas() {
        Backend cpu = Device.cpu().backend();
        int n = 29;
        Random r = new Random(8);
        float[] pf = new float[n];
        double[] p = new double[n];
        for (int i = 0; i < n; i++) {
            pf[i] = (float) r.nextGaussian();
            p[i] = pf[i];
        }
        double lr = 0.01;
        double b1 = 0.9;
        double b2 = 0.999;
        double eps = 1e-7;
        double wd = 0.05;
        Optimizer adam = new Adam(lr, b1, b2, eps).weightDecay(wd).amsgrad(true);
        try (Memory m = cpu.newMemory()) {
            Tensor params = m.allocate(n);
            Tensor grads = m.allocate(n);
            cpu.copyIn(pf, 0, params);
            Optimizer.Updater u = adam.bind(cpu, m, params, grads, null);
            double[] mo = new double[n];
            double[] v = new double[n];
            double[] vhat = new double[n];
            for (int t = 1; t <= 5; t++) {
                float[] g = new float[n];
                for (int i = 0; i < n; i++) {
                    g[i] = (float) (r.nextGaussian() * (t == 3 ? 0.1 : 1)); // a quiet step: vhat keeps the max
                }
                cpu.copyIn(g, 0, grads);
                u.step();
                double alpha = lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
                for (int i = 0; i < n; i++) { // Keras 3's Adam.update_step with amsgrad, weight decay first
                    p[i] -= lr * wd * p[i];
                    mo[i] += (g[i] - mo[i]) * (1 - b1);
                    v[i] += (g[i] * (double) g[i] - v[i]) * (1 - b2);
                    vhat[i] = Math.max(vhat[i], v[i]);
                    p[i] -= mo[i] * alpha / (Math.sqrt(vhat[i]) + eps);
                }
            }
            float[] got = new float[n];
            cpu.copyOut(params, got, 0);
            for (int i = 0; i < n; i++) {
                assertEquals(p[i], got[i], 1e-6, "weight " + i);
            }
        }
    }

    @Test
    void amsgradIsSavedAndLoaded() throws Exception {
        try (Sequential model = new Sequential(new Flatten().inputShape(4, 4, 1), new Dense(3))) {
            model.device(Device.cpu());
            model.compile(new AdamW().amsgrad(true), Loss.sparseCategoricalCrossentropy().fromLogits(true));
            Path file = dir.resolve("amsgrad.osprey");
            model.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(true, loaded.optimizer().config().get("amsgrad"));
                assertEquals(java.util.Set.of("m", "v", "vhat"), loaded.optimizerSlotNames());
            }
        }
    }
}
