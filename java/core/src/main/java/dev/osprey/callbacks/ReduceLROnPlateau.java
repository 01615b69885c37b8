package dev.osprey.callbacks;

import java.util.Map;

/**
 * Keras' ReduceLROnPlateau: when a monitored figure (default "val_loss") has not improved by more than minDelta for
 * patience epochs, the learning rate is multiplied by factor (not below minLr), then cooldown epochs pass before
 * waiting starts again. Defaults are Keras': factor 0.1, patience 10, minDelta 1e-4, cooldown 0, minLr 0. The mode
 * follows the name, as Keras' "auto": accuracies, AUC, precision, recall and F1 should rise, losses fall; {@link #mode}
 * sets it.
 */
public final class ReduceLROnPlateau implements Callback {
    private final String monitor;
    private double factor = 0.1;
    private int patience = 10;
    private double minDelta = 1e-4;
    private int cooldown;
    private double minLr;
    private boolean maximize;
    private double best;
    private int wait;
    private int cooldownLeft;

    /** Watches val_loss. */
    public ReduceLROnPlateau() {
        this("val_loss");
    }

    /** Watches this figure of the epoch's logs ("val_loss", "val_accuracy", "loss", ...). */
    public ReduceLROnPlateau(String monitor) {
        if (monitor == null || monitor.isBlank()) {
            throw new IllegalArgumentException("ReduceLROnPlateau: expected a figure to monitor, received '" + monitor
                    + "'");
        }
        this.monitor = monitor;
        this.maximize = Monitor.isScore(monitor);
        this.best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
    }

    /** Keras' mode: "auto" (the default: by the figure's name), "min" or "max". */
    public ReduceLROnPlateau mode(String mode) {
        this.maximize = Monitor.higherIsBetter(monitor, mode, "ReduceLROnPlateau");
        this.best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        return this;
    }

    /** The rate is multiplied by this (0 < factor < 1) on a plateau. */
    public ReduceLROnPlateau factor(double factor) {
        if (!(factor > 0 && factor < 1)) {
            throw new IllegalArgumentException("ReduceLROnPlateau: expected 0 < factor < 1, received " + factor);
        }
        this.factor = factor;
        return this;
    }

    /** Epochs without improvement before the rate is reduced (>= 0). */
    public ReduceLROnPlateau patience(int epochs) {
        this.patience = nonNegative("patience", epochs);
        return this;
    }

    /** The least change that counts as an improvement (>= 0). */
    public ReduceLROnPlateau minDelta(double delta) {
        if (!(delta >= 0)) {
            throw new IllegalArgumentException("ReduceLROnPlateau: expected min_delta >= 0, received " + delta);
        }
        this.minDelta = delta;
        return this;
    }

    /** Epochs after a reduction before waiting starts again (>= 0). */
    public ReduceLROnPlateau cooldown(int epochs) {
        this.cooldown = nonNegative("cooldown", epochs);
        return this;
    }

    /** The rate is never reduced below this (>= 0). */
    public ReduceLROnPlateau minLr(double rate) {
        if (!(rate >= 0)) {
            throw new IllegalArgumentException("ReduceLROnPlateau: expected min_lr >= 0, received " + rate);
        }
        this.minLr = rate;
        return this;
    }

    private static int nonNegative(String what, int v) {
        if (v < 0) {
            throw new IllegalArgumentException("ReduceLROnPlateau: expected " + what + " >= 0, received " + v);
        }
        return v;
    }

    @Override
    public void onTrainBegin(Training training) {
        Training.requireFixedRate(training, "ReduceLROnPlateau");
        best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        wait = 0;
        cooldownLeft = 0;
    }

    @Override
    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
        Double current = logs.get(monitor);
        if (current == null) {
            throw new IllegalArgumentException("ReduceLROnPlateau: expected the figure '" + monitor + "' in the "
                    + "epoch's logs, received " + logs.keySet() + " (validation figures need validation data)");
        }
        if (cooldownLeft > 0) {
            cooldownLeft--;
            wait = 0;
        }
        boolean improved = maximize ? current > best + minDelta : current < best - minDelta;
        if (improved) {
            best = current;
            wait = 0;
        } else if (cooldownLeft == 0 && ++wait >= patience) {
            double rate = training.learningRate();
            if (rate > minLr) {
                training.learningRate(Math.max(rate * factor, minLr));
                cooldownLeft = cooldown;
                wait = 0;
            }
        }
    }
}
