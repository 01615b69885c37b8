package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Padding;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.Activation;
import dev.osprey.layers.Add;
import dev.osprey.layers.AveragePooling2D;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.DepthwiseConv2D;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.GlobalMaxPooling2D;
import dev.osprey.layers.LeakyReLU;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.layers.Multiply;
import dev.osprey.layers.ReLU;
import dev.osprey.layers.Rescaling;
import dev.osprey.layers.Reshape;
import dev.osprey.layers.Softmax;
import dev.osprey.layers.ZeroPadding2D;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whole models, layers composed as graphs, on the CPU backend: the gradient of the mean cross-entropy with respect to
 * every trainable weight, as the training plan's backward pass computes it, against finite differences of the forward
 * pass. This checks each layer's backward in context, the plan's gradient routing (fan-out sums, shared layers) and
 * the weight views into the arena, all at once.
 */
class GraphGradientTest {
    private static final int BATCH = 3;
    private static final int CLASSES = 4;
    private static final double H = 2e-3; // small enough that few pre-activations cross a ReLU-like kink

    /** A model under test: its input and its logits (classes,). */
    record Case(String name, Supplier<SymbolicTensor[]> build) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of(new Case("conv, average pooling (same), dense", () -> {
                    Input in = Input.shape(6, 5, 3);
                    SymbolicTensor x = new Conv2D(4, 3).padding(Padding.SAME).apply(in);
                    x = new AveragePooling2D(2).padding(Padding.SAME).apply(x);
                    x = new Dense(CLASSES).apply(new Flatten().apply(x));
                    return new SymbolicTensor[] {in, x};
                })),
                Arguments.of(new Case("conv, max and average pooling with explicit padding, dense", () -> {
                    Input in = Input.shape(7, 6, 2);
                    SymbolicTensor x = new Conv2D(3, 2).apply(in);
                    x = new MaxPooling2D(2).padding(1, 0, 0, 1).apply(x); // 3x3 windows: kinks spoil finite differences
                    x = new AveragePooling2D(2).strides(1).padding(1, 0, 1, 1).apply(x);
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(x))};
                })),
                Arguments.of(new Case("permute (C, H, W) to (H, W, C), conv, permute back, dense", () -> {
                    Input in = Input.shape(2, 5, 4);
                    SymbolicTensor x = new dev.osprey.layers.Permute(2, 3, 1).apply(in);
                    x = new Conv2D(3, 2).apply(x);
                    x = new dev.osprey.layers.Permute(3, 1, 2).apply(x);
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(x))};
                })),
                Arguments.of(new Case("conv relu, max pooling, conv without bias, dense relu, dense", () -> {
                    Input in = Input.shape(7, 7, 2);
                    SymbolicTensor x = new Conv2D(3, 3, dev.osprey.Activation.RELU).apply(in);
                    x = new MaxPooling2D(2).apply(x);
                    x = new Conv2D(5, 2).useBias(false).apply(x);
                    x = new Dense(6, dev.osprey.Activation.RELU).apply(new Flatten().apply(x));
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(x)};
                })),
                Arguments.of(new Case("residual block: conv, batch norm, relu6, add, global average pooling", () -> {
                    Input in = Input.shape(6, 6, 3);
                    SymbolicTensor stem = new Conv2D(4, 3).padding(Padding.SAME).apply(in);
                    SymbolicTensor x = new Conv2D(4, 3).padding(Padding.SAME).useBias(false).apply(stem);
                    x = new ReLU(6f, 0f).apply(new BatchNormalization().momentum(0.5).apply(x));
                    x = new Conv2D(4, 3).padding(Padding.SAME).useBias(false).apply(x);
                    x = new BatchNormalization().apply(x);
                    x = new dev.osprey.layers.Activation("relu").apply(new Add().apply(x, stem)); // the stem fans out
                    x = new GlobalAveragePooling2D().apply(x);
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(x)};
                })),
                Arguments.of(new Case("inverted residual: expand, depthwise (multiplier 2), hard swish, project", () -> {
                    Input in = Input.shape(7, 6, 4);
                    SymbolicTensor x = new Conv2D(8, 1).apply(in);
                    x = new dev.osprey.layers.Activation("hard_swish").apply(new BatchNormalization().apply(x));
                    x = new ZeroPadding2D(1, 0, 1, 0).apply(x);
                    x = new DepthwiseConv2D(3).depthMultiplier(2).strides(2).useBias(false).apply(x);
                    x = new dev.osprey.layers.Activation("swish").apply(new BatchNormalization().apply(x));
                    x = new Conv2D(4, 1).useBias(false).apply(x);
                    x = new GlobalMaxPooling2D().apply(new BatchNormalization().apply(x));
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(x)};
                })),
                Arguments.of(new Case("branches: concatenate, multiply, softmax and gelu inside, rescaling, reshape",
                        () -> {
                    Input in = Input.shape(4, 4, 3);
                    SymbolicTensor scaled = new Rescaling(0.5, 0.1).apply(in);
                    SymbolicTensor a = new Conv2D(3, 3, Activation.GELU).padding(Padding.SAME).apply(scaled);
                    SymbolicTensor b = new Conv2D(2, 1, Activation.ELU).apply(scaled);
                    SymbolicTensor joined = new Concatenate().apply(a, b);
                    SymbolicTensor gate = new Softmax().apply(new Conv2D(5, 1).apply(joined));
                    SymbolicTensor x = new Multiply().apply(joined, gate);
                    x = new LeakyReLU(0.2f).apply(new Reshape(8, -1).apply(x));
                    x = new Dense(6, Activation.TANH).apply(new Flatten().apply(x));
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Dropout(0.25).apply(x))};
                })),
                Arguments.of(new Case("squeeze-and-excitation: (1, 1, C) gates multiply (H, W, C), either side, twice",
                        () -> {
                    Input in = Input.shape(5, 3, 2);
                    SymbolicTensor x = new Conv2D(4, 3, Activation.TANH).padding(Padding.SAME).apply(in);
                    SymbolicTensor squeezed = new GlobalAveragePooling2D().keepDims(true).apply(x);
                    SymbolicTensor s = new Conv2D(2, 1, Activation.RELU).apply(squeezed);
                    SymbolicTensor gate = new Conv2D(4, 1, Activation.SIGMOID).apply(s);
                    SymbolicTensor other = new Conv2D(4, 1, Activation.TANH).apply(squeezed);
                    x = new Multiply().apply(x, gate);
                    x = new Multiply().apply(other, x, gate); // a gate first, a feature map between two gates
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(x))};
                })),
                Arguments.of(new Case("dense on the last axis of a feature map (Keras' Dense on (H, W, C)), then another",
                        () -> {
                    Input in = Input.shape(3, 4, 2);
                    SymbolicTensor x = new Dense(5, Activation.TANH).apply(new Conv2D(3, 1).apply(in));
                    x = new Dense(2).useBias(false).apply(new BatchNormalization().apply(x)); // and one without a bias
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(x))};
                })),
                Arguments.of(new Case("ConvNeXt's block: depthwise, layer norm, dense x4 gelu, dense, stochastic "
                        + "depth, add; layer norm on a vector", () -> {
                    Input in = Input.shape(4, 4, 3);
                    SymbolicTensor stem = new Conv2D(4, 1).apply(in);
                    SymbolicTensor x = new DepthwiseConv2D(3).padding(Padding.SAME).apply(stem);
                    x = new dev.osprey.layers.LayerNormalization().epsilon(1e-6).apply(x);
                    x = new Dense(8, Activation.GELU).apply(x);
                    x = new dev.osprey.layers.StochasticDepth(0.5).apply(new Dense(4).apply(x));
                    x = new Add().apply(x, stem);
                    x = new GlobalAveragePooling2D().apply(x);
                    x = new dev.osprey.layers.LayerNormalization().apply(x);
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(x)};
                })),
                Arguments.of(new Case("a transformer encoder block: layer norm, self-attention (2 heads, dropout), "
                        + "add, layer norm, MLP, add", () -> {
                    Input in = Input.shape(5, 3);
                    SymbolicTensor tokens = new Dense(6).apply(in);
                    SymbolicTensor normed = new dev.osprey.layers.LayerNormalization().apply(tokens);
                    SymbolicTensor attended = new dev.osprey.layers.MultiHeadAttention(2, 3).dropout(0.3)
                            .apply(normed, normed);
                    SymbolicTensor x = new Add().apply(attended, tokens);
                    SymbolicTensor mlp = new Dense(12, Activation.GELU).apply(
                            new dev.osprey.layers.LayerNormalization().apply(x));
                    x = new Add().apply(new Dense(6).apply(mlp), x);
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(x))};
                })),
                Arguments.of(new Case("cross-attention: a feature map's pixels attend over another map's, key of its "
                        + "own, value and output widths of their own, no biases", () -> {
                    Input in = Input.shape(4, 4, 3);
                    SymbolicTensor query = new Conv2D(4, 1, Activation.TANH).apply(in);
                    SymbolicTensor value = new Conv2D(5, 2).strides(2).apply(in);
                    SymbolicTensor key = new Conv2D(3, 2).strides(2).apply(in);
                    SymbolicTensor x = new dev.osprey.layers.MultiHeadAttention(3, 2).valueDim(3).outputShape(2)
                            .useBias(false).apply(query, value, key);
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(x))};
                })),
                Arguments.of(new Case("a Vision Transformer: patches, class token, position embedding, encoder "
                        + "block, the class token's row cropped out", () -> {
                    Input in = Input.shape(4, 4, 2);
                    SymbolicTensor patches = new Conv2D(6, 2).strides(2).apply(in);
                    SymbolicTensor tokens = new dev.osprey.layers.ClassToken()
                            .initializer(dev.osprey.Initializer.heNormal()).apply(new Reshape(4, 6).apply(patches));
                    SymbolicTensor x = new Add().apply(tokens, new dev.osprey.layers.PositionEmbedding(7)
                            .apply(tokens)); // more positions than used: their gradient stays zero
                    SymbolicTensor normed = new dev.osprey.layers.LayerNormalization().apply(x);
                    x = new Add().apply(x, new dev.osprey.layers.MultiHeadAttention(3, 2).apply(normed, normed));
                    SymbolicTensor token = new Flatten().apply(new dev.osprey.layers.Cropping1D(0, 4).apply(x));
                    SymbolicTensor middle = new Flatten().apply(new dev.osprey.layers.Cropping1D(2, 1).apply(x));
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Concatenate().apply(token, middle))};
                })),
                Arguments.of(new Case("two Vision Transformer blocks, their attention's temporaries in one scratch "
                        + "arena", () -> {
                    dev.osprey.Model vit = dev.osprey.Models.visionTransformer("ViT", dev.osprey.Shape.of(4, 4, 2),
                            CLASSES, 2, 6, 2, 3, 8);
                    return new SymbolicTensor[] {vit.inputs().get(0), vit.outputs().get(0)};
                })),
                Arguments.of(new Case("ShuffleNet's unit: channel split, a branch, concatenate, channel shuffle",
                        () -> {
                    Input in = Input.shape(3, 3, 4);
                    SymbolicTensor x = new Conv2D(6, 1, Activation.TANH).apply(in);
                    SymbolicTensor kept = new dev.osprey.layers.ChannelSlice(0, 3).apply(x);
                    SymbolicTensor branch = new Conv2D(3, 3, Activation.TANH).padding(Padding.SAME)
                            .apply(new dev.osprey.layers.ChannelSlice(3, 6).apply(x));
                    SymbolicTensor joined = new Concatenate().apply(kept, branch);
                    SymbolicTensor shuffled = new Reshape(9, 2, 3).apply(joined); // (H * W, groups, C / groups)
                    shuffled = new dev.osprey.layers.Permute(1, 3, 2).apply(shuffled);
                    shuffled = new Reshape(3, 3, 6).apply(shuffled);
                    SymbolicTensor middle = new dev.osprey.layers.ChannelSlice(1, 5).apply(shuffled);
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(middle))};
                })),
                Arguments.of(new Case("fused in the plan: conv takes a LeakyReLU and a GELU layer, batch norm a ReLU",
                        () -> {
                    Input in = Input.shape(6, 6, 3);
                    SymbolicTensor x = new LeakyReLU(0.1f).apply(new Conv2D(4, 3).padding(Padding.SAME).apply(in));
                    x = new ReLU().apply(new BatchNormalization().apply(new Conv2D(4, 3).useBias(false).apply(x)));
                    x = new dev.osprey.layers.Activation("gelu").apply(new Conv2D(3, 1).apply(x));
                    return new SymbolicTensor[] {in, new Dense(CLASSES).apply(new Flatten().apply(x))};
                })),
                Arguments.of(new Case("a layer applied twice shares its weights; a softmax output", () -> {
                    Input in = Input.shape(5, 5, 2);
                    Conv2D shared = new Conv2D(2, 3, Activation.SIGMOID).padding(Padding.SAME);
                    SymbolicTensor x = shared.apply(shared.apply(in));
                    x = new Add().apply(x, new Conv2D(2, 1).apply(in));
                    return new SymbolicTensor[] {in, new Dense(CLASSES, Activation.SOFTMAX)
                            .apply(new Flatten().apply(x))};
                })));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void backwardMatchesFiniteDifferences(Case c) {
        SymbolicTensor[] model = c.build().get();
        Graph graph = new Graph(List.of((Input) model[0]), List.of(model[1]));
        Backend backend = Device.cpu().backend();
        Random r = new Random(c.name().hashCode());
        try (Network network = new Network(graph, backend); Memory memory = backend.newMemory()) {
            network.parameters().initialize(7);
            ExecutionPlan plan = network.trainingPlan(BATCH);
            float[] x = new float[(int) plan.input(0).size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            float[] targets = new float[BATCH * CLASSES];
            for (int i = 0; i < BATCH; i++) {
                targets[i * CLASSES + r.nextInt(CLASSES)] = 1;
            }
            backend.copyIn(x, 0, plan.input(0));
            backend.copyIn(targets, 0, plan.targets());
            Tensor stats = memory.allocate(2);
            plan.forward(1);
            backend.softmaxCrossEntropy(plan.output(0), plan.targets(), plan.outputGradient(), stats);
            plan.backward();
            for (Parameters.Slot s : network.parameters().slots()) {
                if (s.gradient() == null) {
                    continue;
                }
                float[] analytic = read(backend, s.gradient());
                float[] w = read(backend, s.value());
                for (int k = 0; k < Math.min(w.length, 12); k++) {
                    int i = (int) ((long) k * 7919 % w.length);
                    float saved = w[i];
                    w[i] = (float) (saved + H);
                    double plus = loss(backend, plan, s, w, stats);
                    w[i] = (float) (saved - H);
                    double minus = loss(backend, plan, s, w, stats);
                    w[i] = saved;
                    backend.copyIn(w, 0, s.value());
                    double numeric = (plus - minus) / (2 * H);
                    double err = Math.abs(numeric - analytic[i]) / Math.max(0.05, Math.abs(numeric));
                    assertTrue(err < 3e-2, c + ": d loss / d " + s.path() + "[" + i + "]: finite difference " + numeric
                            + ", backward " + analytic[i]);
                }
            }
        }
    }

    private static double loss(Backend backend, ExecutionPlan plan, Parameters.Slot slot, float[] w, Tensor stats) {
        backend.copyIn(w, 0, slot.value());
        backend.fill(stats, 0f);
        plan.forward(1);
        backend.softmaxCrossEntropy(plan.output(0), plan.targets(), null, stats);
        float[] s = read(backend, stats);
        return s[0] / BATCH;
    }

    private static float[] read(Backend backend, Tensor t) {
        float[] out = new float[(int) t.size()];
        backend.copyOut(t, out, 0);
        return out;
    }
}
