package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Device;
import dev.osprey.io.Json;
import dev.osprey.io.LayerRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every layer's configuration survives getConfig -> JSON -> fromConfig unchanged, and a model holding it saves and
 * loads bit for bit: the same weights and the same predictions.
 */
class LayerRoundTripTest {
    @TempDir
    static Path dir;

    /** A layer, and how to put it in a small model (input (6, 6, 4)). */
    record Case(String name, Layer layer, Function<SymbolicTensor, SymbolicTensor> use) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Arguments> layers() {
        return Stream.of(
                single("Conv2D", new Conv2D(5, 3, dev.osprey.Activation.GELU).padding(Padding.SAME).dilationRate(2)
                        .useBias(false).kernelInitializer(dev.osprey.Initializer.heNormal())),
                single("Conv2D groups", new Conv2D(6, 3).groups(2).strides(2)),
                single("MaxPooling2D", new MaxPooling2D(3, 2).strides(1, 2).padding(Padding.SAME)),
                single("AveragePooling2D", new AveragePooling2D(2).strides(1).padding(Padding.SAME)),
                single("MaxPooling2D explicit padding", new MaxPooling2D(3).strides(2).padding(1, 1, 0, 2)),
                single("AveragePooling2D explicit padding", new AveragePooling2D(3, 2).strides(1).padding(2, 0, 1, 1)),
                single("Dropout", new Dropout(0.3)),
                single("StochasticDepth", new StochasticDepth(0.2)),
                single("BatchNormalization", new BatchNormalization().momentum(0.9).epsilon(1e-5)),
                single("LayerNormalization", new LayerNormalization().epsilon(1e-6)
                        .gammaInitializer(dev.osprey.Initializer.constant(0.5))),
                single("DepthwiseConv2D", new DepthwiseConv2D(3).depthMultiplier(2).padding(Padding.SAME)
                        .activation(dev.osprey.Activation.RELU6).useBias(false)),
                single("ZeroPadding2D", new ZeroPadding2D(1, 2, 0, 3)),
                single("Permute", new Permute(3, 1, 2)),
                single("GlobalAveragePooling2D", new GlobalAveragePooling2D().keepDims(true)),
                single("GlobalMaxPooling2D", new GlobalMaxPooling2D()),
                merge("Add", new Add()),
                merge("Multiply", new Multiply()),
                merge("Concatenate", new Concatenate(2)),
                single("Reshape", new Reshape(-1, 4)),
                single("ChannelSlice", new ChannelSlice(1, 3)),
                single("Dense on the last axis, no bias", new Dense(3).useBias(false)),
                single("Rescaling", new Rescaling(1 / 255.0, -1)),
                single("Activation", new Activation("gelu")),
                single("ReLU", new ReLU(6f, 0.1f)),
                single("LeakyReLU", new LeakyReLU(0.2f)),
                single("Softmax", new Softmax()),
                merge("MultiHeadAttention over the pixels", new MultiHeadAttention(2, 3).dropout(0.1)),
                attention("MultiHeadAttention with a key, value and output widths, no biases",
                        new MultiHeadAttention(3, 2).valueDim(4).outputShape(5).useBias(false)
                                .kernelInitializer(dev.osprey.Initializer.heUniform())),
                tokens("ClassToken", new ClassToken().initializer(dev.osprey.Initializer.constant(0.25))),
                tokens("PositionEmbedding", new PositionEmbedding(40).initializer(dev.osprey.Initializer.heNormal())),
                tokens("Cropping1D", new Cropping1D(2, 5)))
                .map(Arguments::of);
    }

    private static Case single(String name, Layer layer) {
        return new Case(name, layer, layer::apply);
    }

    /** A merge layer, applied to its input twice over. */
    private static Case merge(String name, Layer layer) {
        return new Case(name, layer, x -> layer.apply(x, x));
    }

    /** A layer over tokens: the (6, 6, 4) input as 36 positions of 4 features first. */
    private static Case tokens(String name, Layer layer) {
        return new Case(name, layer, x -> layer.apply(new Reshape(36, 4).apply(x)));
    }

    /** Attention with a key of its own: query, value and key all the input. */
    private static Case attention(String name, MultiHeadAttention layer) {
        return new Case(name, layer, x -> layer.apply(x, x, x));
    }

    @ParameterizedTest
    @MethodSource("layers")
    void configRoundTripsThroughJson(Case c) {
        Map<String, Object> config = c.layer().getConfig();
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) Json.parse(Json.write(config));
        Layer again = LayerRegistry.fromConfig(c.layer().className(), parsed);
        assertEquals(Json.write(config), Json.write(again.getConfig()));
    }

    @ParameterizedTest
    @MethodSource("layers")
    void aModelHoldingItSavesAndLoadsBitForBit(Case c) throws IOException {
        Input input = Input.shape(6, 6, 4);
        SymbolicTensor x = c.use().apply(input);
        SymbolicTensor out = new Dense(3, dev.osprey.Activation.SOFTMAX).apply(new Flatten().apply(x));
        Random r = new Random(5);
        float[] data = new float[2 * 6 * 6 * 4];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) r.nextGaussian();
        }
        NDArray samples = new NDArray(data, 2, 6, 6, 4);
        Path file = dir.resolve(c.name().replace(' ', '-') + ".osprey");
        List<NDArray> weights;
        NDArray predictions;
        try (Model model = new Model(input, out).device(Device.cpu())) {
            model.build();
            model.save(file);
            weights = model.getWeights();
            predictions = model.predict(samples);
        }
        try (Model loaded = Model.load(file, Device.cpu())) {
            List<NDArray> again = loaded.getWeights();
            assertEquals(weights.size(), again.size());
            for (int i = 0; i < weights.size(); i++) {
                assertArrayEquals(weights.get(i).data(), again.get(i).data(), 0f, "weight " + i);
            }
            assertArrayEquals(predictions.data(), loaded.predict(samples).data(), 0f);
            assertTrue(loaded.layers().stream().anyMatch(l -> l.className().equals(c.layer().className())),
                    "the loaded model holds a " + c.layer().className());
        }
    }

    @Test
    void batchNormalizationTakesKerasNumberedChannelsAxis() {
        Layer numbered = LayerRegistry.fromConfig("BatchNormalization", Map.<String, Object>of("axis", List.of(3)));
        assertEquals(Shape.of(4, 4, 8), numbered.apply(Input.shape(4, 4, 8)).shape());
        Layer wrong = LayerRegistry.fromConfig("BatchNormalization", Map.<String, Object>of("axis", 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> wrong.apply(Input.shape(4, 4, 8)));
        assertTrue(e.getMessage().contains("expected axis -1 or 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LayerRegistry.fromConfig("BatchNormalization",
                Map.<String, Object>of("axis", 0)));
    }
}
