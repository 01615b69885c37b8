package dev.osprey.callbacks;

/**
 * Sets the learning rate at the start of every epoch from a schedule, as Keras' LearningRateScheduler: the schedule
 * gets the epoch (0-based) and the current rate and returns the rate for the epoch. The rate shows in the progress
 * line and the History as "learning_rate".
 */
public final class LearningRateScheduler implements Callback {
    /** Keras' schedule(epoch, lr). */
    @FunctionalInterface
    public interface Schedule {
        /** The learning rate for this epoch (0-based), given the current one. */
        double rate(int epoch, double current);
    }

    private final Schedule schedule;

    /** Sets the learning rate from this schedule at the start of every epoch. */
    public LearningRateScheduler(Schedule schedule) {
        if (schedule == null) {
            throw new IllegalArgumentException("LearningRateScheduler: expected a schedule, received null");
        }
        this.schedule = schedule;
    }

    /**
     * Cosine decay per epoch from the initial rate to alpha times it over the given epochs (Keras' CosineDecay, with
     * the epoch as the step): rate(e) = initial * ((1 - alpha) * (1 + cos(pi * e / epochs)) / 2 + alpha).
     */
    public static LearningRateScheduler cosine(double initial, int epochs, double alpha) {
        if (epochs <= 0 || !(initial > 0) || !(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("cosine schedule: expected epochs > 0, initial rate > 0 and 0 <= alpha "
                    + "<= 1, received " + epochs + ", " + initial + ", " + alpha);
        }
        return new LearningRateScheduler((epoch, current) -> {
            double progress = Math.min(epoch, epochs) / (double) epochs;
            return initial * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * progress)) + alpha);
        });
    }

    @Override
    public void onTrainBegin(Training training) {
        Training.requireFixedRate(training, "LearningRateScheduler");
    }

    @Override
    public void onEpochBegin(int epoch, Training training) {
        double rate = schedule.rate(epoch, training.learningRate());
        if (!(rate >= 0) || Double.isInfinite(rate)) {
            throw new IllegalArgumentException("LearningRateScheduler: the schedule gave " + rate + " for epoch "
                    + (epoch + 1) + "; expected a rate >= 0");
        }
        training.learningRate(rate);
    }
}
