package dev.osprey.engine;

import static dev.osprey.backend.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.backend.Tensor;
import dev.osprey.layers.Add;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.ReLU;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Optimized inference plans (BatchNorm folded, residual sums and their activation computed by the convolution before
 * them, kernels kept in the backend's own layouts) give the plain plan's outputs, on every built-in architecture, and
 * follow the weights when they change.
 */
class OptimizedInferenceTest {
    private static final Backend CPU = Device.cpu().backend();

    /** Every weight (moving statistics included) to seeded random values of a trained model's size. */
    static void randomize(Parameters p, long seed) {
        Seeded.randomize(CPU, p, seed);
    }

    static float[] run(ExecutionPlan plan, float[] x) {
        CPU.copyIn(x, 0, plan.input(0));
        plan.forward(0);
        Tensor out = plan.output(0);
        float[] y = new float[(int) out.size()];
        CPU.copyOut(out, y, 0);
        return y;
    }

    static float[] images(int n, Shape shape, long seed) {
        return Seeded.images(n, shape, seed);
    }

    /** Optimized against plain on one graph, before and after the weights change; returns the optimized plan's sums. */
    private static int compare(String name, Graph graph, Shape input) {
        try (Network network = new Network(graph, CPU)) {
            randomize(network.parameters(), 1);
            int batch = 3;
            float[] x = images(batch, input, 2);
            try (ExecutionPlan optimized = new ExecutionPlan(graph, network.parameters(), CPU, batch, false, true, true);
                 ExecutionPlan plain = new ExecutionPlan(graph, network.parameters(), CPU, batch, false, true, false)) {
                agree(name, run(plain, x), run(optimized, x), batch);
                randomize(network.parameters(), 3);
                agree(name + " after the weights changed", run(plain, x), run(optimized, x), batch);
                return optimized.residualSums();
            }
        }
    }

    /**
     * Predictions (softmax probabilities) agree to 1e-5, as the issue asks; the logits under them to 1e-4 of the largest
     * logit: a folded kernel rounds differently from a convolution then a normalization, and 50 layers add that up.
     */
    private static void agree(String name, float[] plainLogits, float[] optimizedLogits, int batch) {
        float largest = 1f;
        for (float v : plainLogits) {
            largest = Math.max(largest, Math.abs(v));
        }
        float[] plainScaled = plainLogits.clone();
        float[] optimizedScaled = optimizedLogits.clone();
        for (int i = 0; i < plainScaled.length; i++) {
            plainScaled[i] /= largest;
            optimizedScaled[i] /= largest;
        }
        assertClose(name + ": logits over the largest", plainScaled, optimizedScaled, 1e-4);
        int classes = plainLogits.length / batch;
        assertClose(name + ": predictions", ReferenceOps.softmax(plainLogits, batch, classes),
                ReferenceOps.softmax(optimizedLogits, batch, classes), 1e-5);
    }

    private static Graph graphOf(Model m) {
        return new Graph(m.inputs(), m.outputs());
    }

    @Test
    void everyBuiltInArchitectureGivesThePlainPlansOutputs() {
        Shape small = Shape.of(32, 32, 3);
        assertEquals(0, compare("tutorial", graphOf(Models.tutorialCnn(Shape.of(28, 28, 1), 10)), Shape.of(28, 28, 1)));
        assertEquals(9, compare("resnet20", graphOf(Models.resNet(20, small, 10)), small),
                "every ResNet-20 block's sum and ReLU run in its last convolution");
        assertEquals(8, compare("resnet18", graphOf(Models.resNet18(small, 10)), small));
        assertEquals(16, compare("resnet50", graphOf(Models.resNet50(small, 10)), small));
        assertEquals(10, compare("mobilenetv2", graphOf(Models.mobileNetV2(0.35, small, 10)), small),
                "MobileNetV2's ten inverted residuals");
        assertEquals(9, compare("efficientnetb0", graphOf(Models.efficientNetB0(small, 10)), small),
                "EfficientNet-B0's nine residual MBConv blocks");
        assertEquals(6, compare("mobilenetv3small", graphOf(Models.mobileNetV3Small(small, 10)), small),
                "MobileNetV3-Small's six residual blocks");
        assertEquals(18, compare("convnexttiny", graphOf(Models.convNeXtTiny(small, 10)), small),
                "each of ConvNeXt-Tiny's 18 blocks adds its input in its layer scale (a depthwise 1x1 convolution)");
        assertEquals(9, compare("efficientnetb0 with stochastic depth", graphOf(Models.efficientNetB0(small, 10, 0.2)),
                small), "the sums after stochastic-depth branches (the identity in inference) are still taken");
        assertEquals(18, compare("convnexttiny with stochastic depth", graphOf(Models.convNeXtTiny(small, 10, 0.1)),
                small));
        assertEquals(24, compare("vittiny", graphOf(Models.vitTiny(small, 10)), small),
                "each of ViT-Tiny's 12 blocks adds its input in the attention's output projection and the MLP's input "
                        + "in the MLP's last dense layer (both 1x1 convolutions)");
    }

    /**
     * Dense on the last axis of larger inputs runs as a 1x1 convolution in optimized plans: on a feature map with a
     * GELU and a folded BatchNormalization, without a bias beside a ConvNeXt-style layer norm and residual, and on
     * (T, C) rows, each against the plain plan's inner products. Adds a sum the last convolution takes (ConvNeXt's).
     */
    @Test
    void denseOnTheLastAxisGivesThePlainPlansOutputsAsAPointwiseConvolution() {
        dev.osprey.Input in = dev.osprey.Input.shape(5, 6, 4);
        dev.osprey.SymbolicTensor x = new dev.osprey.layers.LayerNormalization().apply(in);
        x = new dev.osprey.layers.Dense(12, dev.osprey.Activation.GELU).apply(x);
        x = new dev.osprey.layers.BatchNormalization().apply(new dev.osprey.layers.Dense(4).useBias(false).apply(x));
        x = new dev.osprey.layers.Add().apply(x, in);
        dev.osprey.SymbolicTensor rows = new dev.osprey.layers.Reshape(30, 4).apply(x);
        rows = new dev.osprey.layers.Dense(6, dev.osprey.Activation.TANH).apply(rows);
        dev.osprey.SymbolicTensor out = new dev.osprey.layers.Dense(5).apply(new dev.osprey.layers.Flatten().apply(rows));
        compare("dense on the last axis", new Graph(List.of(in), List.of(out)), Shape.of(5, 6, 4));
    }

    /**
     * Attention takes the residual sum after it and the activation after that sum (folded in by the plan), on the 1x1
     * convolution path and, in a cross-attention with a key of its own, without a bias; self-attention's packed
     * projection with and without biases; the plain plan's outputs.
     */
    @Test
    void attentionTakesTheSumAndTheActivationAfterIt() {
        dev.osprey.Input in = dev.osprey.Input.shape(6, 8);
        SymbolicTensor x = new dev.osprey.layers.MultiHeadAttention(2, 4).apply(in, in);
        x = new dev.osprey.layers.ReLU().apply(new Add().apply(x, in));
        SymbolicTensor key = new dev.osprey.layers.Dense(5, Activation.TANH).apply(in);
        SymbolicTensor y = new dev.osprey.layers.MultiHeadAttention(1, 3).useBias(false).apply(x, in, key);
        y = new dev.osprey.layers.Activation("gelu").apply(new Add().apply(in, y));
        // self-attention projects the query, key and value in one op: here without biases, values wider than keys
        SymbolicTensor z = new dev.osprey.layers.MultiHeadAttention(3, 2).valueDim(5).useBias(false).apply(y, y);
        SymbolicTensor out = new dev.osprey.layers.Dense(4).apply(new dev.osprey.layers.Flatten().apply(z));
        assertEquals(2, compare("attention, sum, activation", new Graph(List.of(in), List.of(out)), Shape.of(6, 8)),
                "both sums (and the ReLU and GELU after them) run in the attention's output projection");
    }

    /**
     * MobileNet's expansion and depthwise convolutions: stride 1 with "same" padding, and stride 2 behind PyTorch's
     * symmetric zero padding, each with folded BatchNorms and ReLU6, and a pair with the layers' own activations and
     * biases, run as one op; Keras' (0, 1) padding at stride 2 and a pointwise output read twice are not fused. The
     * fused plan gives the plain plan's outputs. Whether oneDNN gains on this CPU is not the question here: the backend
     * is the CPU's with every pair of shapes the post-op takes accepted (oneDNN computes them all, inside its 1x1
     * kernel or not); the CPU's own choice, at 4 images, must fuse none.
     */
    @Test
    void aPointwiseAndTheDepthwiseConvolutionReadingItRunAsOneOpWhereTheBackendFusesThem() {
        Input in = Input.shape(16, 16, 24);
        SymbolicTensor x = expand(in, 144);
        x = relu6(new BatchNormalization().apply(new dev.osprey.layers.DepthwiseConv2D(3).padding(Padding.SAME)
                .useBias(false).apply(x)));                                                    // fused: stride 1
        SymbolicTensor block = new Add().apply(in, new BatchNormalization().apply(new Conv2D(24, 1).useBias(false)
                .apply(x)));
        SymbolicTensor y = expand(block, 144);
        y = relu6(new BatchNormalization().apply(new dev.osprey.layers.DepthwiseConv2D(3).strides(2).useBias(false)
                .apply(new dev.osprey.layers.ZeroPadding2D(1).apply(y))));                   // fused: stride 2
        SymbolicTensor own = new dev.osprey.layers.DepthwiseConv2D(3).padding(Padding.SAME)
                .activation(Activation.RELU6).apply(new Conv2D(96, 1, Activation.RELU).apply(block)); // fused: own
        SymbolicTensor z = expand(block, 144);
        z = new dev.osprey.layers.DepthwiseConv2D(3).strides(2).padding(Padding.SAME).apply(z); // (0, 1): not fused
        SymbolicTensor twice = expand(block, 96);
        SymbolicTensor w = new Add().apply(new dev.osprey.layers.DepthwiseConv2D(3).padding(Padding.SAME)
                .apply(twice), twice);                                                         // read twice: not fused
        // every position of the stride-2 output reaches the logits (a pooling would hide pixels moved around)
        SymbolicTensor features = new dev.osprey.layers.Concatenate().apply(
                new dev.osprey.layers.Flatten().apply(y), new GlobalAveragePooling2D().apply(own),
                new GlobalAveragePooling2D().apply(z), new GlobalAveragePooling2D().apply(w));
        Graph graph = new Graph(List.of(in), List.of(new Dense(10).apply(features)));
        Backend everyShapeFused = fusingEveryShapeThePostOpTakes(CPU);
        try (Network network = new Network(graph, CPU)) {
            randomize(network.parameters(), 1);
            int batch = 32; // where this CPU (2 threads, AVX2) runs the post-op inside its 1x1 kernel
            float[] images = images(batch, in.shape(), 2);
            try (ExecutionPlan optimized = new ExecutionPlan(graph, network.parameters(), everyShapeFused, batch, false,
                    true, true);
                 ExecutionPlan plain = new ExecutionPlan(graph, network.parameters(), CPU, batch, false, true, false)) {
                assertEquals(3, optimized.depthwiseFusions());
                agree("fused", run(plain, images), run(optimized, images), batch);
                randomize(network.parameters(), 3);
                agree("fused, after the weights changed", run(plain, images), run(optimized, images), batch);
            }
            try (ExecutionPlan few = new ExecutionPlan(graph, network.parameters(), CPU, 4, false, true, true)) {
                assertEquals(0, few.depthwiseFusions(), "4 images of 16x16: too few pixels to gain");
            }
        }
    }

    /**
     * The backend with fusesDepthwise answering yes for every pair oneDNN's depthwise post-op computes right (a 1x1,
     * stride-1 pointwise convolution, then a 3x3 depthwise one with one pixel of padding on each side), whatever the
     * size; every other call goes to backend.
     */
    private static Backend fusingEveryShapeThePostOpTakes(Backend backend) {
        return (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, method, args) -> {
                    if (method.getName().equals("fusesDepthwise")) {
                        dev.osprey.backend.Conv2dSpec p = (dev.osprey.backend.Conv2dSpec) args[0];
                        dev.osprey.backend.Conv2dSpec d = (dev.osprey.backend.Conv2dSpec) args[1];
                        return p.kernelH() == 1 && p.kernelW() == 1 && p.strideH() == 1 && p.strideW() == 1
                                && p.groups() == 1 && p.padTop() + p.padLeft() + p.padBottom() + p.padRight() == 0
                                && d.kernelH() == 3 && d.kernelW() == 3 && d.strideH() == d.strideW()
                                && d.padTop() == 1 && d.padLeft() == 1 && d.groups() == d.inC()
                                && d.filters() == d.inC() && d.outH() == (d.inH() - 1) / d.strideH() + 1
                                && d.outW() == (d.inW() - 1) / d.strideW() + 1;
                    }
                    try {
                        return method.invoke(backend, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    private static SymbolicTensor expand(SymbolicTensor x, int channels) {
        return relu6(new BatchNormalization().apply(new Conv2D(channels, 1).useBias(false).apply(x)));
    }

    private static SymbolicTensor relu6(SymbolicTensor x) {
        return new ReLU(6f, 0f).apply(x);
    }

    @Test
    void aFewChannelConvolutionAndTheMaxPoolingReadingItRunAsOneOpWhereTheBackendFusesThem() {
        Shape image = Shape.of(28, 28, 1);
        Graph tutorial = graphOf(Models.tutorialCnn(image, 10));
        dev.osprey.backend.Conv2dSpec first = new dev.osprey.backend.Conv2dSpec(3, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0, 0,
                0, Activation.RELU);
        org.junit.jupiter.api.Assumptions.assumeTrue("true".equals(System.getenv("CI")) || CPU.fusesMaxPool(first,
                new dev.osprey.backend.Pool2dSpec(3, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0)),
                "Osprey's pooled convolution can't run here (no native library or no AVX2); CI has both");
        assertEquals(2, fusedPoolings(tutorial, image, 3), "the tutorial CNN's 1-channel convolution and its pooling "
                + "(the pooled kernel), its second and its pooling (the Winograd kernel)");
        assertEquals(2, fusedPoolings(tutorial, image, 1), "at batch 1 too");
        compare("tutorial", tutorial, image); // the fused plan's predictions against the plain plan's
        Input in = Input.shape(15, 13, 3);
        SymbolicTensor a = new dev.osprey.layers.MaxPooling2D(2).apply(relu6(new BatchNormalization().apply(
                new Conv2D(16, 5).padding(Padding.SAME).useBias(false).apply(in))));  // fused, with the folded norm
        SymbolicTensor b = new Conv2D(8, 3).apply(in);
        SymbolicTensor twice = new Add().apply(new dev.osprey.layers.MaxPooling2D(2).apply(b),
                new dev.osprey.layers.MaxPooling2D(2).apply(b));                          // b read twice: not fused
        SymbolicTensor c = new dev.osprey.layers.MaxPooling2D(3).apply(new Conv2D(8, 3, Activation.RELU).apply(in));
        SymbolicTensor d = new dev.osprey.layers.MaxPooling2D(2).apply(new Conv2D(16, 3).apply(a)); // 16 inputs
        SymbolicTensor features = new dev.osprey.layers.Concatenate().apply(new dev.osprey.layers.Flatten().apply(a),
                new GlobalAveragePooling2D().apply(twice), new GlobalAveragePooling2D().apply(c),
                new GlobalAveragePooling2D().apply(d));
        Graph graph = new Graph(List.of(in), List.of(new Dense(10).apply(features)));
        assertEquals(1, fusedPoolings(graph, in.shape(), 2), "only the first: one reader, a 2x2 window, 3 inputs");
        compare("pooled", graph, in.shape());
        // the pooling is the model's output, through either kernel
        Input narrow = Input.shape(12, 10, 2);
        Graph pooledOut = new Graph(List.of(narrow), List.of(new dev.osprey.layers.MaxPooling2D(2).apply(
                new Conv2D(16, 3, Activation.RELU).apply(narrow))));
        assertEquals(1, fusedPoolings(pooledOut, narrow.shape(), 2));
        Input wide = Input.shape(12, 10, 32);
        Graph winogradOut = new Graph(List.of(wide), List.of(new dev.osprey.layers.MaxPooling2D(2).apply(
                new Conv2D(32, 3, Activation.RELU).apply(wide))));
        assertEquals(1, fusedPoolings(winogradOut, wide.shape(), 8));
        for (Graph g : List.of(pooledOut, winogradOut)) {
            Shape shape = g.inputs().get(0).shape();
            try (Network network = new Network(g, CPU)) {
                randomize(network.parameters(), 5);
                float[] x = images(2, shape, 6);
                try (ExecutionPlan optimized = new ExecutionPlan(g, network.parameters(), CPU, 2, false, true, true);
                     ExecutionPlan plain = new ExecutionPlan(g, network.parameters(), CPU, 2, false, true, false)) {
                    assertClose("a pooled model output", run(plain, x), run(optimized, x), 1e-4);
                }
            }
        }
    }

    private static int fusedPoolings(Graph graph, Shape input, int batch) {
        try (Network network = new Network(graph, CPU);
             ExecutionPlan plan = new ExecutionPlan(graph, network.parameters(), CPU, batch, false, true, true)) {
            return plan.maxPoolFusions();
        }
    }

    @Test
    void aSumIsTakenOnlyWhereItsOtherInputIsReadyAndNothingElseReadsTheConvolution() {
        Input in = Input.shape(8, 8, 4);
        SymbolicTensor a = new Conv2D(4, 3).padding(Padding.SAME).apply(in);
        SymbolicTensor b = new BatchNormalization().apply(new Conv2D(4, 3).padding(Padding.SAME).useBias(false)
                .apply(a));
        SymbolicTensor block = new ReLU().apply(new Add().apply(b, a)); // taken: b's conv adds a, then the ReLU
        SymbolicTensor c = new Conv2D(4, 1).apply(block);
        SymbolicTensor twice = new Add().apply(c, c);                   // one tensor twice: not taken
        SymbolicTensor d = new Conv2D(4, 1, Activation.RELU).apply(twice);
        SymbolicTensor e = new Add().apply(d, twice);                   // d has its own activation: not taken
        SymbolicTensor f = new Conv2D(4, 1).apply(e);
        SymbolicTensor g = new Add().apply(f, new ReLU().apply(f));     // f read twice: not taken
        SymbolicTensor out = new Dense(3).apply(new GlobalAveragePooling2D().apply(g));
        assertEquals(1, compare("mixed", new Graph(List.of(in), List.of(out)), Shape.of(8, 8, 4)));
    }

    @Test
    void steadyStateInferenceAtBatchOneAndLargeBatchesAllocatesNoNativeMemory() {
        try (Model model = Models.resNet(20, Shape.of(32, 32, 3), 10)) {
            NDArray one = smallImages(1, 4);
            NDArray many = smallImages(256, 5);
            assertSteadyStateAllocatesNothing(model, one, many, "steady-state inference allocated native memory");
            assertTrue(model.backend().nativeAllocations() > 0);
        }
    }

    @Test
    void steadyStateInt8InferenceAllocatesNoNativeMemoryEither() {
        try (Model model = Models.resNet(20, Shape.of(32, 32, 3), 10)) {
            NDArray one = smallImages(1, 4);
            NDArray many = smallImages(256, 5);
            model.quantize(many.slice(0, 64));
            org.junit.jupiter.api.Assumptions.assumeTrue(model.inferencePrecision() == dev.osprey.Precision.INT8,
                    () -> model.backend().unavailable(dev.osprey.Precision.INT8));
            assertSteadyStateAllocatesNothing(model, one, many, "steady-state int8 inference allocated native memory");
        }
    }

    /**
     * A transformer in int8: its MLP's dense layers quantized, its attention on the fp32 1x1 path (self-attention's
     * packed projection too); close to fp32, not equal to it; and steady-state calls allocate nothing.
     */
    @Test
    void aTransformerInfersInInt8WithItsAttentionInFp32() {
        try (Model model = Models.visionTransformer("vit", Shape.of(32, 32, 3), 10, 8, 48, 2, 3, 96)) {
            NDArray one = smallImages(1, 4);
            NDArray many = smallImages(256, 5);
            float[] fp32 = model.predict(many.slice(0, 32), 32).data();
            model.quantize(many.slice(0, 64));
            org.junit.jupiter.api.Assumptions.assumeTrue(model.inferencePrecision() == dev.osprey.Precision.INT8,
                    () -> model.backend().unavailable(dev.osprey.Precision.INT8));
            float[] int8 = model.predict(many.slice(0, 32), 32).data();
            double largest = 0;
            for (int i = 0; i < fp32.length; i++) {
                largest = Math.max(largest, Math.abs(fp32[i] - int8[i]));
            }
            assertTrue(largest > 0 && largest < 0.02, "int8 probabilities near fp32's, not equal: " + largest);
            assertSteadyStateAllocatesNothing(model, one, many, "steady-state int8 transformer allocated native memory");
        }
    }

    /** The same where plans run pointwise and depthwise convolutions as one op (MobileNetV2's 16x16 maps at 256). */
    @Test
    void steadyStateInferenceWithDepthwiseFusionsAllocatesNoNativeMemoryEither() {
        try (Model model = Models.mobileNetV2(1.0, Shape.of(32, 32, 3), 10)) {
            NDArray one = smallImages(1, 4);
            NDArray many = smallImages(256, 5);
            assertSteadyStateAllocatesNothing(model, one, many, "steady-state fused inference allocated native memory");
        }
    }

    /** n seeded random 32x32x3 images. */
    private static NDArray smallImages(int n, long seed) {
        return new NDArray(images(n, Shape.of(32, 32, 3), seed), n, 32, 32, 3);
    }

    /** After one warm-up call at each batch size, three more of each allocate no native memory. */
    private static void assertSteadyStateAllocatesNothing(Model model, NDArray one, NDArray many, String message) {
        model.predict(one, 1);
        model.predict(many, 256);
        long warm = model.backend().nativeAllocations();
        for (int i = 0; i < 3; i++) {
            model.predict(one, 1);
            model.predict(many, 256);
        }
        assertEquals(warm, model.backend().nativeAllocations(), message);
    }
}
