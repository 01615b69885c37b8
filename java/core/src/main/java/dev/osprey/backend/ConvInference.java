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

    // equals and hashCode written out: a record's generated ones link through invokedynamic at their first call,
    // tens of milliseconds of every start for the plan-cache keys (benchmarks/run-startup.sh). RecordKeysTest checks
    // that they cover every component.
    @Override
    public boolean equals(Object o) {
        return o instanceof ConvInference c && c.spec.equals(spec) && c.residual == residual
                && c.precision == precision && java.util.Objects.equals(c.inputRange, inputRange);
    }

    @Override
    public int hashCode() {
        return ((spec.hashCode() * 31 + (residual ? 1 : 0)) * 31 + precision.hashCode()) * 31
                + java.util.Objects.hashCode(inputRange);
    }
}
