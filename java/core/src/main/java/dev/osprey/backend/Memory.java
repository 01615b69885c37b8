package dev.osprey.backend;

/**
 * An owner of tensors on one backend: everything {@link #allocate}d through it is freed by {@link #close()}, at once
 * and deterministically. A model owns one for its parameters and one per planned batch size, so a model's native
 * memory goes when the model (or the plan) does, while the backend itself lives on for other models.
 */
public interface Memory extends AutoCloseable {
    /** A new zero-filled tensor of this logical shape, owned by this memory. */
    Tensor allocate(int... shape);

    /** Bytes allocated through this memory and not yet freed. */
    long bytes();

    /** Frees every tensor allocated here. Idempotent. */
    @Override
    void close();
}
