package dev.osprey.backend;

/** Zero padding of (batch, inH, inW, channels) by top/bottom rows and left/right columns. */
public record Pad2dSpec(int batch, int inH, int inW, int channels, int top, int bottom, int left, int right) {
    public Pad2dSpec {
        if (top < 0 || bottom < 0 || left < 0 || right < 0) {
            throw new IllegalArgumentException("Pad2dSpec: expected padding >= 0, received top " + top + ", bottom "
                    + bottom + ", left " + left + ", right " + right);
        }
    }

    public int outH() {
        return inH + top + bottom;
    }

    public int outW() {
        return inW + left + right;
    }

    public int[] inputShape() {
        return new int[] {batch, inH, inW, channels};
    }

    public int[] outputShape() {
        return new int[] {batch, outH(), outW(), channels};
    }
}
