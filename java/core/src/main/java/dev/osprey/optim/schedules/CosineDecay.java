package dev.osprey.optim.schedules;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras' CosineDecay with its optional linear warm-up: without warm-up the rate falls from initial to initial *
 * alpha along half a cosine over decaySteps; with {@link #withWarmup} it first rises linearly from initial to the
 * target over warmupSteps, then falls from the target to target * alpha over decaySteps.
 */
public final class CosineDecay implements LearningRateSchedule {
    private final double initial;
    private final long decaySteps;
    private final double alpha;
    private final Double warmupTarget;
    private final long warmupSteps;

    /** A cosine decay from initial to initial * alpha (alpha in [0, 1]) over decaySteps. */
    public CosineDecay(double initial, long decaySteps, double alpha) {
        this(initial, decaySteps, alpha, null, 0);
    }

    /** A cosine decay to 0. */
    public CosineDecay(double initial, long decaySteps) {
        this(initial, decaySteps, 0.0);
    }

    private CosineDecay(double initial, long decaySteps, double alpha, Double warmupTarget, long warmupSteps) {
        this.initial = LearningRateSchedule.rateArgument("CosineDecay", "initial_learning_rate", initial);
        this.decaySteps = LearningRateSchedule.stepsArgument("CosineDecay", "decay_steps", decaySteps);
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("CosineDecay: expected 0 <= alpha <= 1, received " + alpha);
        }
        this.alpha = alpha;
        if (warmupTarget != null) {
            LearningRateSchedule.rateArgument("CosineDecay", "warmup_target", warmupTarget);
            LearningRateSchedule.stepsArgument("CosineDecay", "warmup_steps", warmupSteps);
        }
        this.warmupTarget = warmupTarget;
        this.warmupSteps = warmupSteps;
    }

    /** This decay after a linear warm-up from the initial rate to target over warmupSteps (> 0). */
    public CosineDecay withWarmup(double target, long warmupSteps) {
        return new CosineDecay(initial, decaySteps, alpha, target, warmupSteps);
    }

    @Override
    public double rate(long step) {
        if (warmupTarget == null) {
            return decayed(Math.min(step, decaySteps), initial);
        }
        double s = Math.min(step, decaySteps + warmupSteps);
        if (s < warmupSteps) {
            return (warmupTarget - initial) * (s / warmupSteps) + initial;
        }
        return decayed(s - warmupSteps, warmupTarget);
    }

    private double decayed(double step, double from) {
        double cosine = 0.5 * (1 + Math.cos(Math.PI * step / decaySteps));
        return from * ((1 - alpha) * cosine + alpha);
    }

    @Override
    public String className() {
        return "CosineDecay";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("initial_learning_rate", initial);
        c.put("decay_steps", decaySteps);
        c.put("alpha", alpha);
        c.put("warmup_target", warmupTarget);
        c.put("warmup_steps", warmupSteps);
        return c;
    }
}
