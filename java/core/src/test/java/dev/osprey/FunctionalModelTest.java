package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.layers.Add;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.layers.ReLU;
import dev.osprey.layers.Reshape;
import dev.osprey.layers.Rescaling;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The functional API: graphs equal to their Sequential forms, summaries, several inputs and outputs, and bad graphs. */
class FunctionalModelTest {
    @TempDir
    Path dir;

    static NDArray[] data(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * 8 * 8 * 2];
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(3);
            for (int j = 0; j < 128; j++) {
                x[i * 128 + j] = (float) (r.nextGaussian() + (j % 3 == y[i] ? 1 : 0));
            }
        }
        return new NDArray[] {new NDArray(x, n, 8, 8, 2), new NDArray(y, n)};
    }

    private static List<Double> losses(Model model, NDArray[] d) {
        model.device(Device.cpu()).seed(5).compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
        List<Double> losses = new ArrayList<>();
        History h = model.fit(d[0], d[1], FitOptions.defaults().epochs(4).batchSize(8).verbose(false));
        losses.addAll(h.get("loss"));
        return losses;
    }

    @Test
    void aChainBuiltWithTheFunctionalApiTrainsExactlyAsItsSequential() {
        NDArray[] d = data(40, 1);
        Input in = Input.shape(8, 8, 2);
        SymbolicTensor x = new Conv2D(4, 3, Activation.RELU).apply(in);
        x = new MaxPooling2D(2).apply(x);
        SymbolicTensor out = new Dense(3, Activation.SOFTMAX).apply(new Flatten().apply(x));
        try (Model functional = new Model(in, out);
             Sequential sequential = new Sequential(new Conv2D(4, 3, Activation.RELU).inputShape(8, 8, 2),
                     new MaxPooling2D(2), new Flatten(), new Dense(3, Activation.SOFTMAX))) {
            assertEquals(losses(sequential, d), losses(functional, d));
            assertArrayEquals(sequential.getWeights().get(0).data(), functional.getWeights().get(0).data(), 0f);
        }
    }

    /**
     * A BatchNormalization takes a capped ReLU after it into its own op (ReLU6 in MobileNetV2); a Reshape to the same
     * shape between them keeps the ReLU apart. Both must train and predict alike, and the cap of 1 clips about a sixth
     * of the normalized values, so a fused op that lost its cap, or clipped where it should not, fails this.
     */
    @Test
    void aBatchNormalizationWithACappedReluFusedTrainsAsWithTheReluApart() {
        NDArray[] d = data(40, 3);
        Model[] models = new Model[2];
        for (int apart = 0; apart < 2; apart++) {
            Input in = Input.shape(8, 8, 2);
            SymbolicTensor x = new Conv2D(6, 3).padding(Padding.SAME).useBias(false).apply(in);
            x = new BatchNormalization().apply(x);
            if (apart == 1) {
                x = new Reshape(8, 8, 6).apply(x);
            }
            x = new ReLU(1f, 0f).apply(x);
            models[apart] = new Model(in, new Dense(3, Activation.SOFTMAX).apply(new Flatten().apply(x)));
        }
        try (Model fused = models[0]; Model apart = models[1]) {
            List<Double> fusedLosses = losses(fused, d);
            List<Double> apartLosses = losses(apart, d);
            for (int i = 0; i < fusedLosses.size(); i++) {
                assertEquals(apartLosses.get(i), fusedLosses.get(i), 1e-5, "epoch " + (i + 1) + " loss");
            }
            float[] p = fused.predict(d[0]).data(), q = apart.predict(d[0]).data();
            assertArrayEquals(q, p, 1e-5f);
        }
    }

    @Test
    void aResidualAdditionTrainsExactlyAsItsSequentialEquivalent() {
        // Add(x, x) is 2x forward and sums two equal gradients backward: the graph's fan-out and merge must agree
        // bit for bit with Rescaling(2) in a chain.
        NDArray[] d = data(40, 2);
        Input in = Input.shape(8, 8, 2);
        SymbolicTensor x = new Conv2D(4, 3).padding(Padding.SAME).useBias(false).apply(in);
        x = new ReLU().apply(new BatchNormalization().apply(x));
        x = new Add().apply(x, x);
        SymbolicTensor out = new Dense(3, Activation.SOFTMAX).apply(new GlobalAveragePooling2D().apply(x));
        try (Model residual = new Model(in, out);
             Sequential chain = new Sequential(new Conv2D(4, 3).padding(Padding.SAME).useBias(false).inputShape(8, 8, 2),
                     new BatchNormalization(), new ReLU(), new Rescaling(2), new GlobalAveragePooling2D(),
                     new Dense(3, Activation.SOFTMAX))) {
            List<Double> a = losses(residual, d);
            List<Double> b = losses(chain, d);
            assertEquals(b, a);
            assertTrue(a.get(3) < a.get(0), "it learns: " + a);
            assertArrayEquals(chain.predict(d[0]).data(), residual.predict(d[0]).data(), 0f);
        }
    }

    @Test
    void summaryShowsConnectionsAndCountsLayersCalledTwiceOnce() {
        Input in = Input.shape(6, 6, 3).name("image");
        Conv2D shared = new Conv2D(3, 3).padding(Padding.SAME).name("shared");
        SymbolicTensor a = shared.apply(in);
        SymbolicTensor b = shared.apply(a);
        SymbolicTensor out = new Dense(2, Activation.SOFTMAX).apply(new Flatten().apply(new Add().apply(a, b)));
        try (Model model = new Model(in, out)) {
            String s = model.summaryString();
            for (String expected : new String[] {"image (InputLayer)", "(None, 6, 6, 3)", "Connected to", "image[0][0]",
                    "shared[1][0]", "add (Add)", "shared[0][0], shared[1][0]", "Trainable params: 302"}) {
                assertTrue(s.contains(expected), "summary lacks '" + expected + "':\n" + s);
            }
            assertEquals(shared, model.layer("shared"), "layers are found by name");
            assertEquals(2, shared.nodes().size());
            assertEquals(84 + 218, model.countParams(), "the shared convolution's 84 weights count once");
        }
    }

    /**
     * An output listed after an output whose layers read it ("feat", read by "head") is computed once: the graph orders
     * each call once (it had ordered feat's call twice, as though the layer were shared, doubling its weight gradient in
     * training), and predict gives what the layers compute.
     */
    @Test
    void anOutputThatAnEarlierOutputReadsIsOrderedOnce() {
        Input in = Input.shape(4).name("x");
        SymbolicTensor feat = new Dense(3).name("feat").apply(in);
        SymbolicTensor head = new Dense(2).name("head").apply(feat);
        dev.osprey.engine.Graph graph = new dev.osprey.engine.Graph(List.of(in), List.of(head, feat));
        assertEquals(List.of("feat", "head"), graph.nodes().stream().map(n -> n.layer().name()).toList());
        assertEquals(1, graph.consumers(in).size(), "x is read by feat's one call");
        NDArray x = new NDArray(new float[] {1, -2, 3, 0.5f, 0, 1, -1, 2}, 2, 4);
        try (Model both = new Model(List.of(in), List.of(head, feat)).device(Device.cpu());
             Model featOnly = new Model(in, feat).device(Device.cpu())) {
            both.build();
            featOnly.copyWeightsFrom(both);
            List<NDArray> out = both.predict(List.of(x), 2);
            assertArrayEquals(featOnly.predict(x, 2).data(), out.get(1).data(), 0f);
        }
    }

    @Test
    void severalInputsAndOutputsPredictTogether() throws IOException {
        Input image = Input.shape(4, 4, 1);
        Input extra = Input.shape(3);
        SymbolicTensor features = new Flatten().apply(new Conv2D(2, 3).apply(image));
        SymbolicTensor joined = new Concatenate().apply(features, extra);
        SymbolicTensor classes = new Dense(4, Activation.SOFTMAX).apply(joined);
        SymbolicTensor score = new Dense(1).apply(joined);
        NDArray x1 = new NDArray(new float[5 * 16], 5, 4, 4, 1);
        NDArray x2 = new NDArray(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 5, 3);
        Path file = dir.resolve("two-in-two-out.osprey");
        List<NDArray> before;
        try (Model model = new Model(List.of(image, extra), List.of(classes, score)).device(Device.cpu())) {
            before = model.predict(List.of(x1, x2), 2);
            assertEquals(2, before.size());
            assertArrayEquals(new int[] {5, 4}, before.get(0).shape());
            assertArrayEquals(new int[] {5, 1}, before.get(1).shape());
            IllegalArgumentException train = assertThrows(IllegalArgumentException.class, () -> model.compile(new Adam(),
                    Loss.sparseCategoricalCrossentropy()));
            assertTrue(train.getMessage().contains("expected one loss per output"), train.getMessage());
            float[] nan = x2.data().clone();
            nan[13] = Float.NaN; // sample 4 of the second input, in the last slice
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(List.of(x1, new NDArray(nan, 5, 3)), 2));
            assertEquals("predict: expected finite inputs, received NaN in sample 4 of input 2", refused.getMessage());
            model.save(file);
        }
        try (Model loaded = Model.load(file, Device.cpu())) {
            List<NDArray> after = loaded.predict(List.of(x1, x2), 2);
            assertArrayEquals(before.get(0).data(), after.get(0).data(), 0f);
            assertArrayEquals(before.get(1).data(), after.get(1).data(), 0f);
        }
    }

    @Test
    void badGraphsGetClearErrorsWhenTheyAreBuilt() {
        Input in = Input.shape(8, 8, 3);
        SymbolicTensor a = new Conv2D(16, 3).name("narrow").apply(in);
        SymbolicTensor b = new Conv2D(32, 3).name("wide").apply(in);
        IllegalArgumentException add = assertThrows(IllegalArgumentException.class, () -> new Add().apply(a, b));
        assertEquals("Add applied to (6, 6, 16) from Conv2D 'narrow' and (6, 6, 32) from Conv2D 'wide': expected inputs "
                + "of one shape, received [(6, 6, 16), (6, 6, 32)]", add.getMessage());

        Conv2D reused = new Conv2D(4, 3);
        reused.apply(in);
        IllegalArgumentException reuse = assertThrows(IllegalArgumentException.class,
                () -> reused.apply(Input.shape(8, 8, 5)));
        assertTrue(reuse.getMessage().contains("weights were made for inputs [(8, 8, 3)]"), reuse.getMessage());

        Input unused = Input.shape(2);
        IllegalArgumentException unconnected = assertThrows(IllegalArgumentException.class,
                () -> new Model(List.of(in, unused), List.of(a)));
        assertTrue(unconnected.getMessage().contains("is not connected to any output"), unconnected.getMessage());

        Input other = Input.shape(8, 8, 3);
        SymbolicTensor fromOther = new Conv2D(16, 3).apply(other);
        IllegalArgumentException undeclared = assertThrows(IllegalArgumentException.class,
                () -> new Model(in, new Add().apply(a, fromOther)));
        assertTrue(undeclared.getMessage().contains("which is not one of the model's inputs"), undeclared.getMessage());

        SymbolicTensor twin = new Conv2D(16, 3).name("narrow").apply(in);
        IllegalArgumentException names = assertThrows(IllegalArgumentException.class,
                () -> new Model(in, new Add().apply(a, twin)));
        assertTrue(names.getMessage().contains("two layers named 'narrow'"), names.getMessage());

        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> new Add().apply(a));
        assertTrue(none.getMessage().contains("expected at least two inputs, received 1"), none.getMessage());
    }

    @Test
    void aModelFileWhoseLayersFormACycleIsRefused() throws IOException {
        String json = "{\"format\":\"osprey-model\",\"version\":2,\"model\":{\"class_name\":\"Functional\",\"config\":{"
                + "\"layers\":[{\"class_name\":\"InputLayer\",\"name\":\"in\",\"config\":{\"batch_shape\":[null,4]},"
                + "\"inbound_nodes\":[]},"
                + "{\"class_name\":\"Dense\",\"name\":\"a\",\"config\":{\"units\":4},\"inbound_nodes\":[[[\"b\",0,0]]]},"
                + "{\"class_name\":\"Dense\",\"name\":\"b\",\"config\":{\"units\":4},\"inbound_nodes\":[[[\"a\",0,0]]]}],"
                + "\"input_layers\":[[\"in\",0,0]],\"output_layers\":[[\"b\",0,0]]}}}";
        Path file = dir.resolve("cycle.osprey");
        try (var zip = new java.util.zip.ZipOutputStream(Files.newOutputStream(file))) {
            zip.putNextEntry(new java.util.zip.ZipEntry("model.json"));
            zip.write(json.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            zip.putNextEntry(new java.util.zip.ZipEntry("weights.safetensors"));
            zip.write(new byte[] {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
        }
        dev.osprey.io.ModelFormatException e = assertThrows(dev.osprey.io.ModelFormatException.class,
                () -> Model.load(file, Device.cpu()));
        assertTrue(e.getMessage().contains("the layers [a, b] read tensors that no layer makes before them"),
                e.getMessage());
    }

    @Test
    void freezingOrUnfreezingTakesEffectAtTheNextCompileAndFitWithoutOneIsRefused() {
        NDArray[] d = data(32, 3);
        Input in = Input.shape(8, 8, 2);
        Conv2D conv = new Conv2D(4, 3).name("conv");
        BatchNormalization bn = new BatchNormalization().name("bn");
        SymbolicTensor x = new ReLU().apply(bn.apply(conv.apply(in)));
        try (Model model = new Model(in, new Dense(3, Activation.SOFTMAX).name("head").apply(new Flatten().apply(x)))) {
            model.device(Device.cpu()).seed(2).compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy());
            FitOptions once = FitOptions.defaults().epochs(1).batchSize(8).verbose(false);
            model.fit(d[0], d[1], once);

            conv.trainable(false);
            bn.trainable(false);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> model.fit(d[0], d[1], once));
            assertTrue(e.getMessage().contains("'conv'") || e.getMessage().contains("'bn'"), e.getMessage());
            assertTrue(e.getMessage().contains("expected compile(...) again"), e.getMessage());

            model.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy());
            Map<String, NDArray> before = model.namedWeights();
            model.fit(d[0], d[1], once);
            Map<String, NDArray> after = model.namedWeights();
            for (String frozen : List.of("conv/kernel", "conv/bias", "bn/gamma", "bn/beta", "bn/moving_mean",
                    "bn/moving_variance")) {
                assertArrayEquals(before.get(frozen).data(), after.get(frozen).data(), 0f, frozen + " is frozen");
            }
            assertTrue(!Arrays.equals(before.get("head/kernel").data(), after.get("head/kernel").data()),
                    "the head still trains");

            conv.trainable(true);
            model.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy());
            model.fit(d[0], d[1], once);
            Map<String, NDArray> unfrozen = model.namedWeights();
            assertTrue(!Arrays.equals(after.get("conv/kernel").data(), unfrozen.get("conv/kernel").data()),
                    "the unfrozen convolution trains again");
            assertArrayEquals(after.get("bn/gamma").data(), unfrozen.get("bn/gamma").data(), 0f, "bn stays frozen");
        }
    }

    @Test
    void aSequentialThatFailsToBuildForOneShapeStillBuildsForAnother() {
        try (Sequential model = new Sequential(new Conv2D(4, 3), new MaxPooling2D(8), new Flatten(),
                new Dense(3, Activation.SOFTMAX))) {
            model.device(Device.cpu());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.predict(NDArray.zeros(1, 4, 4, 1)));
            assertTrue(e.getMessage().contains("MaxPooling2D"), e.getMessage());
            assertEquals(Shape.of(3), model.predict(NDArray.zeros(2, 32, 32, 3)).sampleShape());
            assertEquals(1, model.layers().get(0).nodes().size(), "the failed build left no call behind");
        }
    }

    @Test
    void keepingFewerInferencePlansFreesTheRestAtOnce() {
        Input in = Input.shape(8, 8, 2);
        SymbolicTensor x = new Flatten().apply(new Conv2D(4, 3).apply(in));
        try (Model model = new Model(in, new Dense(3, Activation.SOFTMAX).apply(x))) {
            model.device(Device.cpu());
            model.predict(NDArray.zeros(5, 8, 8, 2), 5);
            long batchFivePlan = model.planBytes();
            for (int batch = 1; batch <= 5; batch++) {
                model.predict(NDArray.zeros(batch, 8, 8, 2), batch);
            }
            assertTrue(model.planBytes() > batchFivePlan, "three plans kept by default");
            model.keepInferencePlans(1);
            assertEquals(batchFivePlan, model.planBytes(), "only the most recent plan (batch 5) is left");
        }
    }
}
