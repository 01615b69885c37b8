package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.Dense;
import dev.osprey.layers.ReLU;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Model.profileTraining and profileInference: they run what trainOnBatch and predict run, and their rows account for
 * every layer call once, each inside the step's time.
 */
class LayerProfileTest {
    private static Sequential tutorial() {
        Sequential m = Models.tutorialCnn();
        m.device(Device.cpu()).seed(4);
        m.compile(new Adam(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
        return m;
    }

    @Test
    void aTrainingProfileRunsTrainOnBatchStepsAndTimesEveryLayerInsideTheStep() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 32);
        NDArray y = d.trainY().slice(0, 32);
        try (Sequential profiled = tutorial(); Sequential plain = tutorial()) {
            LayerProfile p = profiled.profileTraining(x, y, 2);
            for (int i = 0; i < 3; i++) { // the warm-up step and the 2 timed ones
                plain.trainOnBatch(x, y);
            }
            List<NDArray> a = profiled.getWeights();
            List<NDArray> b = plain.getWeights();
            for (int i = 0; i < a.size(); i++) {
                assertArrayEquals(b.get(i).data(), a.get(i).data(), 0f, "weight " + i + ": the same steps");
            }
            assertTrue(p.training());
            assertEquals(32, p.batch());
            assertEquals(2, p.calls());
            List<String> names = p.rows().stream().map(LayerProfile.Row::name).toList();
            List<String> layers = profiled.layers().stream().map(Layer::name).toList();
            assertEquals(layers, names, "one row per layer, in the model's order");
            LayerProfile.Row flatten = p.rows().stream().filter(r -> r.type().equals("Flatten")).findFirst()
                    .orElseThrow();
            assertEquals(new LayerProfile.Row(flatten.calls(), "Flatten", true, 0, 0), flatten, "a view");
            assertTrue(p.table(100).contains("Flatten (no work)"), p.table(100));
            for (LayerProfile.Row r : p.rows()) {
                if (r.type().equals("Conv2D") || r.type().equals("Dense")) {
                    assertTrue(r.forwardMs() > 0 && r.backwardMs() > 0, r.toString());
                }
                assertTrue(r.forwardMs() >= 0 && r.backwardMs() >= 0, r.toString());
            }
            assertTrue(p.layersMs() > 0 && p.layersMs() <= p.wallMs(), p.layersMs() + " ms of layers in a "
                    + p.wallMs() + " ms step");
            assertEquals(p.wallMs() - p.layersMs(), p.otherMs(), 1e-9);
            String table = p.table(3);
            assertTrue(table.startsWith("training step, batch 32, cpu"), table);
            assertTrue(table.contains((layers.size() - 3) + " more layers"), table);
            assertTrue(table.contains("loss, optimizer, copies"), table);
            assertEquals(2 + 3 + 2, table.split("\n").length, table); // title, header, 3 rows, the rest, other
            Map<String, Object> map = p.toMap();
            assertEquals("training", map.get("kind"));
            assertEquals(layers.size(), ((List<?>) map.get("rows")).size());
        }
    }

    @Test
    void anInferenceProfileNamesEveryLayerOnceAndPredictsTheSame() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 8);
        try (Sequential m = tutorial()) {
            float[] before = m.predict(x, 8).data();
            LayerProfile p = m.profileInference(x, 3);
            assertArrayEquals(before, m.predict(x, 8).data(), 0f, "profiling changes no weights");
            assertTrue(!p.training());
            assertEquals(3, p.calls());
            List<String> named = new ArrayList<>();
            for (LayerProfile.Row r : p.rows()) {
                named.addAll(r.calls());
                assertEquals(r.calls().size() > 1, r.type().startsWith("chain of "), r.toString());
                assertEquals(0.0, r.backwardMs());
            }
            assertEquals(m.layers().stream().map(Layer::name).toList(), named, "every layer once, in order");
            assertTrue(p.layersMs() <= p.wallMs());
            assertTrue(p.table(100).startsWith("inference, batch 8, cpu"), p.table(100));
        }
    }

    @Test
    void aSharedLayersSecondCallHasItsOwnRow() {
        Input in = Input.shape(8);
        Dense shared = new Dense(8);
        SymbolicTensor h = shared.apply(in);
        h = new ReLU().apply(h);
        h = shared.apply(h);
        Model m = new Model(in, new Dense(3, Activation.SOFTMAX).apply(h));
        m.device(Device.cpu()).seed(1);
        m.compile(new Adam(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
        float[] xs = new float[4 * 8];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) Math.cos(i);
        }
        try (m) {
            LayerProfile p = m.profileTraining(new NDArray(xs, 4, 8), new NDArray(new float[] {0, 1, 2, 1}, 4), 1);
            List<String> names = p.rows().stream().map(LayerProfile.Row::name).toList();
            assertEquals(List.of(shared.name(), "re_lu", shared.name() + "#2", names.get(3)), names);
        }
    }

    @Test
    void badArgumentsAreClearErrors() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 4);
        NDArray y = d.trainY().slice(0, 4);
        try (Sequential m = tutorial()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.profileTraining(x, y, 0));
            assertEquals("profileTraining: expected steps >= 1, received 0", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.profileInference(x, -1));
            assertEquals("profileInference: expected calls >= 1, received -1", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.profileInference(x.slice(0, 0), 1));
            assertEquals("profileInference: expected at least one sample, received 0", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> m.profileTraining(x, d.trainY().slice(0, 5), 1));
            LayerProfile p = m.profileInference(x, 1);
            assertThrows(IllegalArgumentException.class, () -> p.table(0));
        }
        try (Sequential notCompiled = Models.tutorialCnn()) {
            assertThrows(IllegalStateException.class, () -> notCompiled.profileTraining(x, y, 1));
        }
    }
}
