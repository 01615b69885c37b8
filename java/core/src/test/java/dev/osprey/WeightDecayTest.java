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
import dev.osprey.optim.AdamW;
import dev.osprey.optim.Optimizer;
import dev.osprey.optim.SGD;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Keras' decoupled weight decay in a model: AdamW, exclusions by path, and the settings in model files. */
class WeightDecayTest {
    @TempDir
    Path dir;

    private static Model dense(Optimizer optimizer) {
        return new Sequential(new Dense(3, Activation.SOFTMAX).inputShape(4)).device(Device.cpu()).seed(7)
                .compile(optimizer, Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }

    /** The weights after one step on one fixed batch of 8. */
    private static List<NDArray> oneStep(Optimizer optimizer) {
        Random r = new Random(3);
        float[] x = new float[8 * 4];
        float[] y = new float[8];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = r.nextInt(3);
        }
        try (Model model = dense(optimizer)) {
            model.fit(new NDArray(x, 8, 4), new NDArray(y, 8), FitOptions.defaults().epochs(1).batchSize(8)
                    .shuffle(false).verbose(false));
            return model.getWeights();
        }
    }

    private static List<NDArray> initial() {
        try (Model model = dense(new Adam())) {
            return model.getWeights();
        }
    }

    @Test
    void adamWShrinksDecayedWeightsByLearningRateTimesDecayAndLeavesExcludedOnesAlone() {
        double lr = 0.01, wd = 0.5;
        List<NDArray> start = initial();
        List<NDArray> adam = oneStep(new Adam(lr));
        List<NDArray> adamW = oneStep(new AdamW(lr, wd).excludeFromWeightDecay("bias$"));
        float[] k0 = start.get(0).data(), kAdam = adam.get(0).data(), kW = adamW.get(0).data();
        for (int i = 0; i < k0.length; i++) {
            // Keras: w -= lr * wd * w, then Adam's step, which doesn't read w
            assertEquals(kAdam[i] - lr * wd * k0[i], kW[i], 1e-6, "kernel " + i);
        }
        assertArrayEquals(adam.get(1).data(), adamW.get(1).data(), "dense/bias is excluded: Adam's step alone");
        List<NDArray> sgdW = oneStep(new SGD(lr).weightDecay(wd));
        List<NDArray> sgd = oneStep(new SGD(lr));
        float[] b0 = start.get(1).data();
        for (int i = 0; i < b0.length; i++) {
            assertEquals(sgd.get(1).data()[i] - lr * wd * b0[i], sgdW.get(1).data()[i], 1e-6, "bias " + i);
        }
    }

    @Test
    void adamWHasKerasDefaultsAndItsSettingsSurviveAModelFile() throws Exception {
        Map<String, Object> c = new AdamW().config();
        assertEquals(0.001, c.get("learning_rate"));
        assertEquals(0.004, c.get("weight_decay"));
        assertEquals(0.9, c.get("beta_1"));
        AdamW changed = new AdamW(0.002, 0.01).excludeFromWeightDecay("bias").weightDecay(0.03);
        assertEquals(0.03, changed.weightDecay(), "weightDecay(w) sets AdamW's rate, as the other optimizers'");
        assertTrue(!changed.decays("dense/bias"), "and keeps the exclusions");
        assertEquals(0.002, changed.config().get("learning_rate"));
        Map<String, Object> kept = new AdamW(0.003, 0.01, 0.8, 0.99, 1e-6).amsgrad(true).weightDecay(0.05).config();
        assertEquals(List.of(0.003, 0.8, 0.99, 1e-6, true, 0.05), List.of(kept.get("learning_rate"), kept.get("beta_1"),
                kept.get("beta_2"), kept.get("epsilon"), kept.get("amsgrad"), kept.get("weight_decay")), kept.toString());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new AdamW().weightDecay(-1)).getMessage()
                .startsWith("AdamW: "));
        Path file = dir.resolve("m.osprey");
        try (Model model = dense(new AdamW(0.002, 0.01).excludeFromWeightDecay("bias", "gamma"))) {
            model.save(file);
        }
        try (Model loaded = Model.load(file)) {
            assertEquals("adamw", loaded.optimizer().name());
            assertEquals(0.01, loaded.optimizer().weightDecay());
            assertEquals(List.of("bias", "gamma"), loaded.optimizer().config().get("exclude_from_weight_decay"));
            assertTrue(!loaded.optimizer().decays("dense/bias") && loaded.optimizer().decays("dense/kernel"));
        }
        assertTrue(Files.size(file) > 0);
    }

    @Test
    void badSettingsAreRefusedClearly() {
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> new AdamW(0.001, -1));
        assertTrue(negative.getMessage().contains("AdamW: expected weight decay >= 0, received -1.0"),
                negative.getMessage());
        IllegalArgumentException pattern = assertThrows(IllegalArgumentException.class,
                () -> new Adam().weightDecay(0.1).excludeFromWeightDecay("bias["));
        assertTrue(pattern.getMessage().startsWith("Adam: expected a regular expression to exclude from weight decay, "
                + "received 'bias['"), pattern.getMessage());
    }
}
