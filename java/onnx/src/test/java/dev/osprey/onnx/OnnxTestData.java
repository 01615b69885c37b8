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

    /** An ONNX tensor as an Osprey batch: 4-D (N, C, H, W) becomes (N, H, W, C); other ranks stay as they are. */
    static NDArray toOsprey(TensorData t) {
        float[] v = t.asFloats();
        int[] d = new int[t.rank()];
        for (int i = 0; i < d.length; i++) {
            d[i] = (int) t.dims[i];
        }
        if (d.length != 4) {
            return new NDArray(v.clone(), d);
        }
        int n = d[0];
        int c = d[1];
        int h = d[2];
        int w = d[3];
        float[] out = new float[v.length];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        out[((b * h + y) * w + x) * c + ch] = v[((b * c + ch) * h + y) * w + x];
                    }
                }
            }
        }
        return new NDArray(out, n, h, w, c);
    }

    /** Osprey's (N, H, W, C) output back as ONNX's (N, C, H, W) values; other ranks as they are. */
    static float[] toOnnx(NDArray a) {
        int[] d = a.shape();
        float[] v = a.data();
        if (d.length != 4) {
            return v;
        }
        int n = d[0];
        int h = d[1];
        int w = d[2];
        int c = d[3];
        float[] out = new float[v.length];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        out[((b * c + ch) * h + y) * w + x] = v[((b * h + y) * w + x) * c + ch];
                    }
                }
            }
        }
        return out;
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
