package dev.osprey.metrics;

/** Metrics reported beside the loss. Accuracy: the share of samples whose arg-max matches the label's. */
public enum Metric {
    /** The share of samples classified right (Keras' "accuracy"). */
    ACCURACY;

    /** Keras' name, "accuracy". */
    public String kerasName() {
        return "accuracy";
    }

    /** The metric of this Keras name: "accuracy" (or "acc"). */
    public static Metric of(String name) {
        if ("accuracy".equals(name) || "acc".equals(name)) {
            return ACCURACY;
        }
        throw new IllegalArgumentException("expected metric 'accuracy', received '" + name + "'");
    }
}
