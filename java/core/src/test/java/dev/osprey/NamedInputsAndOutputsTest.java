package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Keras' dicts of inputs and outputs: fit, validation data, evaluate and predict by name train and answer exactly as
 * their list forms in the model's order, whatever order the maps list the names in; a missing or unknown name is an
 * error that lists the model's names.
 */
class NamedInputsAndOutputsTest {
    static final int N = 48;

    /** "zeta" (3) and "alpha" (3) in, named against sorted order; "kind" (3 classes) and "box" (2 values) out. */
    static Model model() {
        Input zeta = Input.shape(3).name("zeta");
        Input alpha = Input.shape(3).name("alpha");
        SymbolicTensor hidden = new Dense(8, Activation.RELU).name("trunk").apply(new Concatenate().apply(zeta, alpha));
        Model m = new Model(List.of(zeta, alpha), List.of(new Dense(3, Activation.SOFTMAX).name("kind").apply(hidden),
                new Dense(2).name("box").apply(hidden)));
        m.device(Device.cpu()).seed(21);
        m.compile(new Adam(0.01), Map.of("kind", Loss.sparseCategoricalCrossentropy(), "box", Loss.meanSquaredError()),
                Map.of("box", 0.5), Map.of("kind", List.of(Metric.ACCURACY), "box", List.of(Metric.MEAN_ABSOLUTE_ERROR)));
        return m;
    }

    static NDArray random(Random r, int rows, int width) {
        float[] v = new float[rows * width];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new NDArray(v, rows, width);
    }

    static final Random R = new Random(8);
    static final NDArray ZETA = random(R, N, 3), ALPHA = random(R, N, 3);
    static final NDArray KIND, BOX = random(R, N, 2);

    static {
        float[] k = new float[N];
        for (int i = 0; i < N; i++) {
            k[i] = ZETA.data()[i * 3] > ALPHA.data()[i * 3] ? 2 : ALPHA.data()[i * 3 + 1] > 0 ? 1 : 0;
        }
        KIND = new NDArray(k, N);
    }

    /** The maps list the names in another order than the model's, so that order can't be what matches them. */
    static Map<String, NDArray> inputs(int from, int to) {
        Map<String, NDArray> m = new LinkedHashMap<>();
        m.put("alpha", ALPHA.slice(from, to));
        m.put("zeta", ZETA.slice(from, to));
        return m;
    }

    static Map<String, NDArray> labels(int from, int to) {
        Map<String, NDArray> m = new LinkedHashMap<>();
        m.put("box", BOX.slice(from, to));
        m.put("kind", KIND.slice(from, to));
        return m;
    }

    @Test
    void fitEvaluateAndPredictByNameAreTheListFormsInTheModelsOrder() {
        try (Model byName = model(); Model byList = model()) {
            FitOptions named = FitOptions.defaults().epochs(3).batchSize(8).verbose(false)
                    .validationData(inputs(32, N), labels(32, N));
            FitOptions listed = FitOptions.defaults().epochs(3).batchSize(8).verbose(false)
                    .validationData(List.of(ZETA.slice(32, N), ALPHA.slice(32, N)),
                            List.of(KIND.slice(32, N), BOX.slice(32, N)));
            History a = byName.fit(inputs(0, 32), labels(0, 32), named);
            History b = byList.fit(List.of(ZETA.slice(0, 32), ALPHA.slice(0, 32)),
                    List.of(KIND.slice(0, 32), BOX.slice(0, 32)), listed);
            assertEquals(b.history(), a.history(), "the same training, bit for bit");
            assertTrue(a.history().containsKey("val_kind_accuracy") && a.history().containsKey("val_box_mae"),
                    a.history().keySet().toString());

            assertEquals(byList.evaluate(List.of(ZETA, ALPHA), List.of(KIND, BOX), 16),
                    byName.evaluate(inputs(0, N), labels(0, N), 16));

            Map<String, NDArray> predicted = byName.predict(inputs(0, N), 16);
            assertEquals(List.of("kind", "box"), List.copyOf(predicted.keySet()), "in the model's output order");
            List<NDArray> listedOut = byList.predict(List.of(ZETA, ALPHA), 16);
            assertArrayEquals(listedOut.get(0).data(), predicted.get("kind").data(), 0f);
            assertArrayEquals(listedOut.get(1).data(), predicted.get("box").data(), 0f);
            // and not the other order: the inputs are told apart
            List<NDArray> swapped = byList.predict(List.of(ALPHA, ZETA), 16);
            assertTrue(!java.util.Arrays.equals(swapped.get(1).data(), predicted.get("box").data()));
        }
    }

    @Test
    void aMissingOrUnknownNameIsAnErrorListingTheModelsNames() {
        try (Model m = model()) {
            Map<String, NDArray> missing = Map.of("zeta", ZETA);
            String e = assertThrows(IllegalArgumentException.class, () -> m.predict(missing, 8)).getMessage();
            assertEquals("predict: expected an array for each input by name [zeta, alpha], received none for 'alpha'", e);

            Map<String, NDArray> unknown = new LinkedHashMap<>(labels(0, N));
            unknown.put("boxes", BOX);
            e = assertThrows(IllegalArgumentException.class, () -> m.fit(inputs(0, N), unknown,
                    FitOptions.defaults().verbose(false))).getMessage();
            assertEquals("fit: expected an array for each output by name [kind, box], received 'boxes', which names no "
                    + "output of this model", e);

            e = assertThrows(IllegalArgumentException.class, () -> m.evaluate(inputs(0, N), null, 8)).getMessage();
            assertTrue(e.startsWith("evaluate: expected an array for each output by name [kind, box], received null"), e);

            FitOptions badValidation = FitOptions.defaults().verbose(false).validationData(inputs(0, 8),
                    Map.of("kind", KIND.slice(0, 8)));
            e = assertThrows(IllegalArgumentException.class, () -> m.fit(inputs(0, N), labels(0, N), badValidation))
                    .getMessage();
            assertTrue(e.startsWith("fit validation data: expected an array for each output by name [kind, box], "
                    + "received none for 'box'"), e);

            Map<String, NDArray> nullInput = new java.util.HashMap<>(inputs(0, N));
            nullInput.put("alpha", null);
            e = assertThrows(IllegalArgumentException.class, () -> m.predict(nullInput)).getMessage();
            assertTrue(e.endsWith("received null for 'alpha'"), e);

            // validation arrays and splits are refused with batch sources, which take their own validation source
            e = assertThrows(IllegalArgumentException.class, () -> m.fit(
                    BatchSource.labelsSideBySide(BatchSource.sideBySide(
                            new ArrayBatchSource(ZETA, KIND), ALPHA), BOX), null,
                    FitOptions.defaults().verbose(false).validationData(inputs(0, 8), labels(0, 8)))).getMessage();
            assertTrue(e.contains("with batch sources, expected the validation data as fit's second source, received "
                    + "validation arrays"), e);

            // another validationData form replaces the named one
            FitOptions replaced = FitOptions.defaults().verbose(false).epochs(1)
                    .validationData(inputs(0, 8), Map.of("kind", KIND.slice(0, 8)))
                    .validationData(List.of(ZETA.slice(0, 8), ALPHA.slice(0, 8)), List.of(KIND.slice(0, 8),
                            BOX.slice(0, 8)));
            assertTrue(m.fit(inputs(0, N), labels(0, N), replaced).history().containsKey("val_loss"));
            // and the named one replaces another
            FitOptions named = FitOptions.defaults().verbose(false).epochs(1)
                    .validationData(List.of(ZETA.slice(0, 8)), List.of(KIND.slice(0, 8))) // wrong: one input, one output
                    .validationData(inputs(0, 8), labels(0, 8));
            assertTrue(m.fit(inputs(0, N), labels(0, N), named).history().containsKey("val_box_mae"));
            FitOptions arrays = FitOptions.defaults().verbose(false).epochs(1)
                    .validationData(inputs(0, 8), labels(0, 8)).validationData(ZETA, KIND);
            e = assertThrows(IllegalArgumentException.class, () -> m.fit(inputs(0, N), labels(0, N), arrays))
                    .getMessage();
            assertTrue(e.contains("this model has 2 inputs; expected one array per input"), "the arrays replaced the "
                    + "named data, and are refused for what they are: " + e);
        }
    }

    /** A model of one input and one output takes its input and labels by name too; predict answers by the output's. */
    @Test
    void aModelOfOneInputAndOutputTakesThemByName() {
        Input x = Input.shape(3).name("features");
        try (Model m = new Model(x, new Dense(3, Activation.SOFTMAX).name("kind").apply(x))) {
            m.device(Device.cpu()).seed(5).compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(),
                    Metric.ACCURACY);
            History h = m.fit(Map.of("features", ZETA), Map.of("kind", KIND), FitOptions.defaults().epochs(2)
                    .batchSize(8).verbose(false).validationData(Map.of("features", ALPHA), Map.of("kind", KIND)));
            assertTrue(h.history().containsKey("val_accuracy"), h.history().keySet().toString());
            Map<String, NDArray> p = m.predict(Map.of("features", ZETA));
            assertEquals(List.of("kind"), List.copyOf(p.keySet()));
            assertArrayEquals(m.predict(ZETA).data(), p.get("kind").data(), 0f);
            assertEquals(m.evaluate(ZETA, KIND), m.evaluate(Map.of("features", ZETA), Map.of("kind", KIND)));
        }
    }
}
