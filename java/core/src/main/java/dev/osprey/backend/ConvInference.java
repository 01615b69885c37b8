package dev.osprey.backend;

import dev.osprey.Precision;

/**
 * A convolution as an inference plan runs it: the spec (its activation applied last), whether a residual of the
 * output's shape is added before the activation, and the precision of its products. A record: a plan-cache key.
 */
public record ConvInference(Conv2dSpec spec, boolean residual, Precision precision) {
    /** Throws NullPointerException when spec or precision is null. */
    public ConvInference {
        java.util.Objects.requireNonNull(spec, "spec");
        java.util.Objects.requireNonNull(precision, "precision");
    }
}
