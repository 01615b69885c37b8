package dev.osprey.backend;

/** Zero padding of (batch, inH, inW, channels) by top/bottom rows and left/right columns. */
public record Pad2dSpec(int batch, int inH, int inW, int channels, int top, int bottom, int left, int right) {
    /** Throws IllegalArgumentException for a negative padding. */
    public Pad2dSpec {
        if (top < 0 || bottom < 0 || left < 0 || right < 0) {
            throw new IllegalArgumentException("Pad2dSpec: expected padding >= 0, received top " + top + ", bottom "
                    + bottom + ", left " + left + ", right " + right);
        }
    }

    /** Padded rows: inH + top + bottom. */
    public int outH() {
        return inH + top + bottom;
    }

    /** Padded columns: inW + left + right. */
    public int outW() {
        return inW + left + right;
    }

    /** (batch, inH, inW, channels): the unpadded shape, of x and dx. */
    public int[] inputShape() {
        return new int[] {batch, inH, inW, channels};
    }

    /** (batch, outH, outW, channels): the padded shape, of y and dy. */
    public int[] outputShape() {
        return new int[] {batch, outH(), outW(), channels};
    }
}
