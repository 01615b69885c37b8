package dev.osprey.optim.schedules;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras' PolynomialDecay: from initial to end over decaySteps as (initial - end) * (1 - step / decaySteps)^power +
 * end, then end; with cycle, decaySteps grows to the next multiple above the step and the decay starts again.
 */
public final class PolynomialDecay implements LearningRateSchedule {
    private final double initial;
    private final long decaySteps;
    private final double end;
    private final double power;
    private final boolean cycle;

    /** Keras' defaults are end 1e-4, power 1 (linear), no cycle. */
    public PolynomialDecay(double initial, long decaySteps, double end, double power, boolean cycle) {
        this.initial = LearningRateSchedule.rateArgument("PolynomialDecay", "initial_learning_rate", initial);
        this.decaySteps = LearningRateSchedule.stepsArgument("PolynomialDecay", "decay_steps", decaySteps);
        this.end = LearningRateSchedule.rateArgument("PolynomialDecay", "end_learning_rate", end);
        if (!(power > 0) || Double.isInfinite(power)) {
            throw new IllegalArgumentException("PolynomialDecay: expected power > 0, received " + power);
        }
        this.power = power;
        this.cycle = cycle;
    }

    /** A linear decay from initial to end over decaySteps. */
    public PolynomialDecay(double initial, long decaySteps, double end) {
        this(initial, decaySteps, end, 1.0, false);
    }

    @Override
    public double rate(long step) {
        double steps = decaySteps;
        double s = step;
        if (cycle) {
            steps *= step == 0 ? 1 : Math.ceil((double) step / decaySteps);
        } else {
            s = Math.min(s, steps);
        }
        return (initial - end) * Math.pow(1 - s / steps, power) + end;
    }

    @Override
    public String className() {
        return "PolynomialDecay";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("initial_learning_rate", initial);
        c.put("decay_steps", decaySteps);
        c.put("end_learning_rate", end);
        c.put("power", power);
        c.put("cycle", cycle);
        return c;
    }
}
