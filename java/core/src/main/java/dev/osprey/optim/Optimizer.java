package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Map;

/** An optimizer's configuration; {@link #bind} makes the state (moments) for one parameter arena. */
public interface Optimizer {
    /** Keras' name, e.g. "adam". */
    String name();

    /** The settings under Keras' names (e.g. "learning_rate"), as saved in model files. */
    Map<String, Object> config();

    /**
     * Allocates this optimizer's state for the arena from the given memory (the model's); the returned updater does
     * one step per call. decayMask: 1 or 0 per arena float, which weights {@link #weightDecay()} shrinks; null for all.
     */
    Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask);

    /**
     * Keras' decoupled weight decay: before each step a decayed weight w becomes w - learningRate * rate * w.
     * 0 (the default) for none.
     */
    default double weightDecay() {
        return 0;
    }

    /** Whether weight decay applies to the weight at this path ("dense/kernel"); true unless excluded. */
    default boolean decays(String path) {
        return true;
    }

    /**
     * This optimizer with its learning rate following a schedule, step by step (Keras: learning_rate=schedule). The
     * rate is computed on the host before each step; callbacks that set the rate are refused with such an optimizer.
     */
    default Optimizer learningRate(dev.osprey.optim.schedules.LearningRateSchedule schedule) {
        return new ScheduledOptimizer(this, java.util.Objects.requireNonNull(schedule, "schedule"), null, null, 1);
    }

    /** This optimizer with gradient clipping (Keras allows one kind at a time; this one replaces any other). */
    default Optimizer clipping(GradientClipping clipping) {
        return new ScheduledOptimizer(this, null, clipping, null, 1);
    }

    /**
     * This optimizer keeping a moving average of the weights (Keras' use_ema=True): see {@link Ema}. momentum in
     * [0, 1] (Keras' default 0.99); the weights become their average at the end of fit (trainOnBatch alone never
     * puts it in place: fit does, an overwrite frequency, or {@link dev.osprey.Model#finalizeWeights()}).
     */
    default Optimizer useEma(double momentum) {
        return useEma(momentum, 0);
    }

    /**
     * {@link #useEma(double)}, the weights also replaced by their average every overwriteFrequency steps during
     * training (Keras' ema_overwrite_frequency; 0: only at the end of fit).
     */
    default Optimizer useEma(double momentum, int overwriteFrequency) {
        return new ScheduledOptimizer(this, null, null, new Ema(momentum, overwriteFrequency), 1);
    }

    /**
     * Keras' gradient_accumulation_steps: the weights are updated every {@code steps} batches, from the mean of their
     * gradients (clipped, then applied with weight decay, as one batch's would be), so that a batch of steps x the
     * batch size fits the memory of one. Between updates the gradients are summed into one more state tensor. The
     * step count that seeds dropout counts every batch; the optimizer's own count (Adam's bias correction, schedules)
     * counts updates, as PyTorch's accumulation does (Keras counts batches there), and a moving average of the weights
     * ({@link #useEma}) moves at updates. BatchNormalization's statistics still come from each batch alone. Every
     * batch weighs the same in the mean (a short last batch too); groups run on across epochs and fits, and a sum
     * pending when fit returns is kept (and saved) for the next. 1 (the default): every batch.
     */
    default Optimizer gradientAccumulationSteps(int steps) {
        return new ScheduledOptimizer(this, null, null, null, steps);
    }

    /** Batches per weight update (see {@link #gradientAccumulationSteps(int)}); 1 for every batch. */
    default int gradientAccumulationSteps() {
        return 1;
    }

    /** The moving average of the weights this optimizer keeps, or null for none. */
    default Ema ema() {
        return null;
    }

    /** Keras' clipnorm: each weight's gradient scaled to an L2 norm of at most this (> 0). */
    default Optimizer clipnorm(double maxNorm) {
        return clipping(new GradientClipping(GradientClipping.Kind.NORM, maxNorm));
    }

    /** Keras' global_clipnorm: all gradients scaled together to a joint L2 norm of at most this (> 0). */
    default Optimizer globalClipnorm(double maxNorm) {
        return clipping(new GradientClipping(GradientClipping.Kind.GLOBAL_NORM, maxNorm));
    }

    /** Keras' clipvalue: each gradient value clipped into [-limit, limit] (limit > 0). */
    default Optimizer clipvalue(double limit) {
        return clipping(new GradientClipping(GradientClipping.Kind.VALUE, limit));
    }

    /** The gradient clipping before each step, or null for none. */
    default GradientClipping clipping() {
        return null;
    }

    /** The schedule the learning rate follows, or null for a rate set by hand. */
    default dev.osprey.optim.schedules.LearningRateSchedule schedule() {
        return null;
    }

    /**
     * The dynamic loss scaling this optimizer asks for ({@link LossScaleOptimizer}), or null for none: then the loss
     * is scaled only under mixed precision {@link dev.osprey.MixedPrecision#FLOAT16}, with Keras' defaults.
     */
    default DynamicLossScale lossScale() {
        return null;
    }

    /** One optimizer step over the whole arena: a single backend call. */
    interface Updater {
        /** Applies one update to the parameters from the current gradients. */
        void step();

        /** Steps taken so far. */
        long iterations();

        /** The state tensors by name (Adam: "m" and "v"; SGD: "velocity"), each the size of the arena. */
        java.util.Map<String, Tensor> slots();

        /** Continues from a saved step count (after the slots were filled from a saved model). */
        void restoreIterations(long iterations);

        /** The learning rate the next step uses. */
        double learningRate();

        /** Changes the learning rate from the next step on (schedules and callbacks do this between steps). */
        void learningRate(double rate);

        /** Whether the rate follows a schedule (and so refuses {@link #learningRate(double)}). */
        default boolean followsSchedule() {
            return false;
        }

        /**
         * The factor the training multiplies the loss gradient by before backward (dynamic loss scaling); 1, the
         * default, for none.
         */
        default float lossScale() {
            return 1f;
        }

        /**
         * Called once per step after backward (and after any sum of gradients across replicas), before the weight
         * penalties and {@link #step()}: divides the gradients by {@link #lossScale()} again. Returns false when they
         * were not all finite, and then the training skips this step (the scale has been lowered for the next one).
         * The default scales nothing and always returns true.
         */
        default boolean unscaleGradients() {
            return true;
        }

        /**
         * Called once when fit returns normally (also after an early stop, or with no epoch left after a complete
         * backup), before the callbacks' onTrainEnd: an optimizer that keeps a moving average of the weights puts it
         * in their place (Keras' finalize_variable_values). The default does nothing.
         */
        default void finishTraining() {
        }
    }
}
