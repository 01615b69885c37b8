package dev.osprey.backend;

import dev.osprey.Precision;

/** A dense layer as an inference plan runs it: the spec and the precision of its products. A plan-cache key. */
public record DenseInference(DenseSpec spec, Precision precision) {
    /** Throws NullPointerException when spec or precision is null. */
    public DenseInference {
        java.util.Objects.requireNonNull(spec, "spec");
        java.util.Objects.requireNonNull(precision, "precision");
    }
}
