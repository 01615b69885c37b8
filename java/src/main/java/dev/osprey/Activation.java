package dev.osprey;

import java.util.Locale;

/** The activations a layer can apply to its output; the backend fuses them into the layer's op. */
public enum Activation {
    LINEAR, RELU, SOFTMAX;

    /** Keras' spelling ("relu", "softmax", "linear"); null means linear. */
    public static Activation of(String name) {
        if (name == null) {
            return LINEAR;
        }
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("expected activation relu, softmax or linear, received '" + name + "'");
        }
    }

    /** Keras' spelling. */
    public String kerasName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
