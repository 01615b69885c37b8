package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Shape;
import dev.osprey.backend.Device;
import dev.osprey.layers.MultiHeadAttention;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.TensorProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Vision Transformers from ONNX as Osprey's own layers (the fixture's outputs are checked against PyTorch's in
 * OnnxFixturesTest, the export's against ONNX Runtime in OnnxExportTest): torchvision's written-out attention is one
 * MultiHeadAttention, its class token, position embedding and x[:, 0] are ClassToken, PositionEmbedding and
 * Cropping1D. Attention whose scale is not 1/sqrt of the head size its Reshapes split is refused rather than imported as
 * a wrong layer.
 */
class OnnxAttentionTest {
    @TempDir
    Path dir;

    private static Map<String, Integer> layerCounts(Model model) {
        Map<String, Integer> counts = new TreeMap<>();
        for (Layer l : model.layers()) {
            counts.merge(l.className(), 1, Integer::sum);
        }
        return counts;
    }

    @Test
    void torchvisionsVisionTransformerImportsAsOspreysOwnLayers() throws Exception {
        Path file = OnnxFixturesTest.fixture("vit_small").resolve("model.onnx");
        try (Model model = new OnnxImporter().device(Device.cpu()).importModel(file)) {
            Map<String, Integer> counts = layerCounts(model);
            assertEquals(2, counts.get("MultiHeadAttention"), counts.toString());
            assertEquals(1, counts.get("ClassToken"), counts.toString());
            assertEquals(1, counts.get("PositionEmbedding"), counts.toString());
            assertEquals(1, counts.get("Cropping1D"), counts.toString());
            MultiHeadAttention attention = (MultiHeadAttention) model.layers().stream()
                    .filter(l -> l instanceof MultiHeadAttention).findFirst().orElseThrow();
            assertEquals(2, attention.numHeads());
            assertEquals(16, attention.keyDim());
            assertEquals(Shape.of(17, 32), attention.output().shape());
        }
    }

    /**
     * An export for a fixed batch (vit_small_static: batch 3, as a plain torch.onnx.export writes torchvision's ViT):
     * its attention's Reshape targets are constants holding 3 * 2 heads, checked at that batch size; the import predicts
     * what the dynamic export's does, for any batch.
     */
    @Test
    void aFixedBatchExportImportsTheSameAttention() throws Exception {
        dev.osprey.NDArray x = OnnxExportTest.random(new java.util.Random(4), new int[] {5, 32, 32, 3}, 1f);
        try (Model dynamic = new OnnxImporter().device(Device.cpu())
                .importModel(OnnxFixturesTest.fixture("vit_small").resolve("model.onnx"));
             Model fixed = new OnnxImporter().device(Device.cpu())
                .importModel(OnnxFixturesTest.fixture("vit_small_static").resolve("model.onnx"))) {
            assertEquals(2, layerCounts(fixed).get("MultiHeadAttention"));
            org.junit.jupiter.api.Assertions.assertArrayEquals(dynamic.predict(x).data(), fixed.predict(x).data(),
                    1e-6f);
        }
    }

    @Test
    void ospreysExportedAttentionWithAnotherScaleIsRefusedNotMisread() throws Exception {
        Path file = dir.resolve("vit.onnx");
        try (Model model = Models.visionTransformer("ViT", Shape.of(8, 8, 3), 5, 4, 12, 1, 3, 24)
                .device(Device.cpu())) {
            model.build();
            model.exportOnnx(file);
        }
        try (Model back = new OnnxImporter().device(Device.cpu()).importModel(file)) {
            assertEquals(1, layerCounts(back).get("MultiHeadAttention"));
        }
        ModelProto proto = OnnxImporter.parse(file);
        var g = proto.getGraph().toBuilder();
        for (int i = 0; i < g.getInitializerCount(); i++) {
            if (g.getInitializer(i).getName().endsWith("/scale")) {
                g.setInitializer(i, floatScalar(g.getInitializer(i).getName(), 0.3f)); // 1/sqrt(4) would be 0.5
            }
        }
        Path tampered = dir.resolve("tampered.onnx");
        Files.write(tampered, proto.toBuilder().setGraph(g).build().toByteArray());
        OnnxImportException e = assertThrows(OnnxImportException.class,
                () -> new OnnxImporter().device(Device.cpu()).importModel(tampered).close());
        assertTrue(e.getMessage().contains("MatMul") && e.getMessage().contains("was not read as attention")
                && e.getMessage().contains("multiplied by 0.3, where heads of 4 values take 0.5"), e.getMessage());
    }

    /**
     * PyTorch's scale is divided out as sqrt(head size): with 3 (9 values a head) the width of 32 does not split, and
     * with 2 (4 values a head, 8 heads) it would, but the graph's Reshapes split 2 heads of 16: both refused.
     */
    @Test
    void torchvisionsAttentionWithAnotherScaleIsRefusedNotMisread() throws Exception {
        OnnxImportException uneven = assertThrows(OnnxImportException.class,
                () -> new OnnxImporter().device(Device.cpu()).importModel(withScale(3f)).close());
        assertTrue(uneven.getMessage().contains("Transpose") && uneven.getMessage().contains("divided by 3.0, which "
                + "makes heads of 9.0 values: not a whole number dividing its width 32"), uneven.getMessage());
        OnnxImportException otherHeads = assertThrows(OnnxImportException.class,
                () -> new OnnxImporter().device(Device.cpu()).importModel(withScale(2f)).close());
        assertTrue(otherHeads.getMessage().contains("split into heads") && otherHeads.getMessage().contains("8 heads of 4")
                && otherHeads.getMessage().contains("[17, 4, 16]"), otherHeads.getMessage());
    }

    /** The vit_small fixture with its attention's query divided by this instead of sqrt(16). */
    private Path withScale(float scale) throws Exception {
        ModelProto proto = OnnxImporter.parse(OnnxFixturesTest.fixture("vit_small").resolve("model.onnx"));
        var g = proto.getGraph().toBuilder();
        Map<String, NodeProto> producers = new java.util.HashMap<>();
        g.getNodeList().forEach(n -> n.getOutputList().forEach(o -> producers.put(o, n)));
        int changed = 0;
        for (int i = 0; i < g.getNodeCount(); i++) {
            NodeProto n = g.getNode(i);
            NodeProto divisor = n.getOpType().equals("Div") ? producers.get(n.getInput(1)) : null;
            NodeProto dividend = n.getOpType().equals("Div") ? producers.get(n.getInput(0)) : null;
            if (divisor != null && divisor.getOpType().equals("Constant") && dividend != null
                    && dividend.getOpType().equals("Transpose")) { // the query's scaling, not shape arithmetic
                int at = g.getNodeList().indexOf(divisor);
                g.setNode(at, divisor.toBuilder().setAttribute(0, AttributeProto.newBuilder().setName("value")
                        .setType(AttributeProto.AttributeType.TENSOR).setT(floatScalar("", scale))).build());
                changed++;
            }
        }
        assertEquals(2, changed, "one scale per block");
        Path tampered = dir.resolve("tampered-torchvision-" + scale + ".onnx");
        Files.write(tampered, proto.toBuilder().setGraph(g).build().toByteArray());
        return tampered;
    }

    private static TensorProto floatScalar(String name, float v) {
        return TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v)
                        .array())).build();
    }
}
