package dev.osprey.backend.cpu;

import dev.osprey.backend.Conv2dSpec;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The kernel (and bias) gradient of a depthwise convolution, computed in Java for the shapes oneDNN's depthwise kernel
 * refuses. Its depthwise backward-filter kernel needs feature maps of at least 3x3 or so; below that (the last stages
 * of MobileNet-style networks at small inputs, 1x1 and 2x2 maps of hundreds of channels) oneDNN falls back to its
 * general grouped kernel, which pads every one-channel group to 16x16 and runs about ten times slower than this loop.
 * The loop runs along the channels, which NHWC keeps contiguous, so the JIT vectorizes it.
 */
final class DepthwiseFilterGradient {
    private final Conv2dSpec spec;
    private final int multiplier;
    private final float[] x;
    private final float[] dy;
    private final float[] dKernel;
    private final float[] dBias;

    /** True for a convolution with one input channel per group (depthwise, any multiplier). */
    static boolean fits(Conv2dSpec s) {
        return s.groups() > 1 && s.groups() == s.inC();
    }

    /** Buffers for one spec, made once: a training step allocates nothing. */
    DepthwiseFilterGradient(Conv2dSpec spec) {
        if (!fits(spec)) {
            throw new IllegalArgumentException("DepthwiseFilterGradient: expected one input channel per group, "
                    + "received " + spec);
        }
        this.spec = spec;
        this.multiplier = spec.filters() / spec.groups();
        this.x = new float[spec.batch() * spec.inH() * spec.inW() * spec.inC()];
        this.dy = new float[spec.batch() * spec.outH() * spec.outW() * spec.filters()];
        this.dKernel = new float[spec.kernelH() * spec.kernelW() * spec.filters()];
        this.dBias = spec.hasBias() ? new float[spec.filters()] : null;
    }

    /**
     * dKernel[kh, kw, c, j] = sum over n, oh, ow of dy[n, oh, ow, c * m + j] * x[n, ih, iw, c] (kernel in Keras'
     * layout (kh, kw, in, multiplier), which is also the grouped layout hwigo); dBias = dy summed per channel.
     */
    void run(FloatBuffer xIn, FloatBuffer dyIn, FloatBuffer dKernelOut, FloatBuffer dBiasOut) {
        Conv2dSpec s = spec;
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
