package dev.osprey.loss;

import dev.osprey.NDArray;

/**
 * Cross-entropy losses, as Keras names them. Categorical takes one-hot (or soft) targets of shape (N, classes);
 * sparse categorical takes integer labels of shape (N) or (N, 1). With fromLogits(false) (the default) the model's
 * last layer must end in softmax; the two are fused into one numerically stable op while training.
 * {@link #labelSmoothing(double)} softens the targets as Keras does: y * (1 - s) + s / classes (Keras offers it on
 * categorical cross-entropy; here both take it).
 */
public final class Loss {
    private final boolean sparse;
    private final boolean fromLogits;
    private final double labelSmoothing;

    private Loss(boolean sparse, boolean fromLogits, double labelSmoothing) {
        this.sparse = sparse;
        this.fromLogits = fromLogits;
        this.labelSmoothing = labelSmoothing;
    }

    /** Cross-entropy for one-hot (or soft) targets of shape (N, classes). */
    public static Loss categoricalCrossentropy() {
        return new Loss(false, false, 0);
    }

    /** Cross-entropy for integer class labels of shape (N) or (N, 1). */
    public static Loss sparseCategoricalCrossentropy() {
        return new Loss(true, false, 0);
    }

    /** Keras' names: "categorical_crossentropy", "sparse_categorical_crossentropy". */
    public static Loss of(String name) {
        return switch (name) {
            case "categorical_crossentropy" -> categoricalCrossentropy();
            case "sparse_categorical_crossentropy" -> sparseCategoricalCrossentropy();
            default -> throw new IllegalArgumentException("expected loss categorical_crossentropy or "
                    + "sparse_categorical_crossentropy, received '" + name + "'");
        };
    }

    /** The model's last layer outputs logits (no softmax). */
    public Loss fromLogits(boolean fromLogits) {
        return new Loss(sparse, fromLogits, labelSmoothing);
    }

    /**
     * This loss against softened targets: each target row y becomes y * (1 - s) + s / classes, so the model is not
     * pushed towards infinite logits. s in [0, 1); Keras' label_smoothing. The accuracy metric still counts the
     * labels' own classes.
     */
    public Loss labelSmoothing(double s) {
        if (!(s >= 0 && s < 1)) {
            throw new IllegalArgumentException(name() + ": expected label smoothing in [0, 1), received " + s);
        }
        return new Loss(sparse, fromLogits, s);
    }

    /** The label smoothing (0: none). */
    public double labelSmoothing() {
        return labelSmoothing;
    }

    /** True when the model's last layer outputs logits rather than softmax probabilities. */
    public boolean fromLogits() {
        return fromLogits;
    }

    /** True for integer class labels, false for one-hot rows. */
    public boolean sparse() {
        return sparse;
    }

    /** Keras' name: "categorical_crossentropy" or "sparse_categorical_crossentropy". */
    public String name() {
        return sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy";
    }

    /** Checks labels against the model's class count before training starts. */
    public void validate(String what, NDArray y, int rows, int classes) {
        if (y.rows() != rows) {
            throw new IllegalArgumentException(what + ": expected as many labels as samples (" + rows + "), received "
                    + y.rows());
        }
        if (sparse) {
            if (y.rowSize() != 1) {
                throw new IllegalArgumentException(what + ": sparse_categorical_crossentropy expects integer labels of "
                        + "shape (" + rows + ") or (" + rows + ", 1), received " + y.shapeString()
                        + " (use categorical_crossentropy for one-hot labels)");
            }
            float[] d = y.data();
            for (int i = 0; i < d.length; i++) {
                if (d[i] != Math.rint(d[i]) || d[i] < 0 || d[i] >= classes) {
                    throw new IllegalArgumentException(what + ": expected integer labels in [0, " + classes
                            + "), received " + d[i] + " at row " + i);
                }
            }
        } else if (y.rowSize() != classes) {
            throw new IllegalArgumentException(what + ": categorical_crossentropy expects one-hot labels of shape ("
                    + rows + ", " + classes + "), received " + y.shapeString()
                    + (y.rowSize() == 1 ? " (use sparse_categorical_crossentropy for integer labels, or OneHot.encode)" : ""));
        }
    }

    /** Writes count label rows (class numbers, or one-hot/soft rows) as (count, classes) target rows. */
    public void targets(float[] labels, int count, int classes, float[] out) {
        if (sparse) {
            java.util.Arrays.fill(out, 0, count * classes, 0f);
            for (int i = 0; i < count; i++) {
                int c = (int) labels[i];
                if (c < 0 || c >= classes || c != labels[i]) {
                    throw new IllegalArgumentException("expected integer labels in [0, " + classes + "), received "
                            + labels[i]);
                }
                out[i * classes + c] = 1f;
            }
        } else {
            System.arraycopy(labels, 0, out, 0, count * classes);
        }
        if (labelSmoothing > 0) {
            float keep = (float) (1 - labelSmoothing);
            float spread = (float) (labelSmoothing / classes);
            for (int i = 0; i < count * classes; i++) {
                out[i] = out[i] * keep + spread;
            }
        }
    }

    /** Checks that a source's label rows fit this loss. */
    public void validate(String what, int labelRowSize, int classes) {
        if (sparse && labelRowSize != 1) {
            throw new IllegalArgumentException(what + ": sparse_categorical_crossentropy expects one class number per "
                    + "sample, received rows of " + labelRowSize);
        }
        if (!sparse && labelRowSize != classes) {
            throw new IllegalArgumentException(what + ": categorical_crossentropy expects one-hot rows of " + classes
                    + ", received rows of " + labelRowSize);
        }
    }
}
