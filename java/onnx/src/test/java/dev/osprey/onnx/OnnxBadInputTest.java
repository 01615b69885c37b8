package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.osprey.Model;
import dev.osprey.backend.Device;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.GraphProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.OperatorSetIdProto;
import onnx.Onnx.StringStringEntryProto;
import onnx.Onnx.TensorProto;
import onnx.Onnx.TensorShapeProto;
import onnx.Onnx.TypeProto;
import onnx.Onnx.ValueInfoProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Damaged, foreign and unsupported ONNX files: one clear error each, never a crash or a wrong model. */
class OnnxBadInputTest {
    @TempDir
    Path dir;

    static ValueInfoProto input(String name, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            shape.addDim(d instanceof String s ? TensorShapeProto.Dimension.newBuilder().setDimParam(s)
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

    static TensorProto floats(String name, float[] values, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    /** A 1x1 convolution over a (batch, 2, 4, 4) input: the smallest real model. */
    static ModelProto.Builder conv(TensorProto weights, ValueInfoProto in, String op) {
        NodeProto node = NodeProto.newBuilder().setName("conv1").setOpType(op).addInput("x").addInput("w")
                .addOutput("y").build();
        GraphProto g = GraphProto.newBuilder().addNode(node).addInput(in).addInitializer(weights)
                .addOutput(ValueInfoProto.newBuilder().setName("y")).build();
        return ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17));
    }

    Path write(String name, ModelProto m) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, m.toByteArray());
        return p;
    }

    static OnnxImportException refused(Path p) {
        return assertThrows(OnnxImportException.class, () -> {
            try (Model m = new OnnxImporter().device(Device.cpu()).importModel(p)) {
                m.countParams();
            }
        });
    }

    static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
        }
    }

    @Test
    void aValidModelImports() throws Exception {
        Path p = write("ok.onnx", conv(floats("w", new float[6], 3, 2, 1, 1), input("x", "N", 2, 4, 4), "Conv")
                .build());
        try (Model m = new OnnxImporter().device(Device.cpu()).importModel(p)) {
            assertTrue(m.countParams() == 6);
        }
    }

    @Test
    void aTruncatedFileIsRefused() throws Exception {
        byte[] whole = conv(floats("w", new float[6], 3, 2, 1, 1), input("x", "N", 2, 4, 4), "Conv").build()
                .toByteArray();
        Path p = dir.resolve("cut.onnx");
        Files.write(p, java.util.Arrays.copyOf(whole, whole.length - 7));
        assertMentions(refused(p), "not a valid ONNX model");
    }

    @Test
    void aFileThatIsNotOnnxIsRefused() throws Exception {
        Path png = dir.resolve("image.onnx");
        Files.write(png, new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H'});
        refused(png);
        Path text = dir.resolve("text.onnx");
        Files.writeString(text, "hello, this is not a model\n");
        refused(text);
    }

    @Test
    void anUnsupportedOpNamesTheNodeAndTheOp() throws Exception {
        Path p = write("op.onnx", conv(floats("w", new float[6], 3, 2, 1, 1), input("x", "N", 2, 4, 4),
                "ConvTranspose").build());
        assertMentions(refused(p), "node 'conv1'", "ConvTranspose");
    }

    /** The first unmapped op's refusal also names the graph's other unmapped ops: how far the model is from importing. */
    @Test
    void anUnsupportedOpAlsoNamesTheOtherUnmappedOps() throws Exception {
        ModelProto.Builder m = conv(floats("w", new float[4], 2, 2, 1, 1), input("x", "N", 2, 4, 4), "Conv");
        GraphProto.Builder g = m.getGraph().toBuilder();
        g.addNode(NodeProto.newBuilder().setName("norm").setOpType("LpNormalization").addInput("y").addOutput("z"));
        g.addNode(NodeProto.newBuilder().setName("soft").setOpType("Softplus").addInput("z").addOutput("s"));
        g.addNode(NodeProto.newBuilder().setName("again").setOpType("Softplus").addInput("s").addOutput("t"));
        g.clearOutput().addOutput(ValueInfoProto.newBuilder().setName("t"));
        Path p = write("ops.onnx", m.setGraph(g).build());
        assertMentions(refused(p), "node 'norm' (LpNormalization): op LpNormalization is not supported",
                "the model also uses Softplus, which Osprey does not map either");
    }

    @Test
    void anUnsupportedAttributeNamesIt() throws Exception {
        ModelProto.Builder m = conv(floats("w", new float[6], 3, 2, 1, 1), input("x", "N", 2, 4, 4), "Conv");
        m.getGraphBuilder().getNodeBuilder(0).addAttribute(AttributeProto.newBuilder().setName("frobnicate")
                .setType(AttributeProto.AttributeType.INT).setI(1));
        assertMentions(refused(write("attr.onnx", m.build())), "node 'conv1' (Conv)", "frobnicate");
    }

    @Test
    void aDynamicImageSizeIsRefused() throws Exception {
        Path p = write("dyn.onnx", conv(floats("w", new float[6], 3, 2, 1, 1), input("x", "N", 2, "height", 4),
                "Conv").build());
        assertMentions(refused(p), "'height'", "fixed size");
    }

    @Test
    void anInitializerWhoseSizeDisagreesWithItsShapeIsRefused() throws Exception {
        Path p = write("size.onnx", conv(floats("w", new float[5], 3, 2, 1, 1), input("x", "N", 2, 4, 4), "Conv")
                .build());
        assertMentions(refused(p), "initializer 'w'", "24 bytes", "received 20");
        TensorProto huge = TensorProto.newBuilder().setName("w").setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addDims(1L << 40).addDims(1L << 40).build();
        assertMentions(refused(write("huge.onnx", conv(huge, input("x", "N", 2, 4, 4), "Conv").build())),
                "initializer 'w'", "more than");
        // 3 x 3074457345618258603 is 2^63 + 1: a product whose high word is 0 but which wraps negative
        TensorProto wraps = huge.toBuilder().clearDims().addDims(3).addDims(3074457345618258603L).build();
        assertMentions(refused(write("wraps.onnx", conv(wraps, input("x", "N", 2, 4, 4), "Conv").build())),
                "initializer 'w'", "more than");
    }

    @Test
    void externalDataOutsideTheModelsFolderIsNeverRead() throws Exception {
        Path secret = dir.resolve("secret.bin");
        Files.write(secret, new byte[24]);
        Path modelDir = Files.createDirectory(dir.resolve("model"));
        for (String location : new String[] {"../secret.bin", secret.toAbsolutePath().toString()}) {
            TensorProto w = TensorProto.newBuilder().setName("w").setDataType(TensorProto.DataType.FLOAT_VALUE)
                    .addDims(3).addDims(2).addDims(1).addDims(1)
                    .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue(location))
                    .build();
            Path p = modelDir.resolve("ext.onnx");
            Files.write(p, conv(w, input("x", "N", 2, 4, 4), "Conv").build().toByteArray());
            assertMentions(refused(p), "outside the model's folder");
        }
        Files.createSymbolicLink(modelDir.resolve("link.bin"), secret);
        TensorProto linked = TensorProto.newBuilder().setName("w").setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addDims(3).addDims(2).addDims(1).addDims(1).setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("link.bin")).build();
        Path p = modelDir.resolve("link.onnx");
        Files.write(p, conv(linked, input("x", "N", 2, 4, 4), "Conv").build().toByteArray());
        assertMentions(refused(p), "outside the model's folder");
        // a linked folder on the way, not the file itself, is followed too
        Path secrets = Files.createDirectory(dir.resolve("secrets"));
        Files.write(secrets.resolve("key.bin"), new byte[24]);
        Files.createSymbolicLink(modelDir.resolve("data"), secrets);
        TensorProto throughFolder = linked.toBuilder().clearExternalData().addExternalData(
                StringStringEntryProto.newBuilder().setKey("location").setValue("data/key.bin")).build();
        Path q = modelDir.resolve("folder-link.onnx");
        Files.write(q, conv(throughFolder, input("x", "N", 2, 4, 4), "Conv").build().toByteArray());
        assertMentions(refused(q), "'data/key.bin'", "outside the model's folder");
    }

    /**
     * Folding ops on constants can grow them (a Gather of 2,047 rows of a million values is a few hundred bytes of file):
     * the fold is refused before it allocates, with the limit it would pass.
     */
    @Test
    void aFoldThatWouldGrowPastTheLimitsIsRefusedBeforeAllocating() throws Exception {
        TensorProto rowShape = TensorProto.newBuilder().setDataType(TensorProto.DataType.INT64_VALUE).addDims(2)
                .addInt64Data(1).addInt64Data(1 << 20).build();
        TensorProto indexShape = TensorProto.newBuilder().setDataType(TensorProto.DataType.INT64_VALUE).addDims(1)
                .addInt64Data(2047).build();
        TensorProto zeroIndex = TensorProto.newBuilder().setDataType(TensorProto.DataType.INT64_VALUE).addDims(1)
                .addInt64Data(0).build();
        ModelProto.Builder m = conv(floats("w", new float[6], 3, 2, 1, 1), input("x", "N", 2, 4, 4), "Conv");
        GraphProto.Builder g = m.getGraph().toBuilder();
        g.addNode(0, NodeProto.newBuilder().setOpType("Constant").addOutput("s1").addAttribute(AttributeProto
                .newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR).setT(rowShape)));
        g.addNode(1, NodeProto.newBuilder().setOpType("ConstantOfShape").addInput("s1").addOutput("data"));
        g.addNode(2, NodeProto.newBuilder().setOpType("Constant").addOutput("s2").addAttribute(AttributeProto
                .newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR).setT(indexShape)));
        g.addNode(3, NodeProto.newBuilder().setOpType("ConstantOfShape").addInput("s2").addOutput("idx")
                .addAttribute(AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR)
                        .setT(zeroIndex)));
        g.addNode(4, NodeProto.newBuilder().setName("grow").setOpType("Gather").addInput("data").addInput("idx")
                .addOutput("big"));
        g.addNode(NodeProto.newBuilder().setOpType("Add").addInput("y").addInput("big").addOutput("z"));
        g.setOutput(0, ValueInfoProto.newBuilder().setName("z"));
        assertMentions(refused(write("grow.onnx", m.setGraph(g).build())), "grow", "2146435072 values",
                "expected at most 268435456 (Limits.maxTensorElements)");
    }

    /** dims are only the file's claim: a tensor declaring 2 billion values and holding none costs nothing to refuse. */
    @Test
    void anInitializerDeclaringBillionsOfValuesItLacksIsRefusedBeforeAnyAllocation() throws Exception {
        for (int type : new int[] {TensorProto.DataType.FLOAT_VALUE, TensorProto.DataType.INT64_VALUE}) {
            TensorProto claim = TensorProto.newBuilder().setName("w").setDataType(type)
                    .addDims(Integer.MAX_VALUE - 8).build();
            assertMentions(refused(write("claim-" + type + ".onnx", conv(claim, input("x", "N", 2, 4, 4), "Conv")
                    .build())), "initializer 'w'", "2147483639");
        }
    }

    @Test
    void externalDataInsideTheFolderIsRead() throws Exception {
        Path modelDir = Files.createDirectory(dir.resolve("inside"));
        ByteBuffer b = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 6; i++) {
            b.putFloat(i + 1);
        }
        Files.write(modelDir.resolve("weights.bin"), b.array());
        TensorProto w = TensorProto.newBuilder().setName("w").setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addDims(3).addDims(2).addDims(1).addDims(1).setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("weights.bin"))
                .build();
        Path p = modelDir.resolve("ext.onnx");
        Files.write(p, conv(w, input("x", "N", 2, 4, 4), "Conv").build().toByteArray());
        try (Model m = new OnnxImporter().device(Device.cpu()).importModel(p)) {
            float[] kernel = m.getWeights().get(0).data(); // (1, 1, 2, 3): kernel[c][o] = w[o][c]
            assertTrue(kernel[0] == 1 && kernel[1] == 3 && kernel[2] == 5 && kernel[3] == 2, java.util.Arrays.toString(kernel));
        }
    }
}
