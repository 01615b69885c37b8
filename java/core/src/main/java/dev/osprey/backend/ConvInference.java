package dev.osprey.backend;

import dev.osprey.Precision;

/**
 * A convolution as an inference plan runs it: the spec (its activation applied last), whether a residual of the
 * output's shape is added before the activation, the precision of its products, and for int8 the range its input
 * was calibrated to. A record: a plan-cache key.
 */
public record ConvInference(Conv2dSpec spec, boolean residual, Precision precision, InputRange inputRange) {
    /**
     * Throws NullPointerException when spec or precision is null, IllegalArgumentException when int8 comes without an
     * input range.
     */
    public ConvInference {
        java.util.Objects.requireNonNull(spec, "spec");
        java.util.Objects.requireNonNull(precision, "precision");
        if (precision == Precision.INT8 && inputRange == null) {
            throw new IllegalArgumentException("int8 convolution " + spec + ": expected a calibrated input range, "
                    + "received none");
        }
    }

    /** Without an input range (any precision but int8). */
    public ConvInference(Conv2dSpec spec, boolean residual, Precision precision) {
        this(spec, residual, precision, null);
    }
}
