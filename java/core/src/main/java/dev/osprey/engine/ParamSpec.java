package dev.osprey.engine;

import dev.osprey.Initializer;
import dev.osprey.Regularizer;

/**
 * One weight a layer owns: its Keras name ("kernel", "bias", "moving_mean"), its shape, how it starts, and whether
 * training updates it through gradients (BatchNormalization's moving statistics are state: updated by the layer
 * itself, kept out of the optimizer, and stored in the model's state arena), and the penalty training adds for it
 * (null: none).
 */
public record ParamSpec(String name, int[] shape, Initializer initializer, boolean trainable, Regularizer regularizer) {
    /** A weight without a penalty. */
    public ParamSpec(String name, int[] shape, Initializer initializer, boolean trainable) {
        this(name, shape, initializer, trainable, null);
    }

    /** This weight with this penalty (null: none) added to the training loss. */
    public ParamSpec regularized(Regularizer penalty) {
        return new ParamSpec(name, shape, initializer, trainable, penalty);
    }

    /** A weight that the optimizer updates through its gradient (while its layer is trainable). */
    public static ParamSpec trainable(String name, int[] shape, Initializer initializer) {
        return new ParamSpec(name, shape, initializer, true);
    }

    /**
     * A weight kept out of the optimizer and updated, if at all, by its layer (BatchNormalization's moving statistics).
     */
    public static ParamSpec state(String name, int[] shape, Initializer initializer) {
        return new ParamSpec(name, shape, initializer, false);
    }

    /** The number of values, as an array index: a weight too large for one tensor is an error that says so. */
    public int size() {
        long n = elements();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("weight " + name + " of shape " + java.util.Arrays.toString(shape)
                    + " holds " + n + " values: expected at most " + (Integer.MAX_VALUE - 8) + " in one tensor");
        }
        return (int) n;
    }

    /** The number of values, without overflow (saturates at Long.MAX_VALUE). */
    public long elements() {
        long n = 1;
        for (int d : shape) {
            n = d == 0 ? 0 : (n > Long.MAX_VALUE / d ? Long.MAX_VALUE : n * d);
        }
        return n;
    }
}
