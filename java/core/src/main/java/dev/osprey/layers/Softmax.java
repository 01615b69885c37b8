package dev.osprey.layers;

import dev.osprey.Config;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Softmax over the last axis, as Keras' Softmax layer: anywhere in a model (attention weights, per-pixel classes), or
 * as a classifier's last layer, where the loss takes it over from the logits.
 */
public final class Softmax extends ActivationLayer {
    @Override
    dev.osprey.Activation function() {
        return dev.osprey.Activation.SOFTMAX;
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("axis", -1);
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Softmax fromConfig(Config c) {
        Object axis = c.raw("axis");
        if (axis != null && !(axis instanceof Number n && n.intValue() == -1)) {
            throw new IllegalArgumentException("Softmax config: expected axis -1, received " + axis);
        }
        return withCommonConfig(new Softmax(), c);
    }

    // ---- Layer's setters, returning Softmax so that they chain with this layer's own ----------------------------

    @Override
    public Softmax name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Softmax trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Softmax inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
