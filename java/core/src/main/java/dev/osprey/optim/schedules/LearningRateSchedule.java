package dev.osprey.optim.schedules;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A learning rate per optimizer step, as Keras' keras.optimizers.schedules: give one to an optimizer with
 * {@link dev.osprey.optim.Optimizer#learningRate(LearningRateSchedule)}. The rate is computed on the host before
 * each step and passed to the fused update, so a schedule never waits for the device. Saved in model files in
 * Keras' form ({"class_name": ..., "config": {...}}).
 */
public interface LearningRateSchedule {
    /** The rate of the step numbered {@code step} (0 for the first, as Keras counts optimizer iterations). */
    double rate(long step);

    /** Keras' class name, e.g. "CosineDecay". */
    String className();

    /** The settings under Keras' names. */
    Map<String, Object> config();

    /** {"class_name": ..., "config": {...}}, as Keras serializes a schedule. */
    default Map<String, Object> toConfig() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("class_name", className());
        m.put("config", config());
        return m;
    }

    /** The inverse of {@link #toConfig()}; a clear error for an unknown class or a bad setting. */
    static LearningRateSchedule fromConfig(Object serialized) {
        if (!(serialized instanceof Map<?, ?> m) || !(m.get("class_name") instanceof String name)
                || !(m.get("config") instanceof Map<?, ?> c)) {
            throw new IllegalArgumentException("expected a learning rate schedule {\"class_name\": ..., \"config\": "
                    + "{...}}, received " + serialized);
        }
        return switch (name) {
            case "ExponentialDecay" -> new ExponentialDecay(number(c, "initial_learning_rate", null),
                    (long) number(c, "decay_steps", null), number(c, "decay_rate", null),
                    Boolean.TRUE.equals(c.get("staircase")));
            case "PiecewiseConstantDecay" -> new PiecewiseConstantDecay(longs(c.get("boundaries")),
                    doubles(c.get("values")));
            case "PolynomialDecay" -> new PolynomialDecay(number(c, "initial_learning_rate", null),
                    (long) number(c, "decay_steps", null), number(c, "end_learning_rate", 1e-4),
                    number(c, "power", 1.0), Boolean.TRUE.equals(c.get("cycle")));
            case "CosineDecay" -> {
                CosineDecay d = new CosineDecay(number(c, "initial_learning_rate", null),
                        (long) number(c, "decay_steps", null), number(c, "alpha", 0.0));
                yield c.get("warmup_target") instanceof Number target
                        ? d.withWarmup(target.doubleValue(), (long) number(c, "warmup_steps", 0.0)) : d;
            }
            case "CosineDecayRestarts" -> new CosineDecayRestarts(number(c, "initial_learning_rate", null),
                    (long) number(c, "first_decay_steps", null), number(c, "t_mul", 2.0), number(c, "m_mul", 1.0),
                    number(c, "alpha", 0.0));
            default -> throw new IllegalArgumentException("expected a schedule ExponentialDecay, "
                    + "PiecewiseConstantDecay, PolynomialDecay, CosineDecay or CosineDecayRestarts, received '"
                    + name + "'");
        };
    }

    private static double number(Map<?, ?> c, String key, Double fallback) {
        Object v = c.get(key);
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        if (v == null && fallback != null) {
            return fallback;
        }
        throw new IllegalArgumentException("schedule: expected a number for " + key + ", received " + v);
    }

    private static long[] longs(Object o) {
        if (!(o instanceof List<?> l) || !l.stream().allMatch(Number.class::isInstance)) {
            throw new IllegalArgumentException("schedule: expected a list of step numbers, received " + o);
        }
        return l.stream().mapToLong(v -> ((Number) v).longValue()).toArray();
    }

    private static double[] doubles(Object o) {
        if (!(o instanceof List<?> l) || !l.stream().allMatch(Number.class::isInstance)) {
            throw new IllegalArgumentException("schedule: expected a list of rates, received " + o);
        }
        return l.stream().mapToDouble(v -> ((Number) v).doubleValue()).toArray();
    }

    /** A checked rate: finite and >= 0. */
    static double rateArgument(String schedule, String what, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(schedule + ": expected " + what + " >= 0, received " + v);
        }
        return v;
    }

    /** A checked step count: > 0. */
    static long stepsArgument(String schedule, String what, long v) {
        if (v <= 0) {
            throw new IllegalArgumentException(schedule + ": expected " + what + " > 0, received " + v);
        }
        return v;
    }
}
