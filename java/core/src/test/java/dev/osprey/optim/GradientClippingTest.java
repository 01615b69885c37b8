package dev.osprey.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keras' clipnorm, global_clipnorm and clipvalue through the real training step: with SGD at rate 1, one step moves
 * each weight by minus its (clipped) gradient, so an unclipped twin gives the gradient and the clipped model must
 * move by exactly Keras' clipping of it.
 */
class GradientClippingTest {
    @TempDir
    Path dir;

    static Sequential model() {
        Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new Dense(16, dev.osprey.Activation.RELU),
                new Dense(10, dev.osprey.Activation.SOFTMAX));
        m.device(Device.cpu()).seed(9);
        return m;
    }

    /** The weights by path after one step of SGD(1) with this optimizer. */
    static Map<String, float[]> oneStep(Optimizer optimizer, Map<String, float[]> before) {
        LabeledData d = Datasets.fashionMnistSample();
        try (Sequential m = model()) {
            m.compile(optimizer, Loss.sparseCategoricalCrossentropy());
            m.namedWeights().forEach((k, v) -> before.put(k, v.data()));
            m.fit(d.trainX().slice(0, 64), d.trainY().slice(0, 64), FitOptions.defaults().epochs(1).batchSize(64)
                    .shuffle(false).verbose(false));
            Map<String, float[]> after = new LinkedHashMap<>();
            m.namedWeights().forEach((k, v) -> after.put(k, v.data()));
            return after;
        }
    }

    static double norm(float[] g) {
        double s = 0;
        for (float v : g) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }

    @Test
    void eachKindClipsAsKerasDoes() {
        Map<String, float[]> w0 = new LinkedHashMap<>();
        Map<String, float[]> free = oneStep(new SGD(1.0), w0);
        Map<String, float[]> grads = new LinkedHashMap<>();
        double global = 0;
        for (String k : w0.keySet()) {
            float[] g = new float[w0.get(k).length];
            for (int i = 0; i < g.length; i++) {
                g[i] = w0.get(k)[i] - free.get(k)[i];
            }
            grads.put(k, g);
            global += norm(g) * norm(g);
        }
        global = Math.sqrt(global);
        double perWeight = 0.5 * grads.values().stream().mapToDouble(GradientClippingTest::norm).max().orElseThrow();
        double value = 0.002;
        double globalLimit = 0.5 * global;
        Map<String, float[]> byNorm = oneStep(new SGD(1.0).clipnorm(perWeight), new LinkedHashMap<>());
        Map<String, float[]> byGlobal = oneStep(new SGD(1.0).globalClipnorm(globalLimit), new LinkedHashMap<>());
        Map<String, float[]> byValue = oneStep(new SGD(1.0).clipvalue(value), new LinkedHashMap<>());
        int clippedWeights = 0;
        for (String k : w0.keySet()) {
            float[] g = grads.get(k);
            double n = norm(g);
            clippedWeights += n > perWeight ? 1 : 0;
            for (int i = 0; i < g.length; i++) {
                double expectNorm = w0.get(k)[i] - g[i] * Math.min(1, perWeight / n);
                double expectGlobal = w0.get(k)[i] - g[i] * Math.min(1, globalLimit / global);
                double expectValue = w0.get(k)[i] - Math.max(-value, Math.min(value, g[i]));
                assertEquals(expectNorm, byNorm.get(k)[i], 1e-6, "clipnorm " + k + "[" + i + "]");
                assertEquals(expectGlobal, byGlobal.get(k)[i], 1e-6, "global_clipnorm " + k + "[" + i + "]");
                assertEquals(expectValue, byValue.get(k)[i], 1e-6, "clipvalue " + k + "[" + i + "]");
            }
        }
        assertTrue(clippedWeights >= 1 && clippedWeights < w0.size(), "some weights clipped, some not: "
                + clippedWeights);
    }

    @Test
    void clippingIsSavedUnderKerasNamesAndOneKindAtATime() throws Exception {
        Optimizer o = new Adam(1e-3).clipnorm(2.0).globalClipnorm(1.0);
        assertEquals(GradientClipping.Kind.GLOBAL_NORM, o.clipping().kind());
        assertEquals(1.0, o.config().get("global_clipnorm"));
        assertTrue(!o.config().containsKey("clipnorm"));
        try (Sequential m = model()) {
            m.compile(new RMSprop(1e-3).clipvalue(0.5).learningRate(new dev.osprey.optim.schedules.ExponentialDecay(
                    1e-3, 10, 0.5, false)), Loss.sparseCategoricalCrossentropy());
            Path file = dir.resolve("clipped.osprey");
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(m.optimizer().config(), loaded.optimizer().config());
                assertEquals(new GradientClipping(GradientClipping.Kind.VALUE, 0.5), loaded.optimizer().clipping());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new SGD().clipnorm(0));
        assertThrows(IllegalArgumentException.class, () -> new SGD().clipvalue(Double.NaN));
    }
}
