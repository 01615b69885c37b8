package dev.osprey.backend;

/** One 2-D max pooling: input (batch, inH, inW, channels), window poolH x poolW, output (batch, outH, outW, channels). */
public record Pool2dSpec(int batch, int inH, int inW, int channels, int poolH, int poolW,
                         int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight) {
    public int outH() {
        return (inH + padTop + padBottom - poolH) / strideH + 1;
    }

    public int outW() {
        return (inW + padLeft + padRight - poolW) / strideW + 1;
    }

    public int[] inputShape() {
        return new int[] {batch, inH, inW, channels};
    }

    public int[] outputShape() {
        return new int[] {batch, outH(), outW(), channels};
    }
}
