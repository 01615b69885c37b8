package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.optim.schedules.LearningRateSchedule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Keras' LossScaleOptimizer: another optimizer with dynamic loss scaling. Before backward the loss gradient is
 * multiplied by the current scale, so that gradients too small for fp16 products survive their rounding; after
 * backward the gradients are divided by it again before the penalties, the clipping and the step. A step whose
 * gradients are not all finite is skipped and the scale halved (never below 1); {@link
 * DynamicLossScale#dynamicGrowthSteps()} good steps in a row double it. Skipped steps leave the weights, the optimizer
 * state and its step count as they were. Ten steps in a row that overflow at scale 1, with the loss unscaled, stop the
 * training with a {@link dev.osprey.TrainingDivergedException}.
 *
 * <p>Mixed precision {@link dev.osprey.MixedPrecision#FLOAT16} applies this with Keras' defaults by itself; wrap an
 * optimizer yourself to choose the settings, or to scale the loss under any policy. Checking the gradients costs one
 * read of a single number from the device per step, and two passes over the gradients.
 *
 * <p>Saved as the inner optimizer's name and settings plus a "loss_scale" entry holding these settings; the scale
 * reached is saved with the optimizer's state ({@link dev.osprey.Model.OptimizerState#lossScale()}), so training
 * resumed from a file goes on from it.
 */
public final class LossScaleOptimizer implements Optimizer {
    private final Optimizer inner;
    private final DynamicLossScale lossScale;

    /** inner with Keras' defaults: an initial scale of 2^15, doubled after 2000 steps without overflow. */
    public LossScaleOptimizer(Optimizer inner) {
        this(inner, DynamicLossScale.KERAS_DEFAULTS);
    }

    /** inner with these settings (see {@link DynamicLossScale}). */
    public LossScaleOptimizer(Optimizer inner, double initialScale, int dynamicGrowthSteps) {
        this(inner, new DynamicLossScale(initialScale, dynamicGrowthSteps));
    }

    /** inner with these settings. */
    public LossScaleOptimizer(Optimizer inner, DynamicLossScale lossScale) {
        this.inner = Objects.requireNonNull(inner, "inner optimizer");
        this.lossScale = Objects.requireNonNull(lossScale, "lossScale");
        if (inner.lossScale() != null) {
            throw new IllegalArgumentException("LossScaleOptimizer: expected an optimizer without loss scaling, "
                    + "received one that already scales the loss (" + inner.lossScale() + ")");
        }
    }

    /** The optimizer that takes the steps. */
    public Optimizer innerOptimizer() {
        return inner;
    }

    @Override
    public DynamicLossScale lossScale() {
        return lossScale;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>(inner.config());
        c.put("loss_scale", lossScale.toConfig());
        return c;
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask) {
        return inner.bind(backend, memory, params, grads, decayMask); // the model adds the scaling around the step
    }

    @Override
    public double weightDecay() {
        return inner.weightDecay();
    }

    @Override
    public boolean decays(String path) {
        return inner.decays(path);
    }

    @Override
    public Optimizer learningRate(LearningRateSchedule schedule) {
        return new LossScaleOptimizer(inner.learningRate(schedule), lossScale);
    }

    @Override
    public Optimizer clipping(GradientClipping clipping) {
        return new LossScaleOptimizer(inner.clipping(clipping), lossScale);
    }

    @Override
    public GradientClipping clipping() {
        return inner.clipping();
    }

    @Override
    public LearningRateSchedule schedule() {
        return inner.schedule();
    }

    @Override
    public Optimizer useEma(double momentum, int overwriteFrequency) {
        return new LossScaleOptimizer(inner.useEma(momentum, overwriteFrequency), lossScale);
    }

    @Override
    public Ema ema() {
        return inner.ema();
    }

    @Override
    public Optimizer gradientAccumulationSteps(int steps) {
        return new LossScaleOptimizer(inner.gradientAccumulationSteps(steps), lossScale);
    }

    @Override
    public int gradientAccumulationSteps() {
        return inner.gradientAccumulationSteps();
    }

    @Override
    public String toString() {
        return "LossScaleOptimizer(" + inner.name() + ", " + lossScale + ")";
    }
}
