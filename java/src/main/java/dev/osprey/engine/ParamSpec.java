package dev.osprey.engine;

import dev.osprey.Initializer;

/**
 * One weight a layer owns: its Keras name ("kernel", "bias", "moving_mean"), its shape, how it starts, and whether
 * training updates it through gradients (BatchNormalization's moving statistics are state: updated by the layer
 * itself, kept out of the optimizer, and stored in the model's state arena).
 */
public record ParamSpec(String name, int[] shape, Initializer initializer, boolean trainable) {
    public static ParamSpec trainable(String name, int[] shape, Initializer initializer) {
        return new ParamSpec(name, shape, initializer, true);
    }

    public static ParamSpec state(String name, int[] shape, Initializer initializer) {
        return new ParamSpec(name, shape, initializer, false);
    }

    public int size() {
        int n = 1;
        for (int d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }
}
