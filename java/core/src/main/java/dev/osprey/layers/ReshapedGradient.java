package dev.osprey.layers;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;

/**
 * A view of a layer's output gradient in the shape its op reads ((rows, units) for a Dense layer on a larger input,
 * a pooling's (batch, 1, 1, C)), made once: a plan hands the same gradient tensor every step, so a new view is made
 * only when the tensor changes.
 */
final class ReshapedGradient {
    private final Backend backend;
    private final int[] shape;
    private Tensor gradient;
    private Tensor view;

    ReshapedGradient(Backend backend, int... shape) {
        this.backend = backend;
        this.shape = shape.clone();
    }

    /** gradient as this shape. */
    Tensor of(Tensor gradient) {
        if (gradient != this.gradient) {
            this.gradient = gradient;
            this.view = backend.view(gradient, 0, shape);
        }
        return view;
    }
}
