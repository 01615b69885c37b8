package dev.osprey.backend.cpu;

import dev.osprey.backend.Conv2dSpec;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The kernel (and bias) gradient of a depthwise convolution for the shapes oneDNN's depthwise kernel refuses: its
 * depthwise backward-filter kernel takes 3x3 windows on maps of at least 3x3 or so; elsewhere (5x5 and 7x7 windows,
 * as EfficientNet and ConvNeXt have, and the 1x1 and 2x2 maps of hundreds of channels that MobileNet-style networks
 * end with at small inputs) oneDNN falls back to its general grouped kernel, which pads every one-channel group to
 * 16x16 and ran 25 to 45 times slower than the forward pass. Native code ({@code native/cpu/depthwise_filter_gradient.c})
 * computes it on the team, reading the tensors where they are; without the library, a Java loop along the channels,
 * which NHWC keeps contiguous (on copies, on one thread).
 */
final class DepthwiseFilterGradient implements AutoCloseable {
    /** Null where the native loop runs (it has run, or will); else why the Java loop runs instead. */
    private static volatile String nativeUnavailable = NativeCpu.unavailableReason();

    private final Conv2dSpec spec;
    private final int multiplier;
    private float[] x;
    private float[] dy;
    private float[] dKernel;
    private float[] dBias;
    /** The native loop's per-thread sums, made at its first run for the team it runs on; null until then. */
    private CpuTensor sums;

    /** True for a convolution with one input channel per group (depthwise, any multiplier). */
    static boolean fits(Conv2dSpec s) {
        return s.groups() > 1 && s.groups() == s.inC();
    }

    DepthwiseFilterGradient(Conv2dSpec spec) {
        if (!fits(spec)) {
            throw new IllegalArgumentException("DepthwiseFilterGradient: expected one input channel per group, "
                    + "received " + spec);
        }
        this.spec = spec;
        this.multiplier = spec.filters() / spec.groups();
    }

    /** Null where the native loop runs; else why the Java loop runs instead. */
    static String unavailableReason() {
        return nativeUnavailable;
    }

    /** The gradients below, natively on a team of threads where the library has the loop, else in Java. */
    void run(CpuTensor xIn, CpuTensor dyIn, CpuTensor dKernelOut, CpuTensor dBiasOut, int threads) {
        if (nativeUnavailable == null) {
            try {
                Conv2dSpec s = spec;
                int team = Math.max(1, threads);
                long floats = (long) team * (s.kernelH() * s.kernelW() * s.filters() + s.filters());
                if (sums == null || sums.size() < floats) { // once per plan: a training step allocates nothing
                    if (sums != null) {
                        sums.close();
                    }
                    sums = CpuTensor.allocate(new int[] {Math.toIntExact(floats)});
                }
                if (run(xIn.pointer().address(), dyIn.pointer().address(), dKernelOut.pointer().address(),
                        dBiasOut == null ? 0L : dBiasOut.pointer().address(), s.batch(), s.inH(), s.inW(), s.inC(),
                        multiplier, s.outH(), s.outW(), s.kernelH(), s.kernelW(), s.strideH(), s.strideW(),
                        s.dilationH(), s.dilationW(), s.padTop(), s.padLeft(), team, sums.pointer().address(),
                        sums.size()) == 0) {
                    return;
                } // else the scratch did not fit the team (never: it is sized for it): the Java loop, this once
            } catch (LinkageError e) { // a library built before the loop was
                nativeUnavailable = NativeCpu.LIBRARY + " lacks the depthwise filter gradient: " + e;
            }
        }
        runInJava(xIn.buffer(), dyIn.buffer(), dKernelOut.buffer(), dBiasOut == null ? null : dBiasOut.buffer());
    }

    private static native int run(long x, long dy, long dKernel, long dBias, int batch, int inH, int inW,
                                  int channels, int multiplier, int outH, int outW, int kernelH, int kernelW,
                                  int strideH, int strideW, int dilationH, int dilationW, int padTop, int padLeft,
                                  int threads, long sums, long sumsFloats);

    /** Frees the native loop's scratch (the Java loop's copies are heap arrays). */
    @Override
    public void close() {
        if (sums != null) {
            sums.close();
            sums = null;
        }
    }

    /**
     * dKernel[kh, kw, c, j] = sum over n, oh, ow of dy[n, oh, ow, c * m + j] * x[n, ih, iw, c] (kernel in Keras'
     * layout (kh, kw, in, multiplier), which is also the grouped layout hwigo); dBias = dy summed per channel.
     */
    void runInJava(FloatBuffer xIn, FloatBuffer dyIn, FloatBuffer dKernelOut, FloatBuffer dBiasOut) {
        Conv2dSpec s = spec;
        if (x == null) { // copies made on first use, kept for the next steps: a training step allocates nothing
            x = new float[s.batch() * s.inH() * s.inW() * s.inC()];
            dy = new float[s.batch() * s.outH() * s.outW() * s.filters()];
            dKernel = new float[s.kernelH() * s.kernelW() * s.filters()];
            dBias = s.hasBias() ? new float[s.filters()] : null;
        }
        xIn.get(0, x, 0, x.length);
        dyIn.get(0, dy, 0, dy.length);
        Arrays.fill(dKernel, 0f);
        int channels = s.inC(), filters = s.filters(), m = multiplier;
        for (int n = 0; n < s.batch(); n++) {
            for (int oh = 0; oh < s.outH(); oh++) {
                for (int ow = 0; ow < s.outW(); ow++) {
                    int dyAt = ((n * s.outH() + oh) * s.outW() + ow) * filters;
                    for (int kh = 0; kh < s.kernelH(); kh++) {
                        int ih = oh * s.strideH() + kh * s.dilationH() - s.padTop();
                        if (ih < 0 || ih >= s.inH()) {
                            continue;
                        }
                        for (int kw = 0; kw < s.kernelW(); kw++) {
                            int iw = ow * s.strideW() + kw * s.dilationW() - s.padLeft();
                            if (iw < 0 || iw >= s.inW()) {
                                continue;
                            }
                            int xAt = ((n * s.inH() + ih) * s.inW() + iw) * channels;
                            int kAt = (kh * s.kernelW() + kw) * filters;
                            if (m == 1) {
                                for (int c = 0; c < channels; c++) {
                                    dKernel[kAt + c] += dy[dyAt + c] * x[xAt + c];
                                }
                            } else {
                                for (int f = 0; f < filters; f++) {
                                    dKernel[kAt + f] += dy[dyAt + f] * x[xAt + f / m];
                                }
                            }
                        }
                    }
                }
            }
        }
        dKernelOut.put(0, dKernel, 0, dKernel.length);
        if (dBias != null && dBiasOut != null) {
            Arrays.fill(dBias, 0f);
            for (int row = 0; row < dy.length; row += filters) {
                for (int f = 0; f < filters; f++) {
                    dBias[f] += dy[row + f];
                }
            }
            dBiasOut.put(0, dBias, 0, dBias.length);
        }
    }
}
