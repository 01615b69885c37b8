package dev.osprey;

import dev.osprey.backend.Tensor;

/**
 * A layer planned for one batch size: its output (and input-gradient) tensors are allocated once when the
 * model is planned for that batch size, and reused every step.
 */
public interface LayerRun {
    /** (batch, output shape...), written by {@link #forward}. */
    Tensor output();

    /** Computes {@link #output()} from the input tensor this run was planned with. */
    void forward(boolean training, long seed);

    /**
     * Writes the parameter gradients and returns dL/dinput (null when the model needs none, as for the first
     * layer). May overwrite {@code outputGradient}.
     */
    Tensor backward(Tensor outputGradient);
}
