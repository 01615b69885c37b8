package dev.osprey.optim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The settings of dynamic loss scaling, with Keras' names and defaults: training starts with the loss multiplied by
 * {@code initialScale} (2^15), halves the scale after every step whose gradients overflowed (skipping that step) and
 * doubles it after {@code dynamicGrowthSteps} (2000) steps in a row without overflow. The scale never goes below 1.
 *
 * @param initialScale       the first scale, a finite power of two from 1 to 2^64 (powers of two scale and unscale
 *                           gradients without any rounding)
 * @param dynamicGrowthSteps how many steps in a row without overflow double the scale, at least 1
 */
public record DynamicLossScale(double initialScale, int dynamicGrowthSteps) {
    /** Keras' defaults: 2^15, doubled after 2000 good steps. */
    public static final DynamicLossScale KERAS_DEFAULTS = new DynamicLossScale(32768, 2000);

    /** The largest initial scale: gradients of fp16 products times more than this would overflow fp32 sums anyway. */
    private static final double LARGEST = 0x1p64;

    /** Checks the settings. */
    public DynamicLossScale {
        if (!isScale(initialScale)) {
            throw new IllegalArgumentException("loss scale: expected an initial scale that is a power of two from 1 to "
                    + "2^64, received " + initialScale);
        }
        if (dynamicGrowthSteps < 1) {
            throw new IllegalArgumentException("loss scale: expected dynamic growth steps >= 1, received "
                    + dynamicGrowthSteps);
        }
    }

    /** Whether s can be a loss scale: a power of two from 1 to 2^64 (so that unscaling is exact). */
    public static boolean isScale(double s) {
        return s >= 1 && s <= LARGEST && Math.scalb(1.0, Math.getExponent(s)) == s;
    }

    /** The settings under Keras' names, as saved in a model file's optimizer config. */
    public Map<String, Object> toConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("initial_scale", initialScale);
        c.put("dynamic_growth_steps", dynamicGrowthSteps);
        return c;
    }

    /** Reads {@link #toConfig()}'s map back; absent keys take Keras' defaults. */
    public static DynamicLossScale fromConfig(Map<?, ?> config) {
        Object scale = config.get("initial_scale");
        Object steps = config.get("dynamic_growth_steps");
        if (scale != null && !(scale instanceof Number) || steps != null && !(steps instanceof Number)) {
            throw new IllegalArgumentException("loss scale: expected numbers initial_scale and dynamic_growth_steps, "
                    + "received " + config);
        }
        double growth = steps == null ? KERAS_DEFAULTS.dynamicGrowthSteps : ((Number) steps).doubleValue();
        if (!(growth >= 1 && growth <= Integer.MAX_VALUE) || growth != Math.rint(growth)) {
            throw new IllegalArgumentException("loss scale: expected dynamic_growth_steps to be a whole number from 1 "
                    + "to " + Integer.MAX_VALUE + ", received " + steps);
        }
        return new DynamicLossScale(scale == null ? KERAS_DEFAULTS.initialScale : ((Number) scale).doubleValue(),
                (int) growth);
    }
}
