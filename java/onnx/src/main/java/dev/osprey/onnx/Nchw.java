package dev.osprey.onnx;

import dev.osprey.NDArray;

/** Converts batches between ONNX's NCHW and Osprey's NHWC, once at the edge of an imported model. */
final class Nchw {
    private Nchw() {
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
}
