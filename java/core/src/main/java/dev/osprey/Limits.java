package dev.osprey;

import java.util.Objects;

/**
 * What untrusted input may cost, stated once. Every reader of outside data (model files, IDX files, images, JSON
 * and HTTP bodies) checks its claims against these numbers <em>before</em> allocating anything proportional to
 * them, and an input over a limit fails with an error that names the limit and how to raise it.
 *
 * <p>Defaults come from system properties ({@code -Dosprey.limits.maxParameters=...}, one per component, read
 * once); {@link #set(Limits)} replaces them for the whole process, for example from a server's configuration.
 */
public record Limits(long maxParameters, long maxTensorElements, long maxImagePixels, int maxJsonDepth,
        long maxJsonBytes) {

    private static final String PREFIX = "osprey.limits.";

    /** The defaults: 500 million parameters (2 GB of float32), 2^28 values per tensor, 2^26 pixels, depth 64, 64 MiB. */
    public static final Limits DEFAULTS = new Limits(500_000_000L, 1L << 28, 1L << 26, 64, 64L << 20);

    private static volatile Limits current = fromSystemProperties(DEFAULTS);

    /** Checks that every limit is positive. */
    public Limits {
        positive("maxParameters", maxParameters);
        positive("maxTensorElements", maxTensorElements);
        positive("maxImagePixels", maxImagePixels);
        positive("maxJsonDepth", maxJsonDepth);
        positive("maxJsonBytes", maxJsonBytes);
    }

    private static void positive(String name, long value) {
        if (value <= 0) {
            throw new IllegalArgumentException("Limits: expected " + name + " to be positive, received " + value);
        }
    }

    /** The limits in force. */
    public static Limits current() {
        return current;
    }

    /** Replaces the limits for the whole process. */
    public static void set(Limits limits) {
        current = Objects.requireNonNull(limits, "limits");
    }

    /** A copy with another {@code maxParameters}. */
    public Limits withMaxParameters(long v) {
        return new Limits(v, maxTensorElements, maxImagePixels, maxJsonDepth, maxJsonBytes);
    }

    /** A copy with another {@code maxTensorElements}. */
    public Limits withMaxTensorElements(long v) {
        return new Limits(maxParameters, v, maxImagePixels, maxJsonDepth, maxJsonBytes);
    }

    /** A copy with another {@code maxImagePixels}. */
    public Limits withMaxImagePixels(long v) {
        return new Limits(maxParameters, maxTensorElements, v, maxJsonDepth, maxJsonBytes);
    }

    /** A copy with another {@code maxJsonDepth}. */
    public Limits withMaxJsonDepth(int v) {
        return new Limits(maxParameters, maxTensorElements, maxImagePixels, v, maxJsonBytes);
    }

    /** A copy with another {@code maxJsonBytes}. */
    public Limits withMaxJsonBytes(long v) {
        return new Limits(maxParameters, maxTensorElements, maxImagePixels, maxJsonDepth, v);
    }

    /** "the limit of 268435456 (osprey.limits.maxTensorElements)": for error messages. */
    public static String describe(String component, long value) {
        return "the limit of " + value + " (" + PREFIX + component + ")";
    }

    /** Throws a {@link LimitExceededException} when {@code claimed} is over {@code limit}. */
    public static void check(String what, long claimed, String component, long limit) {
        if (claimed > limit || claimed < 0) {
            throw new LimitExceededException(what + ": " + (claimed < 0 ? "more than " + Long.MAX_VALUE : claimed)
                    + " is over " + describe(component, limit));
        }
    }

    static Limits fromSystemProperties(Limits base) {
        return new Limits(
                property("maxParameters", base.maxParameters),
                property("maxTensorElements", base.maxTensorElements),
                property("maxImagePixels", base.maxImagePixels),
                (int) Math.min(Integer.MAX_VALUE, property("maxJsonDepth", base.maxJsonDepth)),
                property("maxJsonBytes", base.maxJsonBytes));
    }

    private static long property(String component, long fallback) {
        String v = System.getProperty(PREFIX + component);
        if (v == null || v.isBlank()) {
            return fallback;
        }
        try {
            return Long.parseLong(v.trim().replace("_", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("expected -D" + PREFIX + component + " to be a whole number, received '"
                    + v + "'");
        }
    }

    /** An input claimed more than a {@link Limits} component allows. */
    public static final class LimitExceededException extends IllegalArgumentException {
        /** An exception with this message. */
        public LimitExceededException(String message) {
            super(message);
        }
    }
}
