package dev.osprey.layers;

import dev.osprey.Config;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Applies an activation on its own, as Keras' Activation layer: {@code new Activation("relu")} or
 * {@code new Activation(dev.osprey.Activation.GELU)}.
 */
public final class Activation extends ActivationLayer {
    private final dev.osprey.Activation function;

    /** A layer applying this activation. */
    public Activation(dev.osprey.Activation function) {
        if (function == null) {
            throw new IllegalArgumentException("Activation: expected an activation, received null");
        }
        this.function = function;
    }

    /** Keras' name: "relu", "gelu", "softmax", ... */
    public Activation(String name) {
        this(dev.osprey.Activation.of(name));
    }

    @Override
    dev.osprey.Activation function() {
        return function;
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("activation", function.toConfig());
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Activation fromConfig(Config c) {
        if (!c.has("activation")) {
            throw new IllegalArgumentException("Activation config: expected 'activation', received nothing");
        }
        return withCommonConfig(new Activation(c.activation("activation")), c);
    }

    // ---- Layer's setters, returning Activation so that they chain with this layer's own ----------------------------

    @Override
    public Activation name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Activation trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Activation inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
