package dev.osprey.callbacks;

import dev.osprey.NDArray;
import java.util.List;
import java.util.Map;

/**
 * Stops training when a monitored figure has not improved for {@code patience} epochs. Losses improve downwards;
 * accuracies, AUC, precision, recall and F1 upwards (Keras' "auto" mode; {@link #mode} sets it). Optionally puts back
 * the best epoch's weights at the end.
 */
public final class EarlyStopping implements Callback {
    private final String monitor;
    private final int patience;
    private final double minDelta;
    private final boolean restoreBestWeights;
    private boolean maximize; // the monitored figure improves upwards (mode, or by its name)
    private double best;
    private int wait;
    private List<NDArray> bestWeights;
    private int stoppedEpoch = -1;
    private double baseline = Double.NaN; // none
    private int startFromEpoch;

    /**
     * Watches {@code monitor} (e.g. "val_loss") and stops once it has gone {@code patience} epochs without improving,
     * as Keras counts them: with patience 3 and no improvement after the first epoch, training ends after the fourth
     * (patience 0: after the first epoch that doesn't improve).
     */
    public EarlyStopping(String monitor, int patience) {
        this(monitor, patience, 0, false);
    }

    /**
     * As {@link #EarlyStopping(String, int)}, but an improvement must exceed {@code minDelta} (sign ignored), and
     * {@code restoreBestWeights} puts back the best epoch's weights when training ends.
     */
    public EarlyStopping(String monitor, int patience, double minDelta, boolean restoreBestWeights) {
        if (patience < 0) {
            throw new IllegalArgumentException("EarlyStopping: expected patience >= 0, received " + patience);
        }
        this.monitor = monitor;
        this.maximize = Monitor.isScore(monitor);
        this.patience = patience;
        this.minDelta = Math.abs(minDelta);
        this.restoreBestWeights = restoreBestWeights;
    }

    /** Keras' mode: "auto" (the default: by the figure's name), "min" or "max". */
    public EarlyStopping mode(String mode) {
        this.maximize = Monitor.higherIsBetter(monitor, mode, "EarlyStopping");
        return this;
    }

    /**
     * Keras' baseline: training stops after patience epochs unless the figure improves on this value too (an
     * improvement that stays on the wrong side of it doesn't start the count again).
     */
    public EarlyStopping baseline(double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException("EarlyStopping: expected a finite baseline, received " + value);
        }
        this.baseline = value;
        return this;
    }

    /** Keras' start_from_epoch: epochs before this one (counted from 0) are a warm-up, neither counted nor kept. */
    public EarlyStopping startFromEpoch(int epoch) {
        if (epoch < 0) {
            throw new IllegalArgumentException("EarlyStopping: expected a start epoch >= 0, received " + epoch);
        }
        this.startFromEpoch = epoch;
        return this;
    }

    @Override
    public void onTrainBegin(Training training) {
        best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        wait = 0;
        bestWeights = null;
        stoppedEpoch = -1;
    }

    @Override
    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
        Double value = logs.get(monitor);
        if (value == null) {
            throw new IllegalArgumentException("EarlyStopping: expected to monitor one of " + logs.keySet()
                    + ", received '" + monitor + "'");
        }
        if (epoch < startFromEpoch) {
            return;
        }
        boolean improved = maximize ? value > best + minDelta : value < best - minDelta;
        if (improved) {
            best = value;
            if (Double.isNaN(baseline) || (maximize ? value > baseline + minDelta : value < baseline - minDelta)) {
                wait = 0;
            } else {
                wait++; // better than before, not yet than the baseline: the count goes on
            }
            if (restoreBestWeights) {
                bestWeights = training.model().getWeights();
            }
        } else if (++wait >= patience && epoch > 0) { // Keras: a NaN first epoch is not yet a reason to stop
            stoppedEpoch = epoch;
            training.stopTraining();
        }
    }

    @Override
    public void onTrainEnd(Training training) {
        if (restoreBestWeights && bestWeights != null) {
            training.model().setWeights(bestWeights);
        }
    }

    /** A diverged run keeps its best epoch's weights too, where restoreBestWeights asks for them. */
    @Override
    public void onTrainDiverged(Training training, dev.osprey.TrainingDivergedException divergence) {
        onTrainEnd(training);
    }

    /** The 0-based epoch training stopped after, or -1 if it ran to the end. */
    public int stoppedEpoch() {
        return stoppedEpoch;
    }
}
