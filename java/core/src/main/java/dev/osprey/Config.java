package dev.osprey;

import java.util.List;
import java.util.Map;

/**
 * A layer's configuration as read from a model file, with typed getters that say what was expected and what was
 * received ("Conv2D config: expected 'filters' to be a whole number, received 64.5"). Every layer's
 * {@code fromConfig} reads through one.
 */
public final class Config {
    private final String owner;
    private final Map<String, Object> values;

    /** A configuration read from a model file; {@code owner} (e.g. "Conv2D") starts its error messages. */
    public Config(String owner, Map<String, Object> values) {
        this.owner = owner;
        this.values = values;
    }

    /** True when the key is present with a non-null value. */
    public boolean has(String key) {
        return values.get(key) != null;
    }

    /** The value as read, unchecked; null when absent. */
    public Object raw(String key) {
        return values.get(key);
    }

    private IllegalArgumentException wrong(String key, String expected) {
        return new IllegalArgumentException(owner + " config: expected '" + key + "' to be " + expected + ", received "
                + (values.containsKey(key) ? String.valueOf(values.get(key)) : "nothing"));
    }

    /** A whole number (64, not 64.5) that fits an int. */
    public int integer(String key) {
        return toInt(key, values.get(key));
    }

    /** {@link #integer(String)}, or {@code fallback} when the key is absent or null. */
    public int integer(String key, int fallback) {
        return has(key) ? integer(key) : fallback;
    }

    private int toInt(String key, Object o) {
        if (o instanceof Number n) {
            double d = n.doubleValue();
            if (d == Math.rint(d) && Math.abs(d) <= Integer.MAX_VALUE) {
                return (int) d;
            }
        }
        throw wrong(key, "a whole number");
    }

    /** A finite number. */
    public double number(String key) {
        if (values.get(key) instanceof Number n && Double.isFinite(n.doubleValue())) {
            return n.doubleValue();
        }
        throw wrong(key, "a finite number");
    }

    /** {@link #number(String)}, or {@code fallback} when the key is absent or null. */
    public double number(String key, double fallback) {
        return has(key) ? number(key) : fallback;
    }

    /** A number, or null when absent or null (Keras' None). */
    public Double optionalNumber(String key) {
        return has(key) ? number(key) : null;
    }

    /** A string, or {@code fallback} when the key is absent or null. */
    public String string(String key, String fallback) {
        Object o = values.get(key);
        if (o == null) {
            return fallback;
        }
        if (o instanceof String s) {
            return s;
        }
        throw wrong(key, "a string");
    }

    /** A string that must be present. */
    public String string(String key) {
        String s = string(key, null);
        if (s == null) {
            throw wrong(key, "a string");
        }
        return s;
    }

    /** A boolean, or {@code fallback} when the key is absent or null. */
    public boolean bool(String key, boolean fallback) {
        Object o = values.get(key);
        if (o == null) {
            return fallback;
        }
        if (o instanceof Boolean b) {
            return b;
        }
        throw wrong(key, "true or false");
    }

    /** A list of whole numbers, or one number standing for all of them (Keras accepts kernel_size=3). */
    public int[] integers(String key, int count) {
        Object o = values.get(key);
        if (o instanceof Number) {
            int v = toInt(key, o);
            int[] out = new int[count];
            java.util.Arrays.fill(out, v);
            return out;
        }
        if (o instanceof List<?> l && l.size() == count) {
            int[] out = new int[count];
            for (int i = 0; i < count; i++) {
                out[i] = toInt(key, l.get(i));
            }
            return out;
        }
        throw wrong(key, count + " whole numbers");
    }

    /** {@link #integers(String, int)}, or {@code fallback} when the key is absent or null. */
    public int[] integers(String key, int count, int[] fallback) {
        return has(key) ? integers(key, count) : fallback;
    }

    /** A list of whole numbers of any length. */
    public int[] integerList(String key) {
        if (values.get(key) instanceof List<?> l) {
            int[] out = new int[l.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = toInt(key, l.get(i));
            }
            return out;
        }
        throw wrong(key, "a list of whole numbers");
    }

    /** An activation, as {@link Activation#fromConfig} reads it; linear when absent. */
    public Activation activation(String key) {
        try {
            return Activation.fromConfig(values.get(key));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(owner + " config: " + e.getMessage(), e);
        }
    }

    /** A padding mode, as {@link Padding#of} reads it; "valid" when absent. */
    public Padding padding(String key) {
        try {
            return Padding.of(string(key, "valid"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(owner + " config: " + e.getMessage(), e);
        }
    }

    /** An initializer, as {@link Initializer#fromConfig} reads it, or {@code fallback} when the key is absent. */
    public Initializer initializer(String key, Initializer fallback) {
        if (!has(key)) {
            return fallback;
        }
        try {
            return Initializer.fromConfig(values.get(key));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(owner + " config '" + key + "': " + e.getMessage(), e);
        }
    }

    /** A regularizer, as {@link Regularizer#fromConfig} reads it, or null when the key is absent or null. */
    public Regularizer regularizer(String key) {
        if (!has(key)) {
            return null;
        }
        try {
            return Regularizer.fromConfig(values.get(key));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(owner + " config '" + key + "': " + e.getMessage(), e);
        }
    }
}
