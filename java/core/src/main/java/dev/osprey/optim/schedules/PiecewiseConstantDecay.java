package dev.osprey.optim.schedules;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras' PiecewiseConstantDecay: values[0] up to and including step boundaries[0], values[i] for steps in
 * (boundaries[i-1], boundaries[i]], the last value after the last boundary.
 */
public final class PiecewiseConstantDecay implements LearningRateSchedule {
    private final long[] boundaries;
    private final double[] values;

    /** One more value than boundaries; boundaries increasing. */
    public PiecewiseConstantDecay(long[] boundaries, double[] values) {
        if (boundaries == null || values == null || values.length != boundaries.length + 1) {
            throw new IllegalArgumentException("PiecewiseConstantDecay: expected one more value than boundaries, "
                    + "received " + Arrays.toString(boundaries) + " and " + Arrays.toString(values));
        }
        for (int i = 1; i < boundaries.length; i++) {
            if (boundaries[i] <= boundaries[i - 1]) {
                throw new IllegalArgumentException("PiecewiseConstantDecay: expected increasing boundaries, received "
                        + Arrays.toString(boundaries));
            }
        }
        for (double v : values) {
            LearningRateSchedule.rateArgument("PiecewiseConstantDecay", "values", v);
        }
        this.boundaries = boundaries.clone();
        this.values = values.clone();
    }

    @Override
    public double rate(long step) {
        for (int i = 0; i < boundaries.length; i++) {
            if (step <= boundaries[i]) {
                return values[i];
            }
        }
        return values[values.length - 1];
    }

    @Override
    public String className() {
        return "PiecewiseConstantDecay";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("boundaries", Arrays.stream(boundaries).boxed().toList());
        c.put("values", Arrays.stream(values).boxed().toList());
        return c;
    }
}
