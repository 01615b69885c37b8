package dev.osprey.onnx;

import static dev.osprey.onnx.OnnxBadInputTest.assertMentions;
import static dev.osprey.onnx.OnnxBadInputTest.floats;
import static dev.osprey.onnx.OnnxBadInputTest.input;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import dev.osprey.layers.DepthwiseConv2D;
import dev.osprey.layers.LayerNormalization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.GraphProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.OperatorSetIdProto;
import onnx.Onnx.ValueInfoProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Layer normalization from ONNX, as PyTorch writes it (ConvNeXt's fixtures check whole models): the opset-17 op and
 * the ops it is written out in before, over an (N, H, W, C) tensor; a per-channel constant factor (ConvNeXt's layer
 * scale); and the refusals, naming what was expected.
 */
class OnnxLayerNormTest {
    private static final int N = 2, H = 3, W = 4, C = 5;
    private static final float EPSILON = 1e-6f;

    @TempDir
    Path dir;

    @Test
    void theOpset17OpIsOneLayerNormalization() throws Exception {
        GraphProto.Builder g = graph();
        g.addNode(node("LayerNormalization", "LayerNormalization", "t", "gamma", "beta").toBuilder().clearOutput()
                .addOutput("ln").addAttribute(intAttribute("axis", -1)).addAttribute(AttributeProto.newBuilder()
                        .setName("epsilon").setType(AttributeProto.AttributeType.FLOAT).setF(EPSILON)));
        check(g, 17);
    }

    @Test
    void theOpsPyTorchWritesItInBeforeOpset17AreOneLayerNormalization() throws Exception {
        check(writtenOut(false, 2f, 1, false), 14);
    }

    /**
     * Near misses of the written-out form import as no LayerNormalization, and so are refused (Osprey maps a mean over
     * the last axis only inside the pattern), never imported as a wrong normalization: x minus its mean the other way
     * round, a square by another power, the mean without its axis kept, the centered value also a graph output.
     */
    @Test
    void nearMissesOfTheWrittenOutFormAreRefusedNotMisread() throws Exception {
        for (GraphProto.Builder g : java.util.List.of(writtenOut(true, 2f, 1, false), writtenOut(false, 3f, 1, false),
                writtenOut(false, 2f, 0, false), writtenOut(false, 2f, 1, true))) {
            assertMentions(OnnxBadInputTest.refused(write(tail(g), 14)), "ReduceMean", "received axes [-1]");
        }
    }

    /**
     * The written-out layer norm into "ln": swapped, mean - x instead of x - mean; power, the square's exponent;
     * keepdims, the first mean's; centeredOut, x - mean also a graph output.
     */
    private static GraphProto.Builder writtenOut(boolean swapped, float power, int keepdims, boolean centeredOut) {
        GraphProto.Builder g = graph();
        g.addNode(node("mean", "ReduceMean", "t").toBuilder().addAttribute(intsAttribute("axes", -1))
                .addAttribute(intAttribute("keepdims", keepdims)));
        g.addNode(swapped ? node("sub", "Sub", "mean", "t") : node("sub", "Sub", "t", "mean"));
        g.addNode(node("pow", "Pow", "sub", "two"));
        g.addNode(node("var", "ReduceMean", "pow").toBuilder().addAttribute(intsAttribute("axes", -1)));
        g.addNode(node("plus", "Add", "var", "eps"));
        g.addNode(node("sqrt", "Sqrt", "plus"));
        g.addNode(node("div", "Div", "sub", "sqrt"));
        g.addNode(node("scaled", "Mul", "div", "gamma"));
        g.addNode(node("ln", "Add", "scaled", "beta"));
        g.addInitializer(floats("two", new float[] {power})).addInitializer(floats("eps", new float[] {EPSILON}));
        if (centeredOut) {
            g.addOutput(ValueInfoProto.newBuilder().setName("sub"));
        }
        return g;
    }

    /**
     * A layer norm without its own offset, then an Add of one constant per channel (the bias written apart, as a
     * LayerNorm without elementwise affine and a separate bias export): the bias imports as a depthwise 1x1 convolution
     * with unit weights; the model computes the formula.
     */
    @Test
    void aBiasPerChannelAfterwardsIsAddedByItself() throws Exception {
        GraphProto.Builder g = graph();
        g.addNode(node("normalized", "LayerNormalization", "t", "gamma").toBuilder()
                .addAttribute(intAttribute("axis", -1)).addAttribute(AttributeProto.newBuilder().setName("epsilon")
                        .setType(AttributeProto.AttributeType.FLOAT).setF(EPSILON)));
        g.addNode(node("ln", "Add", "beta", "normalized"));
        check(g, 17, 2);
    }

    /** Over the width of an (N, C, H, W) map (no transpose first): refused, saying what Osprey normalizes. */
    @Test
    void aNormalizationOverTheWidthOfAFeatureMapIsRefused() throws Exception {
        GraphProto.Builder g = GraphProto.newBuilder().addInput(input("x", "N", C, H, W))
                .addNode(node("LayerNormalization", "LayerNormalization", "x", "gamma").toBuilder()
                        .addAttribute(intAttribute("axis", -1)))
                .addInitializer(floats("gamma", new float[W], W))
                .addOutput(ValueInfoProto.newBuilder().setName("LayerNormalization"));
        assertMentions(OnnxBadInputTest.refused(write(g, 17)), "LayerNormalization", "over channels",
                "(N, " + C + ", " + H + ", " + W + ")");
        GraphProto.Builder other = graph();
        other.addNode(node("ln", "LayerNormalization", "t", "gamma", "beta").toBuilder()
                .addAttribute(intAttribute("axis", 2)));
        assertMentions(OnnxBadInputTest.refused(write(tail(other), 17)), "the last axis", "received axis 2");
    }

    /**
     * x (N, C, H, W) -> Transpose to (N, H, W, C) "t" -> the normalization "ln" (each test adds it) -> then, by
     * {@link #tail}, Transpose back -> Mul by a per-channel constant (C, 1, 1), ConvNeXt's layer scale -> y.
     */
    private static GraphProto.Builder graph() {
        float[] gamma = new float[C], beta = new float[C], scale = new float[C];
        for (int c = 0; c < C; c++) {
            gamma[c] = 0.5f + c;
            beta[c] = 0.1f * c - 0.2f;
            scale[c] = 2f - 0.3f * c;
        }
        return GraphProto.newBuilder().addInput(input("x", "N", C, H, W))
                .addNode(node("t", "Transpose", "x").toBuilder().addAttribute(intsAttribute("perm", 0, 2, 3, 1)))
                .addInitializer(floats("gamma", gamma, C)).addInitializer(floats("beta", beta, C))
                .addInitializer(floats("layer_scale", scale, C, 1, 1));
    }

    /** The nodes after "ln" (graph's nodes are in the order they run). */
    private static GraphProto.Builder tail(GraphProto.Builder g) {
        return g.addNode(node("back", "Transpose", "ln").toBuilder().addAttribute(intsAttribute("perm", 0, 3, 1, 2)))
                .addNode(node("y", "Mul", "layer_scale", "back"))
                .addOutput(ValueInfoProto.newBuilder().setName("y"));
    }

    /** One LayerNormalization and one depthwise 1x1 convolution (the layer scale), computing the formula. */
    private void check(GraphProto.Builder g, int opset) throws Exception {
        check(g, opset, 1);
    }

    /** ... with this many depthwise 1x1 convolutions (the layer scale, and a bias added apart). */
    private void check(GraphProto.Builder g, int opset, int depthwise) throws Exception {
        try (Model model = new OnnxImporter().device(Device.cpu()).importModel(write(tail(g), opset))) {
            assertEquals(1, model.layers().stream().filter(l -> l instanceof LayerNormalization).count(),
                    model.layers().toString());
            assertEquals(depthwise, model.layers().stream().filter(l -> l instanceof DepthwiseConv2D).count());
            assertEquals(EPSILON, ((LayerNormalization) model.layers().stream()
                    .filter(l -> l instanceof LayerNormalization).findFirst().orElseThrow()).epsilon(), 1e-12);
            Random r = new Random(3);
            float[] x = new float[N * H * W * C];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian() + 20 * (i / C % 3); // pixels offset from each other
            }
            float[] y = model.predict(new NDArray(x, N, H, W, C)).data(); // Osprey's (H, W, C) layout
            for (int p = 0; p < N * H * W; p++) {
                double mean = 0, var = 0;
                for (int c = 0; c < C; c++) {
                    mean += x[p * C + c] / (double) C;
                }
                for (int c = 0; c < C; c++) {
                    var += Math.pow(x[p * C + c] - mean, 2) / C;
                }
                for (int c = 0; c < C; c++) {
                    double normalized = (x[p * C + c] - mean) / Math.sqrt(var + EPSILON);
                    double expected = (2 - 0.3 * c) * ((0.5 + c) * normalized + 0.1 * c - 0.2);
                    assertTrue(Math.abs(y[p * C + c] - expected) < 1e-4, "pixel " + p + " channel " + c + ": "
                            + y[p * C + c] + ", expected " + expected);
                }
            }
        }
    }

    private Path write(GraphProto.Builder g, int opset) throws Exception {
        Path p = dir.resolve("model" + System.nanoTime() + ".onnx");
        Files.write(p, ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build()
                .toByteArray());
        return p;
    }

    private static NodeProto node(String output, String op, String... inputs) {
        NodeProto.Builder b = NodeProto.newBuilder().setName(output).setOpType(op).addOutput(output);
        for (String in : inputs) {
            b.addInput(in);
        }
        return b.build();
    }

    private static AttributeProto intAttribute(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    private static AttributeProto intsAttribute(String name, long... v) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) {
            a.addInts(x);
        }
        return a.build();
    }
}
