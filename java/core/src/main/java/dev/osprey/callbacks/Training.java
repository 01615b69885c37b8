package dev.osprey.callbacks;

import dev.osprey.Model;

/** What a callback sees of a training run in progress, and how it can stop it. */
public interface Training {
    /** The model being trained. */
    Model model();

    /** The number of epochs fit was asked for. */
    int epochs();

    /** Batches per epoch. */
    int stepsPerEpoch();

    /**
     * Asks fit to stop, as Keras' model.stop_training: from onBatchEnd, after that batch (the epoch ends with the
     * batches it trained: its logs, validation and onEpochEnd); from onEpochEnd, after that epoch.
     */
    void stopTraining();

    /**
     * Mean loss over the current epoch so far (reads the device's running sums: call it only when needed); for a model
     * of several outputs, the weighted sum of theirs.
     */
    double loss();

    /**
     * Accuracy over the current epoch so far; for a model of several outputs, the first output's whose loss classifies
     * and that reports accuracy (NaN when none does).
     */
    double accuracy();

    /**
     * The name of {@link #accuracy()} in the logs: "accuracy", or for a model of several outputs that output's
     * ("kind_accuracy"); null where the logs have none (accuracy not compiled).
     */
    default String accuracyName() {
        return "accuracy";
    }

    /** Share of the finished epoch's time the trainer spent waiting for data (0 for in-memory arrays). */
    double dataWaitShare();

    /** Seconds since the current epoch began. */
    double epochSeconds();

    /** The optimizer's learning rate for the next step. */
    double learningRate();

    /** Sets the optimizer's learning rate from the next step on. */
    void learningRate(double rate);

    /**
     * The class name of the schedule the optimizer's rate follows (ExponentialDecay, ...), which no callback may
     * change, or null for a fixed rate: callbacks that would change it check this when training begins.
     */
    default String learningRateSchedule() {
        return null;
    }

    /** Throws, naming the caller and the schedule, where the rate follows one (see {@link #learningRateSchedule}). */
    static void requireFixedRate(Training training, String who) {
        String schedule = training.learningRateSchedule();
        if (schedule != null) {
            throw new IllegalStateException(who + ": the optimizer's learning rate follows the schedule " + schedule
                    + "; expected an optimizer with a fixed rate for this callback to change (use the schedule or "
                    + "the callback, not both)");
        }
    }
}
