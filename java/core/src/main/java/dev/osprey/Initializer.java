package dev.osprey;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * How a weight starts, with Keras' names and formulas: Glorot (Xavier), He and LeCun, each uniform or normal (the
 * normal forms draw from a normal truncated at two standard deviations, rescaled as Keras does), zeros, ones and a
 * constant, and normals of a given standard deviation (RandomNormal, TruncatedNormal). Fans follow Keras' compute_fans: for a kernel (..., in, out) fan-in is in times the receptive field, fan-out
 * out times it. Draws come from the model's seed, so the same seed gives the same weights.
 */
public final class Initializer {
    private enum Kind {
        GLOROT_UNIFORM, GLOROT_NORMAL, HE_UNIFORM, HE_NORMAL, LECUN_UNIFORM, LECUN_NORMAL, ZEROS, ONES, CONSTANT,
        RANDOM_NORMAL, TRUNCATED_NORMAL
    }

    /** Keras' rescaling of a normal truncated at two standard deviations back to the asked-for standard deviation. */
    private static final double TRUNCATED_STDDEV = 0.87962566103423978;

    private final Kind kind;
    private final double value;

    private Initializer(Kind kind, double value) {
        this.kind = kind;
        this.value = value;
    }

    /** Glorot (Xavier) uniform, within sqrt(6 / (fan_in + fan_out)) of 0; the layers' default for kernels. */
    public static Initializer glorotUniform() {
        return new Initializer(Kind.GLOROT_UNIFORM, 0);
    }

    /** Glorot (Xavier) normal: truncated, standard deviation sqrt(2 / (fan_in + fan_out)). */
    public static Initializer glorotNormal() {
        return new Initializer(Kind.GLOROT_NORMAL, 0);
    }

    /** He uniform, within sqrt(6 / fan_in) of 0. */
    public static Initializer heUniform() {
        return new Initializer(Kind.HE_UNIFORM, 0);
    }

    /** He normal: truncated, standard deviation sqrt(2 / fan_in). */
    public static Initializer heNormal() {
        return new Initializer(Kind.HE_NORMAL, 0);
    }

    /** LeCun uniform, within sqrt(3 / fan_in) of 0. */
    public static Initializer lecunUniform() {
        return new Initializer(Kind.LECUN_UNIFORM, 0);
    }

    /** LeCun normal: truncated, standard deviation sqrt(1 / fan_in). */
    public static Initializer lecunNormal() {
        return new Initializer(Kind.LECUN_NORMAL, 0);
    }

    /** All zeros; the layers' default for biases. */
    public static Initializer zeros() {
        return new Initializer(Kind.ZEROS, 0);
    }

    /** All ones. */
    public static Initializer ones() {
        return new Initializer(Kind.ONES, 1);
    }

    /** Every value this finite constant. */
    public static Initializer constant(double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException("Initializer: expected a finite constant, received " + value);
        }
        return new Initializer(Kind.CONSTANT, value);
    }

    /**
     * Keras' RandomNormal(mean=0, stddev): a normal draw (torchvision's ViT starts its position embedding so, and timm
     * its transformer weights, whose trunc_normal_(std=0.02) cuts only beyond 100 standard deviations).
     */
    public static Initializer randomNormal(double stddev) {
        return new Initializer(Kind.RANDOM_NORMAL, checkedStddev("RandomNormal", stddev));
    }

    /**
     * Keras' TruncatedNormal(mean=0, stddev): a normal draw of this standard deviation, redrawn beyond two of them (so
     * the values spread 0.88 as wide). PyTorch's trunc_normal_(std) cuts at plus or minus 2 absolute instead, which for
     * a small std (timm's 0.02) is {@link #randomNormal}.
     */
    public static Initializer truncatedNormal(double stddev) {
        return new Initializer(Kind.TRUNCATED_NORMAL, checkedStddev("TruncatedNormal", stddev));
    }

    private static double checkedStddev(String name, double stddev) {
        if (!(stddev > 0) || Double.isInfinite(stddev)) {
            throw new IllegalArgumentException("Initializer " + name + ": expected a finite stddev > 0, received "
                    + stddev);
        }
        return stddev;
    }

    /** Keras' snake-case name ("glorot_uniform", "he_normal", "zeros", "constant", ...). */
    public static Initializer of(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "glorot_uniform", "glorotuniform", "xavier_uniform" -> glorotUniform();
            case "glorot_normal", "glorotnormal", "xavier_normal" -> glorotNormal();
            case "he_uniform", "heuniform" -> heUniform();
            case "he_normal", "henormal" -> heNormal();
            case "lecun_uniform", "lecununiform" -> lecunUniform();
            case "lecun_normal", "lecunnormal" -> lecunNormal();
            case "zeros", "zero" -> zeros();
            case "ones", "one" -> ones();
            default -> throw new IllegalArgumentException("expected initializer glorot_uniform, glorot_normal, "
                    + "he_uniform, he_normal, lecun_uniform, lecun_normal, zeros, ones or constant, received '" + name + "'");
        };
    }

    /** From a layer config: a name, or Keras' {"class_name": "Constant", "config": {"value": 0.1}}. */
    public static Initializer fromConfig(Object config) {
        if (config instanceof String s) {
            return of(s);
        }
        if (config instanceof Map<?, ?> m && m.get("class_name") instanceof String className) {
            if (className.equalsIgnoreCase("RandomNormal") || className.equalsIgnoreCase("TruncatedNormal")) {
                Object c = m.get("config");
                Map<?, ?> cm = c instanceof Map<?, ?> given ? given : Map.of();
                Object mean = cm.get("mean");
                Object stddev = cm.containsKey("stddev") ? cm.get("stddev") : 0.05; // Keras' default
                if (mean != null && !(mean instanceof Number n && n.doubleValue() == 0) || !(stddev instanceof Number)) {
                    throw new IllegalArgumentException("expected a " + className + " initializer of mean 0 and a "
                            + "numeric stddev, received " + config);
                }
                double sd = ((Number) stddev).doubleValue();
                return className.equalsIgnoreCase("RandomNormal") ? randomNormal(sd) : truncatedNormal(sd);
            }
            if (className.equalsIgnoreCase("Constant")) {
                Object c = m.get("config");
                Object v = c instanceof Map<?, ?> cm ? cm.get("value") : null;
                if (!(v instanceof Number number)) {
                    throw new IllegalArgumentException("expected a Constant initializer with a numeric value, received "
                            + config);
                }
                return constant(number.doubleValue());
            }
            return of(className.replaceAll("([a-z])([A-Z])", "$1_$2"));
        }
        throw new IllegalArgumentException("expected an initializer name or {\"class_name\": ..., \"config\": ...}, "
                + "received " + config);
    }

    /** Keras' form: {"class_name": "GlorotUniform", "config": {}} ({"value": v} for a constant). */
    public Map<String, Object> toConfig() {
        Map<String, Object> config = new LinkedHashMap<>();
        if (kind == Kind.CONSTANT) {
            config.put("value", value);
        } else if (kind == Kind.RANDOM_NORMAL || kind == Kind.TRUNCATED_NORMAL) {
            config.put("mean", 0.0);
            config.put("stddev", value);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("class_name", className());
        out.put("config", config);
        return out;
    }

    private String className() {
        StringBuilder b = new StringBuilder();
        for (String part : kind.name().split("_")) {
            b.append(part.charAt(0)).append(part.substring(1).toLowerCase(Locale.ROOT));
        }
        return b.toString();
    }

    /** Fills values (a weight of this shape) from the random stream. */
    public void fill(float[] values, int[] shape, SplittableRandom random) {
        switch (kind) {
            case ZEROS -> java.util.Arrays.fill(values, 0f);
            case ONES, CONSTANT -> java.util.Arrays.fill(values, (float) value);
            case GLOROT_UNIFORM -> {
                double[] fans = fans(shape);
                uniform(values, Math.sqrt(6.0 / (fans[0] + fans[1])), random);
            }
            case HE_UNIFORM -> uniform(values, Math.sqrt(6.0 / fans(shape)[0]), random);
            case LECUN_UNIFORM -> uniform(values, Math.sqrt(3.0 / fans(shape)[0]), random);
            case GLOROT_NORMAL -> {
                double[] fans = fans(shape);
                truncatedNormal(values, Math.sqrt(2.0 / (fans[0] + fans[1])), random);
            }
            case HE_NORMAL -> truncatedNormal(values, Math.sqrt(2.0 / fans(shape)[0]), random);
            case LECUN_NORMAL -> truncatedNormal(values, Math.sqrt(1.0 / fans(shape)[0]), random);
            case RANDOM_NORMAL -> {
                for (int k = 0; k < values.length; k++) {
                    values[k] = (float) (gaussian(random) * value);
                }
            }
            case TRUNCATED_NORMAL -> truncatedNormal(values, value * TRUNCATED_STDDEV, random); // no rescaling
        }
    }

    private static void uniform(float[] values, double limit, SplittableRandom random) {
        for (int k = 0; k < values.length; k++) {
            values[k] = (float) ((random.nextDouble() * 2 - 1) * limit);
        }
    }

    private static void truncatedNormal(float[] values, double stddev, SplittableRandom random) {
        double scale = stddev / TRUNCATED_STDDEV;
        for (int k = 0; k < values.length; k++) {
            double z;
            do {
                z = gaussian(random);
            } while (Math.abs(z) > 2);
            values[k] = (float) (z * scale);
        }
    }

    /** A standard normal draw (Box-Muller, one of the pair). */
    private static double gaussian(SplittableRandom random) {
        double u = 1 - random.nextDouble();
        double v = random.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    /** Keras' compute_fans: {fan_in, fan_out}. */
    static double[] fans(int[] shape) {
        if (shape.length == 0) {
            return new double[] {1, 1};
        }
        if (shape.length == 1) {
            return new double[] {shape[0], shape[0]};
        }
        double receptive = 1;
        for (int i = 0; i < shape.length - 2; i++) {
            receptive *= shape[i];
        }
        return new double[] {shape[shape.length - 2] * receptive, shape[shape.length - 1] * receptive};
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Initializer i && i.kind == kind && i.value == value;
    }

    @Override
    public int hashCode() {
        return kind.hashCode() * 31 + Double.hashCode(value);
    }

    @Override
    public String toString() {
        return kind == Kind.CONSTANT ? "constant(" + value + ")" : kind.name().toLowerCase(Locale.ROOT);
    }
}
