package dev.osprey.backend.cpu;

import dev.osprey.backend.Conv2dSpec;

/**
 * The image count, sizes and window a convolution's oneDNN primitives are made with: the spec's own, except for a
 * pointwise convolution (1x1 kernel, stride 1, no padding, one group), which is planned as one image of N·H·W x 1
 * pixels. It is the same map applied to every pixel, and an NHWC tensor of N images of H x W pixels is laid out exactly
 * as one image of N·H·W x 1 pixels, so the tensors are read and written as they are. oneDNN's 1x1 kernels split their
 * work over the pixels of one image: on MobileNetV2's last blocks at 32x32x3 input (256 images of 1x1 pixels) they ran
 * 2.5–3.7x slower than on the folded shape, and at 2x2 to 16x16 pixels up to 1.3x slower; never faster. Training
 * folds forward and backward-data alone: the 1x1 backward-weights kernels were slower folded
 * (benchmarks/results/op-profile-*.md; BackendContractTest checks folded specs against the reference).
 */
record ConvGeometry(long images, long inH, long inW, long outH, long outW, long[] strides, long[] dilates, long[] padL,
                    long[] padR) {
    static ConvGeometry of(Conv2dSpec s) {
        return folds(s) ? folded(s) : unfolded(s);
    }

    /** One image of all the pixels (valid for pointwise specs only). */
    private static ConvGeometry folded(Conv2dSpec s) {
        long pixels = (long) s.batch() * s.inH() * s.inW();
        return new ConvGeometry(1, pixels, 1, pixels, 1, new long[] {1, 1}, new long[] {0, 0}, new long[] {0, 0},
                new long[] {0, 0});
    }

    /** The spec's own images, sizes and window. */
    static ConvGeometry unfolded(Conv2dSpec s) {
        return new ConvGeometry(s.batch(), s.inH(), s.inW(), s.outH(), s.outW(), new long[] {s.strideH(), s.strideW()},
                new long[] {s.dilationH() - 1, s.dilationW() - 1}, new long[] {s.padTop(), s.padLeft()},
                new long[] {s.padBottom(), s.padRight()});
    }

    /**
     * Whether the spec is pointwise, so planned as one image of all its pixels. As a precaution the folded image stays
     * below 2^31 bytes of fp32 values (an image as models make them is far below), so no kernel meets byte offsets
     * within one image that it never met before.
     */
    static boolean folds(Conv2dSpec s) {
        long bytes = (long) s.batch() * s.inH() * s.inW() * Math.max(s.inC(), s.filters()) * Float.BYTES;
        return s.kernelH() == 1 && s.kernelW() == 1 && s.strideH() == 1 && s.strideW() == 1 && s.groups() == 1
                && s.padTop() == 0 && s.padBottom() == 0 && s.padLeft() == 0 && s.padRight() == 0
                && s.outH() == s.inH() && s.outW() == s.inW() && bytes < Integer.MAX_VALUE;
    }

    /** The input's dimensions in oneDNN's order (images, channels, height, width). */
    long[] input(long channels) {
        return new long[] {images, channels, inH, inW};
    }

    /** The output's dimensions in oneDNN's order. */
    long[] output(long channels) {
        return new long[] {images, channels, outH, outW};
    }
}
