package dev.osprey;

import java.util.Locale;

/** Keras' padding modes: "valid" (none) and "same" (output = ceil(input / stride), extra padding at the end). */
public enum Padding {
    VALID, SAME;

    /** The mode of this Keras name, "valid" or "same" (any case). */
    public static Padding of(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("expected padding 'valid' or 'same', received '" + name + "'");
        }
    }

    /** Keras' name: "valid" or "same". */
    public String kerasName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {padBefore, padAfter} along one axis. */
    public int[] pads(int input, int window, int stride) {
        if (this == VALID) {
            return new int[] {0, 0};
        }
        int out = (input + stride - 1) / stride;
        int total = Math.max((out - 1) * stride + window - input, 0);
        return new int[] {total / 2, total - total / 2};
    }

    /** Output length along one axis, or a clear error when the window does not fit. */
    public int outputLength(String layer, int input, int window, int stride) {
        int[] p = pads(input, window, stride);
        int padded = input + p[0] + p[1];
        if (padded < window) {
            throw new IllegalArgumentException(layer + ": expected an input of at least " + window
                    + " along each spatial axis with padding 'valid', received " + input);
        }
        return (padded - window) / stride + 1;
    }
}
