package dev.osprey.onnx;

import static dev.osprey.onnx.OnnxBadInputTest.input;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.GraphProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.OperatorSetIdProto;
import onnx.Onnx.TensorProto;
import onnx.Onnx.ValueInfoProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ShuffleNet's ops as PyTorch exports them: Slice of the channels (x.chunk(2, dim=1)), Concat, and the channel shuffle
 * Reshape (N, g, C/g, H, W) -> Transpose (0, 2, 1, 3, 4) -> Reshape (N, -1, H, W). Imported as ChannelSlice, Reshape,
 * Permute and Reshape, they give the values worked out by hand here.
 */
class OnnxChannelShuffleTest {
    private static final int C = 4, H = 2, W = 3;

    @TempDir
    Path dir;

    @Test
    void channelSplitThenShuffleGiveTheReorderedChannels() throws Exception {
        GraphProto.Builder g = GraphProto.newBuilder().addInput(input("x", "N", C, H, W))
                .addOutput(ValueInfoProto.newBuilder().setName("y"));
        g.addInitializer(ints("s0", 0)).addInitializer(ints("e0", 2)).addInitializer(ints("s1", 2))
                .addInitializer(ints("e1", Long.MAX_VALUE)).addInitializer(ints("axis", 1))
                .addInitializer(ints("to5", 0, 2, C / 2, H, W)).addInitializer(ints("to4", 0, -1, H, W));
        g.addNode(node("Slice", "first", "x", "s0", "e0", "axis")).addNode(node("Slice", "second", "x", "s1", "e1", "axis"))
                .addNode(node("Concat", "joined", "second", "first").toBuilder().addAttribute(AttributeProto.newBuilder()
                        .setName("axis").setType(AttributeProto.AttributeType.INT).setI(1)).build())
                .addNode(node("Reshape", "grouped", "joined", "to5"))
                .addNode(node("Transpose", "swapped", "grouped").toBuilder().addAttribute(AttributeProto.newBuilder()
                        .setName("perm").setType(AttributeProto.AttributeType.INTS).addInts(0).addInts(2).addInts(1)
                        .addInts(3).addInts(4)).build())
                .addNode(node("Reshape", "y", "swapped", "to4"));
        Path file = dir.resolve("shuffle.onnx");
        Files.write(file, ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(14)).build().toByteArray());
        int batch = 2;
        float[] x = new float[batch * H * W * C]; // Osprey's (H, W, C) input
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        // ONNX: joined = channels (2, 3, 0, 1); grouped (2 groups of 2) then swapped: (joined[0], joined[2],
        // joined[1], joined[3]) = channels (2, 0, 3, 1)
        int[] from = {2, 0, 3, 1};
        float[] expected = new float[x.length];
        for (int row = 0; row < batch * H * W; row++) {
            for (int c = 0; c < C; c++) {
                expected[row * C + c] = x[row * C + from[c]];
            }
        }
        try (Model m = new OnnxImporter().device(Device.cpu()).importModel(file)) {
            assertArrayEquals(expected, m.predict(new NDArray(x, batch, H, W, C)).data(), 0f);
        }
    }

    private static NodeProto node(String op, String output, String... inputs) {
        NodeProto.Builder b = NodeProto.newBuilder().setName(output).setOpType(op).addOutput(output);
        for (String in : inputs) {
            b.addInput(in);
        }
        return b.build();
    }

    /** A 1-D int64 initializer (shared by the other tests of shape ops). */
    static TensorProto ints(String name, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(values.length).setRawData(com.google.protobuf.ByteString.copyFrom(b.array())).build();
    }
}
