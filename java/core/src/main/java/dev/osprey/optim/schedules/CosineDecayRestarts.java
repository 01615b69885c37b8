package dev.osprey.optim.schedules;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras' CosineDecayRestarts (SGDR, Loshchilov and Hutter 2016): a cosine decay from initial to initial * alpha
 * over firstDecaySteps, then a warm restart; each period lasts tMul times longer than the one before and starts at
 * mMul times its rate.
 */
public final class CosineDecayRestarts implements LearningRateSchedule {
    private final double initial;
    private final long firstDecaySteps;
    private final double tMul;
    private final double mMul;
    private final double alpha;

    /** Keras' defaults are tMul 2, mMul 1, alpha 0. */
    public CosineDecayRestarts(double initial, long firstDecaySteps, double tMul, double mMul, double alpha) {
        this.initial = LearningRateSchedule.rateArgument("CosineDecayRestarts", "initial_learning_rate", initial);
        this.firstDecaySteps = LearningRateSchedule.stepsArgument("CosineDecayRestarts", "first_decay_steps",
                firstDecaySteps);
        if (!(tMul > 0) || !(mMul >= 0) || !(alpha >= 0 && alpha <= 1) || Double.isInfinite(tMul)
                || Double.isInfinite(mMul)) {
            throw new IllegalArgumentException("CosineDecayRestarts: expected t_mul > 0, m_mul >= 0 and 0 <= alpha "
                    + "<= 1, received " + tMul + ", " + mMul + ", " + alpha);
        }
        this.tMul = tMul;
        this.mMul = mMul;
        this.alpha = alpha;
    }

    /** With Keras' defaults: periods doubling, each restart at the initial rate, decay to 0. */
    public CosineDecayRestarts(double initial, long firstDecaySteps) {
        this(initial, firstDecaySteps, 2.0, 1.0, 0.0);
    }

    @Override
    public double rate(long step) {
        double fraction = (double) step / firstDecaySteps;
        double restart;
        if (tMul == 1.0) {
            restart = Math.floor(fraction);
            fraction -= restart;
        } else {
            restart = Math.floor(Math.log(1 - fraction * (1 - tMul)) / Math.log(tMul));
            double before = (1 - Math.pow(tMul, restart)) / (1 - tMul);
            fraction = (fraction - before) / Math.pow(tMul, restart);
        }
        double cosine = 0.5 * Math.pow(mMul, restart) * (1 + Math.cos(Math.PI * fraction));
        return initial * ((1 - alpha) * cosine + alpha);
    }

    @Override
    public String className() {
        return "CosineDecayRestarts";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("initial_learning_rate", initial);
        c.put("first_decay_steps", firstDecaySteps);
        c.put("t_mul", tMul);
        c.put("m_mul", mMul);
        c.put("alpha", alpha);
        return c;
    }
}
