package dev.osprey;

import java.util.Locale;

/**
 * An element-wise activation, as Keras names them. Layers with an {@code activation} argument (Conv2D, Dense, ...)
 * ask the backend to fuse it into their op where it can; the {@code Activation} layer applies one on its own.
 *
 * <p>{@code kind} picks the function; {@code alpha} and {@code maxValue} parameterise the ReLU family (negative
 * slope and cap: ReLU6 is relu with maxValue 6, LeakyReLU relu with a slope) and ELU (alpha). Formulas follow Keras 3:
 * hard_sigmoid(x) = relu6(x + 3) / 6, hard_swish(x) = x * hard_sigmoid(x), gelu is the exact (erf) form,
 * swish(x) = x * sigmoid(x). Softmax runs over the last axis.
 */
public record Activation(Kind kind, float alpha, float maxValue) {
    /** The function an activation applies; {@code alpha} and {@code maxValue} parameterise the ReLU family and ELU. */
    public enum Kind { LINEAR, RELU, SOFTMAX, SIGMOID, TANH, ELU, GELU, SWISH, HARD_SWISH, HARD_SIGMOID }

    /** The identity (Keras' {@code "linear"}): no activation. */
    public static final Activation LINEAR = new Activation(Kind.LINEAR, 0f, Float.POSITIVE_INFINITY);
    /** The rectifier, {@code max(x, 0)}. */
    public static final Activation RELU = new Activation(Kind.RELU, 0f, Float.POSITIVE_INFINITY);
    /** The rectifier capped at 6, {@code min(max(x, 0), 6)}. */
    public static final Activation RELU6 = new Activation(Kind.RELU, 0f, 6f);
    /** Softmax over the last axis: each row becomes probabilities that sum to 1. */
    public static final Activation SOFTMAX = new Activation(Kind.SOFTMAX, 0f, Float.POSITIVE_INFINITY);
    /** The logistic function, {@code 1 / (1 + exp(-x))}. */
    public static final Activation SIGMOID = new Activation(Kind.SIGMOID, 0f, Float.POSITIVE_INFINITY);
    /** The hyperbolic tangent. */
    public static final Activation TANH = new Activation(Kind.TANH, 0f, Float.POSITIVE_INFINITY);
    /** The exponential linear unit with alpha 1. */
    public static final Activation ELU = new Activation(Kind.ELU, 1f, Float.POSITIVE_INFINITY);
    /** The Gaussian error linear unit, in its exact (erf) form. */
    public static final Activation GELU = new Activation(Kind.GELU, 0f, Float.POSITIVE_INFINITY);
    /** {@code x * sigmoid(x)}, also called silu. */
    public static final Activation SWISH = new Activation(Kind.SWISH, 0f, Float.POSITIVE_INFINITY);
    /** Keras' other name for swish. */
    public static final Activation SILU = SWISH;
    /** {@code x * hard_sigmoid(x)}. */
    public static final Activation HARD_SWISH = new Activation(Kind.HARD_SWISH, 0f, Float.POSITIVE_INFINITY);
    /** A piecewise-linear sigmoid, {@code relu6(x + 3) / 6}. */
    public static final Activation HARD_SIGMOID = new Activation(Kind.HARD_SIGMOID, 0f, Float.POSITIVE_INFINITY);
    /** Keras' leaky_relu activation function (negative slope 0.2). */
    public static final Activation LEAKY_RELU = leakyRelu(0.2f);

    /** Checks the parameters: a kind, a cap above 0 (infinite: none) and a finite alpha of at least 0. */
    public Activation {
        if (kind == null) {
            throw new IllegalArgumentException("Activation: expected a kind, received null");
        }
        if (!(maxValue > 0)) {
            throw new IllegalArgumentException("Activation: expected max value > 0, received " + maxValue);
        }
        if (!Float.isFinite(alpha) || alpha < 0) {
            throw new IllegalArgumentException("Activation: expected a finite alpha >= 0, received " + alpha);
        }
    }

    /** ReLU with a cap (null or infinite: none) and a slope for negative inputs, as Keras' ReLU layer. */
    public static Activation relu(Float maxValue, float negativeSlope) {
        return new Activation(Kind.RELU, negativeSlope, maxValue == null ? Float.POSITIVE_INFINITY : maxValue);
    }

    /** ReLU with this slope for negative inputs and no cap, as the LeakyReLU layer. */
    public static Activation leakyRelu(float negativeSlope) {
        return new Activation(Kind.RELU, negativeSlope, Float.POSITIVE_INFINITY);
    }

    /** ELU with this alpha, the scale of its negative side ({@link #ELU} has 1). */
    public static Activation elu(float alpha) {
        return new Activation(Kind.ELU, alpha, Float.POSITIVE_INFINITY);
    }

    /** Keras' spelling ("relu", "relu6", "softmax", "gelu", "silu", ...); null means linear. */
    public static Activation of(String name) {
        if (name == null) {
            return LINEAR;
        }
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "linear" -> LINEAR;
            case "relu" -> RELU;
            case "relu6" -> RELU6;
            case "leaky_relu" -> LEAKY_RELU;
            case "softmax" -> SOFTMAX;
            case "sigmoid" -> SIGMOID;
            case "tanh" -> TANH;
            case "elu" -> ELU;
            case "gelu" -> GELU;
            case "swish", "silu" -> SWISH;
            case "hard_swish", "hard_silu" -> HARD_SWISH;
            case "hard_sigmoid" -> HARD_SIGMOID;
            default -> throw new IllegalArgumentException("expected activation linear, relu, relu6, leaky_relu, "
                    + "softmax, sigmoid, tanh, elu, gelu, swish, silu, hard_swish or hard_sigmoid, received '" + name + "'");
        };
    }

    /** Keras' spelling; throws for a parameterised form that has no name (use a ReLU or ELU layer for those). */
    public String kerasName() {
        String name = switch (kind) {
            case RELU -> alpha == 0f && maxValue == Float.POSITIVE_INFINITY ? "relu"
                    : alpha == 0f && maxValue == 6f ? "relu6"
                    : alpha == 0.2f && maxValue == Float.POSITIVE_INFINITY ? "leaky_relu" : null;
            case ELU -> alpha == 1f ? "elu" : null;
            default -> kind.name().toLowerCase(Locale.ROOT);
        };
        if (name == null) {
            throw new IllegalStateException("the activation " + this + " has no Keras name: use the ReLU, LeakyReLU "
                    + "or ELU layer to keep its parameters");
        }
        return name;
    }

    /**
     * For a layer config: the Keras name, or {"class_name": "relu", "config": {"negative_slope": .., "max_value": ..}}
     * for a parameterised form without one.
     */
    public Object toConfig() {
        if (hasKerasName()) {
            return kerasName();
        }
        java.util.Map<String, Object> config = new java.util.LinkedHashMap<>();
        config.put(kind == Kind.ELU ? "alpha" : "negative_slope", alpha);
        if (maxValue != Float.POSITIVE_INFINITY) {
            config.put("max_value", maxValue);
        }
        java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put("class_name", kind.name().toLowerCase(Locale.ROOT));
        out.put("config", config);
        return out;
    }

    /** The inverse of {@link #toConfig()}: a name, or a parameterised relu or elu. */
    public static Activation fromConfig(Object config) {
        if (config == null || config instanceof String) {
            return of((String) config);
        }
        if (config instanceof java.util.Map<?, ?> m && m.get("class_name") instanceof String name
                && m.get("config") instanceof java.util.Map<?, ?> c) {
            float alpha = c.get("negative_slope") instanceof Number n ? n.floatValue()
                    : c.get("alpha") instanceof Number n2 ? n2.floatValue() : 0f;
            Float max = c.get("max_value") instanceof Number n ? n.floatValue() : null;
            return switch (name) {
                case "relu" -> relu(max, alpha);
                case "elu" -> elu(alpha);
                default -> throw new IllegalArgumentException("expected a parameterised relu or elu activation, "
                        + "received '" + name + "'");
            };
        }
        throw new IllegalArgumentException("expected an activation name or {\"class_name\": .., \"config\": ..}, "
                + "received " + config);
    }

    /** True when this activation has a Keras name (see {@link #kerasName()}). */
    public boolean hasKerasName() {
        return switch (kind) {
            case RELU -> alpha == 0f && (maxValue == Float.POSITIVE_INFINITY || maxValue == 6f)
                    || alpha == 0.2f && maxValue == Float.POSITIVE_INFINITY;
            case ELU -> alpha == 1f;
            default -> true;
        };
    }

    /**
     * True when the derivative can be taken from the activation's output alone, so a layer may fuse this
     * activation into its op and still back-propagate (ReLU family, sigmoid, tanh, ELU). gelu, swish, hard_swish and
     * hard_sigmoid need their input.
     */
    public boolean differentiableFromOutput() {
        return switch (kind) {
            case LINEAR, RELU, SIGMOID, TANH, ELU -> true;
            case SOFTMAX, GELU, SWISH, HARD_SWISH, HARD_SIGMOID -> false;
        };
    }

    @Override
    public String toString() {
        if (hasKerasName()) {
            return kerasName();
        }
        return kind.name().toLowerCase(Locale.ROOT) + "(alpha=" + alpha
                + (maxValue == Float.POSITIVE_INFINITY ? "" : ", max_value=" + maxValue) + ")";
    }

    // equals and hashCode written out: a record's generated ones link through invokedynamic at their first call, a
    // cost paid at every start by the plan-cache keys that hold an activation. RecordKeysTest checks them.
    @Override
    public boolean equals(Object o) {
        return o instanceof Activation a && a.kind == kind && Float.compare(a.alpha, alpha) == 0
                && Float.compare(a.maxValue, maxValue) == 0;
    }

    @Override
    public int hashCode() {
        return (java.util.Objects.hashCode(kind) * 31 + Float.hashCode(alpha)) * 31 + Float.hashCode(maxValue);
    }
}
