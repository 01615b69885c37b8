package dev.osprey.backend;

/**
 * One 2-D pooling: input (batch, inH, inW, channels), window poolH x poolW, output (batch, outH, outW, channels).
 * Average pooling divides by the number of input values under the window, padding excluded (as Keras does).
 */
public record Pool2dSpec(Mode mode, int batch, int inH, int inW, int channels, int poolH, int poolW,
                         int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight) {
    /** The maximum under the window, or the average (padding excluded from the count). */
    public enum Mode { MAX, AVERAGE }

    /** A max pooling. */
    public Pool2dSpec(int batch, int inH, int inW, int channels, int poolH, int poolW,
                      int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight) {
        this(Mode.MAX, batch, inH, inW, channels, poolH, poolW, strideH, strideW, padTop, padLeft, padBottom, padRight);
    }

    /** A pooling over the whole image: output (batch, 1, 1, channels). */
    public static Pool2dSpec global(Mode mode, int batch, int inH, int inW, int channels) {
        return new Pool2dSpec(mode, batch, inH, inW, channels, inH, inW, 1, 1, 0, 0, 0, 0);
    }

    /** Output rows: (inH + padTop + padBottom - poolH) / strideH + 1 (integer division). */
    public int outH() {
        return (inH + padTop + padBottom - poolH) / strideH + 1;
    }

    /** Output columns: (inW + padLeft + padRight - poolW) / strideW + 1 (integer division). */
    public int outW() {
        return (inW + padLeft + padRight - poolW) / strideW + 1;
    }

    /** (batch, inH, inW, channels): the shape of x and dx. */
    public int[] inputShape() {
        return new int[] {batch, inH, inW, channels};
    }

    /** (batch, outH, outW, channels): the shape of y and dy. */
    public int[] outputShape() {
        return new int[] {batch, outH(), outW(), channels};
    }

    // equals and hashCode written out: a record's generated ones link through invokedynamic at their first call,
    // tens of milliseconds of every start for the plan-cache keys (benchmarks/run-startup.sh). RecordKeysTest checks
    // that they cover every component.
    @Override
    public boolean equals(Object o) {
        return o instanceof Pool2dSpec s && s.mode == mode && s.batch == batch && s.inH == inH && s.inW == inW
                && s.channels == channels && s.poolH == poolH && s.poolW == poolW && s.strideH == strideH
                && s.strideW == strideW && s.padTop == padTop && s.padLeft == padLeft && s.padBottom == padBottom
                && s.padRight == padRight;
    }

    @Override
    public int hashCode() { // a running hash: looked up per call, so no array
        int h = java.util.Objects.hashCode(mode);
        h = 31 * h + batch;
        h = 31 * h + inH;
        h = 31 * h + inW;
        h = 31 * h + channels;
        h = 31 * h + poolH;
        h = 31 * h + poolW;
        h = 31 * h + strideH;
        h = 31 * h + strideW;
        h = 31 * h + padTop;
        h = 31 * h + padLeft;
        h = 31 * h + padBottom;
        return 31 * h + padRight;
    }
}
