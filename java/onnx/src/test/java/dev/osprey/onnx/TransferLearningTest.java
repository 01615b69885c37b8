package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Transfer learning on an imported base: the Fashion-MNIST CNN exported from PyTorch gets a new head (its layers up
 * to the last hidden Dense, then Dropout and a new Dense), trained on the bundled sample with the base frozen: the
 * base's weights stay bit-identical and the model learns; unfrozen, the base's weights change.
 */
class TransferLearningTest {
    @Test
    void aFrozenImportedBaseKeepsItsWeightsAndTheNewHeadLearns() throws Exception {
        LabeledData data = Datasets.fashionMnistSample();
        try (Model base = new OnnxImporter().device(Device.cpu())
                .importModel(OnnxFixturesTest.fixture("fmnist_cnn").resolve("model.onnx"))) {
            Map<String, NDArray> before = new java.util.LinkedHashMap<>(base.namedWeights());
            Layer hidden = base.layers().stream().filter(l -> l instanceof Dense).findFirst().orElseThrow();
            // the ReLU after the first Dense: the base's 64 features
            Layer features = base.layers().get(base.layers().indexOf(hidden) + 1);
            SymbolicTensor x = new Dropout(0.2).apply(features.output());
            x = new Dense(10, dev.osprey.Activation.SOFTMAX).name("new_head").apply(x);
            try (Model model = new Model(base.inputs().get(0), x)) {
                model.device(Device.cpu()).seed(3);
                model.freezeUpTo(features.name());
                before.keySet().retainAll(model.weightPaths()); // the base's own classifier is left behind
                assertEquals(before.size(), model.copyWeightsFrom(base));
                assertEquals(16, before.size());
                model.compile(new Adam(0.001), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
                assertEquals(64 * 10 + 10, model.trainableParams());
                History h = model.fit(data.trainX(), data.trainY(), FitOptions.defaults().epochs(2).batchSize(64)
                        .seed(3).verbose(false));
                double accuracy = model.evaluate(data.testX(), data.testY()).get("accuracy");
                System.out.printf("new head on the frozen imported base: accuracy %.4f on the 2,000 held-out "
                        + "sample images after 2 epochs (loss %.4f)%n", accuracy, h.last("loss"));
                assertTrue(accuracy >= 0.80, "accuracy " + accuracy);
                Map<String, NDArray> after = model.namedWeights();
                for (Map.Entry<String, NDArray> e : before.entrySet()) {
                    assertArrayEquals(e.getValue().data(), after.get(e.getKey()).data(), 0f,
                            e.getKey() + " changed although frozen");
                }

                for (Layer l : model.layers()) {
                    l.trainable(true);
                }
                model.compile(new Adam(0.001), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
                model.fit(data.trainX(), data.trainY(), FitOptions.defaults().epochs(1).batchSize(64).seed(3)
                        .verbose(false));
                Map<String, NDArray> unfrozen = model.namedWeights();
                long changed = before.keySet().stream().filter(k -> !k.endsWith("moving_mean")
                        && !k.endsWith("moving_variance"))
                        .filter(k -> !java.util.Arrays.equals(before.get(k).data(), unfrozen.get(k).data())).count();
                assertFalse(changed == 0, "no base weight changed after unfreezing");
            }
        }
    }
}
