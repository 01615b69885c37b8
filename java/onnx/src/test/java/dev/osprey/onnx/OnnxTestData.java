package dev.osprey.onnx;

import dev.osprey.NDArray;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import onnx.Onnx.TensorProto;

/** Reads the tensors of ONNX test data sets and converts between ONNX's NCHW and Osprey's NHWC. */
final class OnnxTestData {
    private OnnxTestData() {
    }

    static TensorProto proto(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return TensorProto.parseFrom(in);
        }
    }

    static TensorData tensor(Path file) throws IOException {
        return TensorData.read(proto(file), file.getParent(), file.toString());
    }

    static NDArray toOsprey(TensorData t) {
        return Nchw.toOsprey(t);
    }

    static float[] toOnnx(NDArray a) {
        return Nchw.toOnnx(a);
    }

    /** max |a - e| / max(max |e|, 1e-6): the error relative to the expected output's scale. */
    static double relativeError(float[] actual, float[] expected) {
        double diff = 0;
        double scale = 1e-6;
        for (int i = 0; i < expected.length; i++) {
            diff = Math.max(diff, Math.abs((double) actual[i] - expected[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        return diff / scale;
    }
}
