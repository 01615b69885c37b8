package dev.osprey;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Per-epoch figures from fit, as Keras' History: "loss", "accuracy", "val_loss", "val_accuracy". */
public final class History {
    private final Map<String, List<Double>> values = new LinkedHashMap<>();
    private final List<Integer> epochs = new ArrayList<>();

    /** Appends the figures of the epoch after the last one recorded (0 first). */
    public void record(Map<String, Double> logs) {
        record(epochs.isEmpty() ? 0 : epochs.get(epochs.size() - 1) + 1, logs);
    }

    /**
     * Appends one epoch's figures, that epoch counted from 0 in the whole run (the trainer calls this; a run resumed
     * at epoch 2 records 2, 3, ...).
     */
    public void record(int epoch, Map<String, Double> logs) {
        epochs.add(epoch);
        logs.forEach((k, v) -> values.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
    }

    /**
     * Keras' history.epoch: each recorded epoch's number in the run, counted from 0 (0, 1, 2... for a run from the
     * start; 2, 3... for one resumed after two epochs).
     */
    public List<Integer> epochIndices() {
        return Collections.unmodifiableList(new ArrayList<>(epochs));
    }

    /** Keras' history.history. */
    public Map<String, List<Double>> history() {
        Map<String, List<Double>> copy = new LinkedHashMap<>();
        values.forEach((k, v) -> copy.put(k, Collections.unmodifiableList(new ArrayList<>(v))));
        return copy;
    }

    /** One figure's values, one per epoch; throws for a name fit did not record. */
    public List<Double> get(String metric) {
        List<Double> v = values.get(metric);
        if (v == null) {
            throw new IllegalArgumentException("expected one of " + values.keySet() + ", received '" + metric + "'");
        }
        return Collections.unmodifiableList(v);
    }

    /** The last epoch's value. */
    public double last(String metric) {
        List<Double> v = get(metric);
        return v.get(v.size() - 1);
    }

    /** The number of epochs recorded. */
    public int epochs() {
        return values.isEmpty() ? 0 : values.values().iterator().next().size();
    }

    /** {"loss": [...], "accuracy": [...], ...} */
    public String toJson() {
        return dev.osprey.io.Json.write(history());
    }

    /** Writes {@link #toJson()} to a file, creating its parent folders. */
    public void writeJson(java.nio.file.Path path) throws java.io.IOException {
        java.nio.file.Path absolute = path.toAbsolutePath();
        java.nio.file.Files.createDirectories(absolute.getParent());
        java.nio.file.Files.writeString(absolute, toJson());
    }

    @Override
    public String toString() {
        return "History" + values;
    }
}
