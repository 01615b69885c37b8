package dev.osprey.metrics;

import java.util.Locale;

/**
 * Metrics reported beside the loss, by fit (for the training data and, with "val_", the validation data) and by
 * evaluate. All but accuracy come from counts the backend accumulates over a whole epoch or evaluation (a confusion
 * matrix, top-k hits, score histograms, error sums) and reads once at its end (see {@link ClassificationCounts}).
 * A model with one output counts as two classes, 0 and 1, with the output as the score of class 1.
 * <p>
 * In a model of several outputs, the classification metrics are reported for each output whose loss classifies, and
 * the errors ({@link #MEAN_ABSOLUTE_ERROR}, {@link #MEAN_SQUARED_ERROR}, {@link #ROOT_MEAN_SQUARED_ERROR}) for every
 * output, each under "name_" + its Keras name ("box_mae").
 */
public enum Metric {
    /** The share of samples classified right (Keras' "accuracy"): arg-max, or per output for binary cross-entropy. */
    ACCURACY("accuracy"),
    /** The share of samples whose label is among their 5 highest scores (Keras' "top_k_categorical_accuracy", k=5). */
    TOP_K_CATEGORICAL_ACCURACY("top_k_categorical_accuracy"),
    /** Precision of the arg-max prediction, averaged over the classes that were predicted (macro). */
    PRECISION("precision"),
    /** Recall of the arg-max prediction, averaged over the classes that occur (macro). */
    RECALL("recall"),
    /** F1 of the arg-max prediction, averaged over the classes that occur (Keras' F1Score(average="macro")). */
    F1_SCORE("f1_score"),
    /**
     * One-vs-rest ROC AUC of each class's probability, averaged over the classes with both positives and negatives;
     * probabilities binned into 200 thresholds as Keras' AUC does.
     */
    AUC("auc"),
    /**
     * The mean of |prediction - target| over every value of every sample (Keras' "mae"). The prediction is the
     * output as predict returns it (the probability, for a loss that applies a softmax or sigmoid itself), the target
     * the loss's target row (one-hot for class indices, smoothed where the loss smooths labels).
     */
    MEAN_ABSOLUTE_ERROR("mae"),
    /** The mean of (prediction - target)^2, as {@link #MEAN_ABSOLUTE_ERROR} takes them (Keras' "mse"). */
    MEAN_SQUARED_ERROR("mse"),
    /** The square root of {@link #MEAN_SQUARED_ERROR} over the whole epoch (Keras' "root_mean_squared_error"). */
    ROOT_MEAN_SQUARED_ERROR("root_mean_squared_error");

    /** k of {@link #TOP_K_CATEGORICAL_ACCURACY}, Keras' default. */
    public static final int TOP_K = 5;

    private final String kerasName;

    Metric(String kerasName) {
        this.kerasName = kerasName;
    }

    /** Keras' name, e.g. "accuracy": the key in History and in evaluate's map. */
    public String kerasName() {
        return kerasName;
    }

    /** Whether it comes from the accumulated counts rather than the loss op's running accuracy. */
    public boolean fromCounts() {
        return this != ACCURACY;
    }

    /**
     * Whether it measures classification (from the confusion matrix, top-k hits or score histograms), reported only
     * for outputs whose loss classifies, rather than an error between predictions and targets, reported for every
     * output.
     */
    public boolean classifies() {
        return this != MEAN_ABSOLUTE_ERROR && this != MEAN_SQUARED_ERROR && this != ROOT_MEAN_SQUARED_ERROR;
    }

    /** The metric of this Keras name ("acc" and "top_k" also work). */
    public static Metric of(String name) {
        // Keras' class names too: "SparseCategoricalAccuracy" -> "sparse_categorical_accuracy", "F1Score" -> "f1_score"
        String n = name == null ? "" : name.trim().replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
        for (Metric m : values()) {
            if (m.kerasName.equals(n)) {
                return m;
            }
        }
        return switch (n) {
            // Keras' accuracy picks the categorical or sparse form by the labels, as Osprey's does
            case "acc", "categorical_accuracy", "sparse_categorical_accuracy" -> ACCURACY;
            case "top_k", "top5", "top_5_accuracy" -> TOP_K_CATEGORICAL_ACCURACY;
            case "f1" -> F1_SCORE;
            case "mean_absolute_error" -> MEAN_ABSOLUTE_ERROR;
            case "mean_squared_error" -> MEAN_SQUARED_ERROR;
            case "rmse" -> ROOT_MEAN_SQUARED_ERROR;
            default -> throw new IllegalArgumentException("expected metric accuracy, top_k_categorical_accuracy, "
                    + "precision, recall, f1_score, auc, mae, mse or root_mean_squared_error, received '" + name + "'");
        };
    }
}
