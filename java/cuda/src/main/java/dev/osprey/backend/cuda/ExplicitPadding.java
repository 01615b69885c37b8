package dev.osprey.backend.cuda;

/**
 * A padded copy of a layer's NHWC input, for padding cuDNN's legacy API can't express: uneven 'same' padding (one
 * more row or column at the bottom or right, as Keras pads for even sizes or stride 2). The layer then runs
 * unpadded on the copy; its input gradient is the interior of the copy's gradient. Owns both buffers.
 */
final class ExplicitPadding implements AutoCloseable {
    final int paddedH;
    final int paddedW;
    private final CudaContext c;
    private final int n;
    private final int h;
    private final int w;
    private final int channels;
    private final int top;
    private final int left;
    private final float value;
    private final CudaTensor padded;
    private final CudaTensor paddedGradient;
    private final Kernels.Launch pad;
    private final Kernels.Launch crop;

    /** True when cuDNN's own (symmetric) padding can't do it. */
    static boolean needed(int top, int left, int bottom, int right) {
        return top != bottom || left != right;
    }

    /** value fills the frame: 0 for convolution, negative infinity for max pooling. */
    ExplicitPadding(CudaContext c, int n, int h, int w, int channels, int top, int left, int bottom, int right,
                    float value) {
        this.c = c;
        this.n = n;
        this.h = h;
        this.w = w;
        this.channels = channels;
        this.top = top;
        this.left = left;
        this.value = value;
        this.paddedH = h + top + bottom;
        this.paddedW = w + left + right;
        this.padded = CudaTensor.allocate(new int[] {n, paddedH, paddedW, channels});
        try {
            this.paddedGradient = CudaTensor.allocate(new int[] {n, paddedH, paddedW, channels});
        } catch (RuntimeException e) {
            padded.close();
            throw e;
        }
        this.pad = c.kernels.launch("osprey_pad_nhwc", "ppiiiiiiiif");
        this.crop = c.kernels.launch("osprey_crop_nhwc", "ppiiiiiiii");
    }

    /** Writes x framed by the padding value into the copy and returns the copy. */
    CudaTensor pad(CudaTensor x) {
        pad.pointer(0, x).pointer(1, padded).intValue(2, n).intValue(3, h).intValue(4, w).intValue(5, channels)
                .intValue(6, top).intValue(7, left).intValue(8, paddedH).intValue(9, paddedW).floatValue(10, value)
                .run(padded.size(), c.stream);
        return padded;
    }

    /** Where a backward op writes the gradient of the padded copy. */
    CudaTensor gradient() {
        return paddedGradient;
    }

    /** dx = the interior of {@link #gradient()}. */
    void crop(CudaTensor dx) {
        crop.pointer(0, paddedGradient).pointer(1, dx).intValue(2, n).intValue(3, h).intValue(4, w)
                .intValue(5, channels).intValue(6, top).intValue(7, left).intValue(8, paddedH).intValue(9, paddedW)
                .run(dx.size(), c.stream);
    }

    @Override
    public void close() {
        padded.close();
        paddedGradient.close();
    }
}
