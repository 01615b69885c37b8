package dev.osprey.callbacks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/** Saves the model after each epoch, or only when the monitored figure improved (saveBestOnly). */
public final class ModelCheckpoint implements Callback {
    private final Path path;
    private final String monitor;
    private final boolean saveBestOnly;
    private double best;

    /**
     * Saves to {@code path} after every epoch or, with {@code saveBestOnly}, only when {@code monitor} improved
     * (upwards for figures whose name contains "acc", downwards otherwise).
     */
    public ModelCheckpoint(Path path, String monitor, boolean saveBestOnly) {
        this.path = path;
        this.monitor = monitor;
        this.saveBestOnly = saveBestOnly;
    }

    @Override
    public void onTrainBegin(Training training) {
        best = monitor.contains("acc") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
    }

    @Override
    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
        if (saveBestOnly) {
            Double value = logs.get(monitor);
            if (value == null) {
                throw new IllegalArgumentException("ModelCheckpoint: expected to monitor one of " + logs.keySet()
                        + ", received '" + monitor + "'");
            }
            boolean improved = monitor.contains("acc") ? value > best : value < best;
            if (!improved) {
                return;
            }
            best = value;
        }
        try {
            training.model().save(path);
        } catch (IOException e) {
            throw new UncheckedIOException("ModelCheckpoint: could not save " + path, e);
        }
    }
}
