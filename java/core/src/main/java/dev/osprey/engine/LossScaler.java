package dev.osprey.engine;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.optim.DynamicLossScale;
import dev.osprey.optim.ForwardingUpdater;
import dev.osprey.optim.Optimizer;
import java.util.function.BooleanSupplier;

/**
 * Dynamic loss scaling around an updater (see {@link dev.osprey.optim.LossScaleOptimizer} for what it does and
 * why). It is in effect while {@code inEffect} says so, which the model ties to an optimizer that asks for it or to
 * fp16 training math, so a policy set after compile needs no new updater; out of effect it scales nothing and costs
 * nothing. The scale only ever moves by factors of two, so scaling and unscaling are exact in fp32: with no overflow,
 * training takes the very steps it would take unscaled.
 */
public final class LossScaler extends ForwardingUpdater {
    private final DynamicLossScale settings;
    private final BooleanSupplier inEffect;
    private final Backend backend;
    private final Tensor gradients;
    private final Tensor sumOfSquares; // one float on the backend
    private final float[] read = new float[1];
    private double scale;
    private int goodSteps;
    private long skippedSteps;
    private int overflowsAtOne; // steps skipped in a row at scale 1

    /** Steps in a row whose gradients overflow even unscaled before training stops as diverged. */
    static final int OVERFLOWS_AT_ONE = 10;

    /**
     * Scaling with these settings around inner, whose gradients are the arena given, while inEffect returns true.
     * The one-float scratch it needs comes from memory.
     */
    public LossScaler(Optimizer.Updater inner, DynamicLossScale settings, BooleanSupplier inEffect, Backend backend,
                      Memory memory, Tensor gradients) {
        super(inner);
        this.settings = java.util.Objects.requireNonNull(settings, "settings");
        this.inEffect = inEffect;
        this.backend = backend;
        this.gradients = gradients;
        this.sumOfSquares = memory.allocate(1);
        this.scale = settings.initialScale();
    }

    @Override
    public float lossScale() {
        return inEffect() ? (float) scale : 1f;
    }

    /** Whether the loss is scaled now (the optimizer asks for it, or the network trains with fp16 math). */
    public boolean inEffect() {
        return inEffect.getAsBoolean();
    }

    @Override
    public boolean unscaleGradients() {
        if (!inEffect()) {
            return true;
        }
        backend.sumOfSquares(gradients, sumOfSquares); // an overflow anywhere makes the sum infinite or NaN
        backend.copyOut(sumOfSquares, read, 0);
        if (!Float.isFinite(read[0])) {
            goodSteps = 0;
            skippedSteps++;
            if (scale > 1) {
                scale /= 2;
                overflowsAtOne = 0;
            } else if (++overflowsAtOne >= OVERFLOWS_AT_ONE) {
                throw new dev.osprey.TrainingDivergedException("training stopped: the gradients were not finite in "
                        + OVERFLOWS_AT_ONE + " steps in a row with the loss unscaled (loss scale 1), so every one was "
                        + "skipped. Lower the learning rate, check the inputs for NaN or infinite values, or train "
                        + "in fp32 or bf16, whose range is fp32's.");
            }
            return false;
        }
        overflowsAtOne = 0;
        if (scale != 1) {
            backend.scale(gradients, (float) (1 / scale), 0f, gradients);
        }
        if (++goodSteps >= settings.dynamicGrowthSteps()) {
            scale = Math.min(scale * 2, 0x1p64);
            goodSteps = 0;
        }
        return true;
    }

    /** Takes lead's scale and count of good steps, so that this replica's gradients carry the same scale as lead's. */
    public void follow(LossScaler lead) {
        restore(lead.scale, lead.goodSteps);
    }

    /** Continues from this scale (a power of two from 1 to 2^64) and count of good steps, another rank's. */
    public void restore(double scale, int goodSteps) {
        if (!DynamicLossScale.isScale(scale) || goodSteps < 0) {
            throw new IllegalArgumentException("loss scale: expected a power of two from 1 to 2^64 and a count >= 0, "
                    + "received " + scale + " and " + goodSteps);
        }
        this.scale = scale;
        this.goodSteps = goodSteps;
    }

    /** Steps in a row without overflow since the scale last changed. */
    public int goodSteps() {
        return goodSteps;
    }

    /** The scale the next step multiplies the loss gradient by while in effect. */
    public double currentScale() {
        return scale;
    }

    /** Continues from a saved count of skipped steps (>= 0). */
    public void restoreSkippedSteps(long skipped) {
        if (skipped < 0) {
            throw new IllegalArgumentException("loss scale: expected skipped steps >= 0, received " + skipped);
        }
        this.skippedSteps = skipped;
    }

    /** Steps skipped so far because their gradients overflowed. */
    public long skippedSteps() {
        return skippedSteps;
    }
}
