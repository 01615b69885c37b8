package dev.osprey;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A weight penalty added to the training loss, as Keras' regularizers: L1 adds l1 * sum(|w|), L2 adds l2 * sum(w^2)
 * (no factor 1/2), L1L2 both. Given to a layer's weight ({@code new Dense(64).kernelRegularizer(Regularizer.l2(1e-4))});
 * the penalty shows in the reported loss (also in evaluate and val_loss, as Keras reports it) and its gradient
 * (l1 * sign(w) + 2 * l2 * w) joins the weight's gradient before the optimizer step, on the backend.
 */
public final class Regularizer {
    private final double l1;
    private final double l2;

    private Regularizer(double l1, double l2) {
        check("l1", l1);
        check("l2", l2);
        this.l1 = l1;
        this.l2 = l2;
    }

    private static void check(String what, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("regularizer: expected a finite " + what + " >= 0, received " + v);
        }
    }

    /** Keras' L1(l1): l1 * sum(|w|). */
    public static Regularizer l1(double l1) {
        return new Regularizer(l1, 0);
    }

    /** Keras' L2(l2): l2 * sum(w^2). */
    public static Regularizer l2(double l2) {
        return new Regularizer(0, l2);
    }

    /** Keras' L1L2(l1, l2): both penalties. */
    public static Regularizer l1l2(double l1, double l2) {
        return new Regularizer(l1, l2);
    }

    /** The L1 factor. */
    public double l1() {
        return l1;
    }

    /** The L2 factor. */
    public double l2() {
        return l2;
    }

    /** Keras' names with Keras' default factor 0.01: "l1", "l2", "l1_l2" (whose defaults are l1 0.01, l2 0.01). */
    public static Regularizer of(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "l1" -> l1(0.01);
            case "l2" -> l2(0.01);
            case "l1_l2", "l1l2" -> l1l2(0.01, 0.01);
            default -> throw new IllegalArgumentException("expected regularizer l1, l2 or l1_l2, received '" + name + "'");
        };
    }

    /** Reads Keras' serialized form ({"class_name": "L2", "config": {"l2": 0.01}}) or a name; null gives null. */
    public static Regularizer fromConfig(Object config) {
        if (config == null) {
            return null;
        }
        if (config instanceof String s) {
            return of(s);
        }
        if (config instanceof Map<?, ?> m && m.get("class_name") instanceof String className
                && (m.get("config") == null || m.get("config") instanceof Map<?, ?>)) {
            Map<?, ?> c = m.get("config") == null ? Map.of() : (Map<?, ?>) m.get("config");
            return switch (className) {
                case "L1" -> l1(factor(c, "l1", 0.01));
                case "L2" -> l2(factor(c, "l2", 0.01));
                case "L1L2" -> l1l2(factor(c, "l1", 0), factor(c, "l2", 0));
                default -> throw new IllegalArgumentException("expected regularizer class L1, L2 or L1L2, received '"
                        + className + "'");
            };
        }
        throw new IllegalArgumentException("expected a regularizer name or {\"class_name\": ..., \"config\": {...}}, "
                + "received " + config);
    }

    private static double factor(Map<?, ?> config, String key, double fallback) {
        Object v = config.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Number n)) {
            throw new IllegalArgumentException("expected a number for regularizer " + key + ", received " + v);
        }
        return n.doubleValue();
    }

    /** Keras' serialized form. */
    public Map<String, Object> toConfig() {
        Map<String, Object> config = new LinkedHashMap<>();
        String className;
        if (l1 > 0 && l2 > 0 || l1 == 0 && l2 == 0) {
            className = "L1L2";
            config.put("l1", l1);
            config.put("l2", l2);
        } else if (l1 > 0) {
            className = "L1";
            config.put("l1", l1);
        } else {
            className = "L2";
            config.put("l2", l2);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("class_name", className);
        out.put("config", config);
        return out;
    }

    /** The penalty of these weights, in double: l1 * sum(|w|) + l2 * sum(w^2). */
    public double penalty(float[] weights) {
        double abs = 0;
        double squares = 0;
        for (float w : weights) {
            abs += Math.abs(w);
            squares += (double) w * w;
        }
        return l1 * abs + l2 * squares;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Regularizer r && r.l1 == l1 && r.l2 == l2;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(l1) * 31 + Double.hashCode(l2);
    }

    @Override
    public String toString() {
        return l1 > 0 && l2 > 0 ? "L1L2(l1=" + l1 + ", l2=" + l2 + ")" : l1 > 0 ? "L1(" + l1 + ")" : "L2(" + l2 + ")";
    }
}
