package dev.osprey.onnx;

import static dev.osprey.onnx.OnnxBadInputTest.assertMentions;
import static dev.osprey.onnx.OnnxBadInputTest.input;
import static dev.osprey.onnx.OnnxChannelShuffleTest.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.GraphProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.OperatorSetIdProto;
import onnx.Onnx.ValueInfoProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Split of a feature map's channels (torch.chunk and torch.split as newer exporters write them): sizes from the
 * opset-13 input, from the attribute before it, and equal parts by num_outputs (opset 18, the last part smaller);
 * the parts, concatenated in another order, give the channels worked out by hand. Other axes are refused.
 */
class OnnxSplitTest {
    private static final int C = 5, H = 2, W = 3;

    @TempDir
    Path dir;

    @Test
    void sizesFromTheInputAtOpset13() throws Exception {
        GraphProto.Builder g = graph().addInitializer(ints("sizes", 2, 3));
        g.addNode(split(intAttribute("axis", 1), "x", "sizes"));
        check(g, 13, new int[] {2, 3, 4, 0, 1}); // (b, a): channels 2..4, then 0..1
    }

    @Test
    void sizesFromTheAttributeBeforeOpset13() throws Exception {
        GraphProto.Builder g = graph();
        g.addNode(split(intAttribute("axis", -3), "x").toBuilder().addAttribute(AttributeProto.newBuilder()
                .setName("split").setType(AttributeProto.AttributeType.INTS).addInts(4).addInts(1)));
        check(g, 11, new int[] {4, 0, 1, 2, 3});
    }

    /** num_outputs 2 of 5 channels: 3 and 2, as ONNX 18 rounds. */
    @Test
    void equalPartsByNumOutputsAtOpset18() throws Exception {
        GraphProto.Builder g = graph();
        g.addNode(split(intAttribute("axis", 1), "x").toBuilder().addAttribute(intAttribute("num_outputs", 2)));
        check(g, 18, new int[] {3, 4, 0, 1, 2});
    }

    @Test
    void aSplitAlongAnotherAxisIsRefused() throws Exception {
        GraphProto.Builder g = graph().addInitializer(ints("sizes", 1, 1));
        g.addNode(split(intAttribute("axis", 2), "x", "sizes"));
        assertMentions(OnnxBadInputTest.refused(write(g, 13)), "Split", "channels (axis 1)", "received axis 2");
        GraphProto.Builder wrong = graph().addInitializer(ints("sizes", 2, 2));
        wrong.addNode(split(intAttribute("axis", 1), "x", "sizes"));
        assertMentions(OnnxBadInputTest.refused(write(wrong, 13)), "add up to the 5 channels", "[2, 2]");
        GraphProto.Builder huge = graph().addInitializer(ints("sizes", Long.MAX_VALUE, Long.MIN_VALUE + 6));
        huge.addNode(split(intAttribute("axis", 1), "x", "sizes")); // sizes past any int that add up to 5
        assertMentions(OnnxBadInputTest.refused(write(huge, 13)), "add up to the 5 channels");
        GraphProto.Builder uneven = graph();
        uneven.addNode(split(intAttribute("axis", 1), "x")); // 5 channels into 2 equal parts, before opset 18
        assertMentions(OnnxBadInputTest.refused(write(uneven, 13)), "split evenly", "remainder of 1");
    }

    /** x (N, C, H, W) -> Split into "a" and "b" (each test adds it) -> Concat (b, a) on the channels -> y. */
    private static GraphProto.Builder graph() {
        return GraphProto.newBuilder().addInput(input("x", "N", C, H, W))
                .addOutput(ValueInfoProto.newBuilder().setName("y"));
    }

    private static NodeProto split(AttributeProto axis, String... inputs) {
        NodeProto.Builder b = NodeProto.newBuilder().setName("split").setOpType("Split").addOutput("a").addOutput("b")
                .addAttribute(axis);
        for (String in : inputs) {
            b.addInput(in);
        }
        return b.build();
    }

    private void check(GraphProto.Builder g, int opset, int[] from) throws Exception {
        g.addNode(NodeProto.newBuilder().setName("y").setOpType("Concat").addInput("b").addInput("a").addOutput("y")
                .addAttribute(intAttribute("axis", 1)));
        int batch = 2;
        float[] x = new float[batch * H * W * C]; // Osprey's (H, W, C) input
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        float[] expected = new float[x.length];
        for (int p = 0; p < batch * H * W; p++) {
            for (int c = 0; c < C; c++) {
                expected[p * C + c] = x[p * C + from[c]];
            }
        }
        try (Model model = new OnnxImporter().device(Device.cpu()).importModel(write(g, opset))) {
            assertArrayEquals(expected, model.predict(new NDArray(x, batch, H, W, C)).data(), 0f);
        }
    }

    private Path write(GraphProto.Builder g, int opset) throws Exception {
        Path p = dir.resolve("split" + System.nanoTime() + ".onnx");
        Files.write(p, ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build().toByteArray());
        return p;
    }

    private static AttributeProto intAttribute(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }
}
