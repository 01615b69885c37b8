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
        return new ScheduledOptimizer(this, schedule);
    }

    /** The schedule the learning rate follows, or null for a rate set by hand. */
    default dev.osprey.optim.schedules.LearningRateSchedule schedule() {
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
    }
}
