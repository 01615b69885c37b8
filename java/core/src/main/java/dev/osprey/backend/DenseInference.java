package dev.osprey.backend;

import dev.osprey.Precision;

/**
 * A dense layer as an inference plan runs it: the spec, the precision of its products, and for int8 the range its
 * input was calibrated to. A plan-cache key.
 */
public record DenseInference(DenseSpec spec, Precision precision, InputRange inputRange) {
    /**
     * Throws NullPointerException when spec or precision is null, IllegalArgumentException when int8 comes without an
     * input range.
     */
    public DenseInference {
        java.util.Objects.requireNonNull(spec, "spec");
        java.util.Objects.requireNonNull(precision, "precision");
        if (precision == Precision.INT8 && inputRange == null) {
            throw new IllegalArgumentException("int8 dense " + spec + ": expected a calibrated input range, received "
                    + "none");
        }
    }

    /** Without an input range (any precision but int8). */
    public DenseInference(DenseSpec spec, Precision precision) {
        this(spec, precision, null);
    }
}
