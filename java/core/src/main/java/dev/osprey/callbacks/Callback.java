package dev.osprey.callbacks;

import java.util.Map;

/** Hooks into fit, as Keras' callbacks. Every method does nothing unless overridden. */
public interface Callback {
    /** Called once, before the first epoch. */
    default void onTrainBegin(Training training) {
    }

    /** @param epoch 0-based */
    default void onEpochBegin(int epoch, Training training) {
    }

    /** @param batch 0-based index within the epoch */
    default void onBatchEnd(int batch, Training training) {
    }

    /** @param logs loss, accuracy, val_loss, val_accuracy as available */
    default void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
    }

    /** Called once, after the last epoch (also after an early stop). */
    default void onTrainEnd(Training training) {
    }

    /**
     * Called once, in place of onTrainEnd, when fit stops because the loss or the gradients became NaN or infinite,
     * before the exception reaches fit's caller (Keras has no such hook: it trains on). EarlyStopping puts back the
     * best epoch's weights here when asked to restore them, so that a diverged run keeps its best model.
     */
    default void onTrainDiverged(Training training, dev.osprey.TrainingDivergedException divergence) {
    }
}
