package dev.osprey.backend;

/**
 * The values a layer's input took on calibration data (Model.quantize): int8 inference maps them onto 8 bits. An
 * input that was never negative (after ReLU, an image in [0, 1]) uses unsigned 8 bits over [0, max]; any other uses
 * signed 8 bits over [-a, a], a the larger magnitude.
 */
public record InputRange(float min, float max) {
    /** Throws unless min <= max, both finite. */
    public InputRange {
        if (!(min <= max) || !Float.isFinite(min) || !Float.isFinite(max)) {
            throw new IllegalArgumentException("expected a finite input range min <= max, received [" + min + ", "
                    + max + "]");
        }
    }

    /** Whether the input fits unsigned 8 bits (it was never negative). */
    public boolean unsigned() {
        return min >= 0;
    }

    /** The real value of one 8-bit step: max / 255 unsigned, max(|min|, |max|) / 127 signed (1 for an all-zero input). */
    public float scale() {
        float magnitude = unsigned() ? max : Math.max(-min, max);
        if (magnitude == 0) {
            return 1f;
        }
        return magnitude / (unsigned() ? 255f : 127f);
    }
}
