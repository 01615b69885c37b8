package dev.osprey.callbacks;

import java.util.Locale;

/**
 * Which way a monitored figure improves, as Keras' callbacks decide it: mode "min" (down), "max" (up), or "auto",
 * where a figure improves upwards when it is a score (accuracy of any kind, AUC, precision, recall, F1), with or
 * without the "val_" prefix, and downwards otherwise (losses, errors).
 */
final class Monitor {
    private Monitor() {
    }

    /** Whether monitor improves upwards under mode (auto, min or max; any case). */
    static boolean higherIsBetter(String monitor, String mode, String who) {
        String m = mode == null ? "auto" : mode.trim().toLowerCase(Locale.ROOT);
        switch (m) {
            case "min":
                return false;
            case "max":
                return true;
            case "auto":
                return isScore(monitor);
            default:
                throw new IllegalArgumentException(who + ": expected mode auto, min or max, received '" + mode + "'");
        }
    }

    /**
     * Accuracies, AUC, precision, recall and F1 (Keras' metrics that rise as a model gets better), also under an
     * output's name ("kind_precision") or with Keras' number of a second instance ("auc_1").
     */
    static boolean isScore(String monitor) {
        String name = monitor.toLowerCase(Locale.ROOT);
        if (name.startsWith("val_")) {
            name = name.substring(4);
        }
        if (name.endsWith("loss") || name.endsWith("error")) {
            return false;
        }
        return SCORE.matcher(name).find();
    }

    /**
     * A score's name at the end of a figure's name, after an output's name and before an instance's number: an
     * accuracy of any kind ("acc", "top_k_categorical_accuracy"), AUC, precision, recall, F1 or F-beta. An output named
     * "accel" does not make "accel_mae" a score.
     */
    private static final java.util.regex.Pattern SCORE = java.util.regex.Pattern.compile(
            "(^|_)(acc|accuracy|auc|precision|recall|f1|f1_score|fbeta|fbeta_score)(_\\d+)?$");
}
