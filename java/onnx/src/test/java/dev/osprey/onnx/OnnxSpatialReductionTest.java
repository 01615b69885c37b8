package dev.osprey.onnx;

import static dev.osprey.onnx.OnnxBadInputTest.assertMentions;
import static dev.osprey.onnx.OnnxBadInputTest.input;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
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
 * ReduceMean and ReduceMax over a feature map's height and width (PyTorch's x.mean((2, 3)), as MNASNet ends) import as
 * global poolings, with or without the kept axes; other axes are refused naming them.
 */
class OnnxSpatialReductionTest {
    private static final int BATCH = 2, C = 3, H = 4, W = 5;

    @TempDir
    Path dir;

    @Test
    void aMeanOverHeightAndWidthIsAGlobalAveragePool() throws Exception {
        float[] out = run(reduction("ReduceMean", 0, 2, 3), "mean.onnx");
        assertArrayEquals(expected(false), out, 1e-6f);
    }

    @Test
    void aMaximumKeepingItsAxesIsAGlobalMaxPool() throws Exception {
        float[] out = run(reduction("ReduceMax", 1, -1, -2), "max.onnx");
        assertArrayEquals(expected(true), out, 0f);
    }

    /** ONNX's noop_with_empty_axes: no axes then means none, the identity. */
    @Test
    void noAxesWithNoopWithEmptyAxesIsTheIdentity() throws Exception {
        NodeProto reduce = NodeProto.newBuilder().setName("reduce").setOpType("ReduceMean").addInput("x").addOutput("y")
                .addAttribute(AttributeProto.newBuilder().setName("noop_with_empty_axes")
                        .setType(AttributeProto.AttributeType.INT).setI(1)).build();
        GraphProto g = GraphProto.newBuilder().addNode(reduce).addInput(input("x", "N", C, H, W))
                .addOutput(ValueInfoProto.newBuilder().setName("y")).build();
        ModelProto m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(18)).build();
        assertArrayEquals(images(), run(m, "noop.onnx"), 0f);
    }

    @Test
    void otherAxesAreRefusedNamingThem() throws Exception {
        Path channels = write(reduction("ReduceMean", 1, 1), "channels.onnx");
        assertMentions(OnnxBadInputTest.refused(channels), "ReduceMean", "axes [2, 3]", "received axes [1]");
        Path last = write(reduction("ReduceMean", 1, -1), "last.onnx");
        assertMentions(OnnxBadInputTest.refused(last), "received axes [-1]", "LayerNormalization");
    }

    /** x (N, C, H, W) -> op over axes -> y, then Flatten where the axes are kept, so y is (N, C) either way. */
    private static ModelProto reduction(String op, int keepdims, int... axes) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName("axes").setType(AttributeProto.AttributeType.INTS);
        for (int axis : axes) {
            a.addInts(axis);
        }
        NodeProto reduce = NodeProto.newBuilder().setName("reduce").setOpType(op).addInput("x")
                .addOutput(keepdims == 1 ? "r" : "y").addAttribute(a)
                .addAttribute(AttributeProto.newBuilder().setName("keepdims").setType(AttributeProto.AttributeType.INT)
                        .setI(keepdims)).build();
        GraphProto.Builder g = GraphProto.newBuilder().addNode(reduce).addInput(input("x", "N", C, H, W))
                .addOutput(ValueInfoProto.newBuilder().setName("y"));
        if (keepdims == 1) {
            g.addNode(NodeProto.newBuilder().setName("flat").setOpType("Flatten").addInput("r").addOutput("y"));
        }
        return ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).build();
    }

    private Path write(ModelProto m, String name) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, m.toByteArray());
        return p;
    }

    private float[] run(ModelProto m, String name) throws Exception {
        try (Model model = new OnnxImporter().device(Device.cpu()).importModel(write(m, name))) {
            return model.predict(new NDArray(images(), BATCH, H, W, C)).data(); // Osprey's (H, W, C) input
        }
    }

    private static float[] images() {
        Random r = new Random(7);
        float[] x = new float[BATCH * H * W * C];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** The mean, or the maximum, of each sample's channel over its H x W pixels. */
    private static float[] expected(boolean max) {
        float[] x = images();
        float[] y = new float[BATCH * C];
        for (int n = 0; n < BATCH; n++) {
            for (int c = 0; c < C; c++) {
                double sum = 0;
                float largest = Float.NEGATIVE_INFINITY;
                for (int p = 0; p < H * W; p++) {
                    float v = x[(n * H * W + p) * C + c];
                    sum += v;
                    largest = Math.max(largest, v);
                }
                y[n * C + c] = max ? largest : (float) (sum / (H * W));
            }
        }
        return y;
    }
}
