package dev.osprey.optim.schedules;

import java.util.LinkedHashMap;
import java.util.Map;

/** Keras' ExponentialDecay: initial * decayRate^(step / decaySteps), the exponent floored with staircase. */
public final class ExponentialDecay implements LearningRateSchedule {
    private final double initial;
    private final long decaySteps;
    private final double decayRate;
    private final boolean staircase;

    /** As Keras' default, smoothly: staircase false. */
    public ExponentialDecay(double initial, long decaySteps, double decayRate) {
        this(initial, decaySteps, decayRate, false);
    }

    /** The rate starts at initial and is multiplied by decayRate every decaySteps steps (smoothly, or in stairs). */
    public ExponentialDecay(double initial, long decaySteps, double decayRate, boolean staircase) {
        this.initial = LearningRateSchedule.rateArgument("ExponentialDecay", "initial_learning_rate", initial);
        this.decaySteps = LearningRateSchedule.stepsArgument("ExponentialDecay", "decay_steps", decaySteps);
        this.decayRate = LearningRateSchedule.rateArgument("ExponentialDecay", "decay_rate", decayRate);
        this.staircase = staircase;
    }

    @Override
    public double rate(long step) {
        double p = (double) step / decaySteps;
        return initial * Math.pow(decayRate, staircase ? Math.floor(p) : p);
    }

    @Override
    public String className() {
        return "ExponentialDecay";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("initial_learning_rate", initial);
        c.put("decay_steps", decaySteps);
        c.put("decay_rate", decayRate);
        c.put("staircase", staircase);
        return c;
    }
}
