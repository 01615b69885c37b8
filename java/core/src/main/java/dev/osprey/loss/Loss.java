package dev.osprey.loss;

import dev.osprey.Activation;
import dev.osprey.NDArray;
import dev.osprey.backend.LossKind;

/**
 * The losses, as Keras names them and with its defaults.
 * <ul>
 *   <li>Categorical cross-entropy takes one-hot (or soft) targets of shape (N, classes); sparse categorical takes
 *       integer labels of shape (N) or (N, 1). The model's last layer ends in softmax, or is linear with
 *       {@link #fromLogits(boolean) fromLogits(true)}.</li>
 *   <li>Binary cross-entropy takes targets in [0, 1] of the output's shape (N, outputs): one output for a yes/no
 *       question, several for independent labels. The last layer ends in sigmoid, or is linear with fromLogits(true).</li>
 *   <li>Mean squared and mean absolute error take targets of the output's shape, and any last layer.</li>
 * </ul>
 * A cross-entropy and the activation before it (softmax, sigmoid) run as one numerically stable op while training,
 * so the gradient never goes through a saturated probability. {@link #labelSmoothing(double)} softens the targets
 * as Keras does: y * (1 - s) + s / classes for the categorical ones, y * (1 - s) + s / 2 for the binary one.
 */
public final class Loss {
    private enum Form {
        CATEGORICAL("categorical_crossentropy"),
        SPARSE_CATEGORICAL("sparse_categorical_crossentropy"),
        BINARY("binary_crossentropy"),
        SQUARED("mean_squared_error"),
        ABSOLUTE("mean_absolute_error");

        final String kerasName;

        Form(String kerasName) {
            this.kerasName = kerasName;
        }
    }

    private final Form form;
    private final boolean fromLogits;
    private final double labelSmoothing;

    private Loss(Form form, boolean fromLogits, double labelSmoothing) {
        this.form = form;
        this.fromLogits = fromLogits;
        this.labelSmoothing = labelSmoothing;
    }

    /** Cross-entropy for one-hot (or soft) targets of shape (N, classes). */
    public static Loss categoricalCrossentropy() {
        return new Loss(Form.CATEGORICAL, false, 0);
    }

    /** Cross-entropy for integer class labels of shape (N) or (N, 1). */
    public static Loss sparseCategoricalCrossentropy() {
        return new Loss(Form.SPARSE_CATEGORICAL, false, 0);
    }

    /** Binary cross-entropy, averaged over each sample's outputs, for targets in [0, 1] of shape (N, outputs). */
    public static Loss binaryCrossentropy() {
        return new Loss(Form.BINARY, false, 0);
    }

    /** Mean over each sample's outputs of (output - target)^2. */
    public static Loss meanSquaredError() {
        return new Loss(Form.SQUARED, false, 0);
    }

    /** Mean over each sample's outputs of |output - target|. */
    public static Loss meanAbsoluteError() {
        return new Loss(Form.ABSOLUTE, false, 0);
    }

    /**
     * Keras' names: "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
     * "mean_squared_error" ("mse"), "mean_absolute_error" ("mae").
     */
    public static Loss of(String name) {
        // Keras' class names too: "SparseCategoricalCrossentropy" -> "sparse_categorical_crossentropy"
        String key = name == null ? "" : name.trim().replaceAll("([a-z])([A-Z])", "$1_$2").toLowerCase(java.util.Locale.ROOT);
        return switch (key) {
            case "categorical_crossentropy" -> categoricalCrossentropy();
            case "sparse_categorical_crossentropy" -> sparseCategoricalCrossentropy();
            case "binary_crossentropy" -> binaryCrossentropy();
            case "mean_squared_error", "mse" -> meanSquaredError();
            case "mean_absolute_error", "mae" -> meanAbsoluteError();
            default -> throw new IllegalArgumentException("expected loss categorical_crossentropy, "
                    + "sparse_categorical_crossentropy, binary_crossentropy, mean_squared_error (mse) or "
                    + "mean_absolute_error (mae), received '" + name + "'");
        };
    }

    /** The model's last layer outputs logits (no softmax or sigmoid); for the cross-entropies only. */
    public Loss fromLogits(boolean fromLogits) {
        if (fromLogits && !crossEntropy()) {
            throw new IllegalArgumentException(name() + ": expected fromLogits only on a cross-entropy, received "
                    + "fromLogits(true)");
        }
        return new Loss(form, fromLogits, labelSmoothing);
    }

    /**
     * This loss against softened targets (see the class comment), so the model is not pushed towards infinite
     * logits. s in [0, 1); Keras' label_smoothing; for the cross-entropies only. The accuracy metric still counts
     * the labels' own classes.
     */
    public Loss labelSmoothing(double s) {
        if (!(s >= 0 && s < 1)) {
            throw new IllegalArgumentException(name() + ": expected label smoothing in [0, 1), received " + s);
        }
        if (s > 0 && !crossEntropy()) {
            throw new IllegalArgumentException(name() + ": expected label smoothing only on a cross-entropy, received "
                    + s);
        }
        return new Loss(form, fromLogits, s);
    }

    /** The label smoothing (0: none). */
    public double labelSmoothing() {
        return labelSmoothing;
    }

    /** True when the model's last layer outputs logits rather than probabilities. */
    public boolean fromLogits() {
        return fromLogits;
    }

    /** True for integer class labels, one per sample. */
    public boolean sparse() {
        return form == Form.SPARSE_CATEGORICAL;
    }

    /** True for the categorical cross-entropies, whose outputs are the classes of one softmax. */
    public boolean categorical() {
        return form == Form.CATEGORICAL || form == Form.SPARSE_CATEGORICAL;
    }

    private boolean crossEntropy() {
        return categorical() || form == Form.BINARY;
    }

    /** Keras' name, e.g. "categorical_crossentropy". */
    public String name() {
        return form.kerasName;
    }

    /** The backend's fused loss op this loss runs as. */
    public LossKind kind() {
        return switch (form) {
            case CATEGORICAL, SPARSE_CATEGORICAL -> LossKind.SOFTMAX_CROSS_ENTROPY;
            case BINARY -> LossKind.SIGMOID_BINARY_CROSS_ENTROPY;
            case SQUARED -> LossKind.MEAN_SQUARED_ERROR;
            case ABSOLUTE -> LossKind.MEAN_ABSOLUTE_ERROR;
        };
    }

    /**
     * The last activation this loss applies itself (SOFTMAX, SIGMOID), which training plans then leave out of the
     * model's last layer; null when it takes the output as it is.
     */
    public Activation.Kind fusedActivation() {
        if (fromLogits) {
            return null;
        }
        return switch (form) {
            case CATEGORICAL, SPARSE_CATEGORICAL -> Activation.Kind.SOFTMAX;
            case BINARY -> Activation.Kind.SIGMOID;
            case SQUARED, ABSOLUTE -> null;
        };
    }

    /**
     * The activation this loss's op applies to what it receives (SOFTMAX for the categorical cross-entropies,
     * SIGMOID for the binary one, null for the errors), whether or not the model's last layer also has it: what turns
     * a training plan's output into probabilities.
     */
    public Activation.Kind appliedActivation() {
        return switch (form) {
            case CATEGORICAL, SPARSE_CATEGORICAL -> Activation.Kind.SOFTMAX;
            case BINARY -> Activation.Kind.SIGMOID;
            case SQUARED, ABSOLUTE -> null;
        };
    }

    /**
     * Checks that the model's last layer fits this loss: its activation (last) and its output width. Returns null
     * when it does, or what is wrong.
     */
    public String mismatch(Activation last, int outputs) {
        Activation.Kind fused = fusedActivation();
        if (fused != null && last.kind() != fused) {
            return name() + " expects the last layer to end in " + fused.name().toLowerCase(java.util.Locale.ROOT)
                    + ", received " + last + " (use Loss...fromLogits(true) for a linear last layer)";
        }
        if (fromLogits && last.kind() != Activation.Kind.LINEAR) {
            return "a loss from logits expects a linear last layer, received " + last;
        }
        if (categorical() && outputs < 2) {
            return name() + " expects at least 2 classes, received an output of " + outputs
                    + " (use binary_crossentropy with one sigmoid output for a yes/no question)";
        }
        return null;
    }

    /** Values in each sample's label row: 1 for sparse labels, else the output's width. */
    public int labelWidth(int outputs) {
        return sparse() ? 1 : outputs;
    }

    /** Checks labels against the model's output width before training starts. */
    public void validate(String what, NDArray y, int rows, int outputs) {
        if (y == null) {
            throw new IllegalArgumentException(what + ": expected labels, received null");
        }
        if (y.rows() != rows) {
            throw new IllegalArgumentException(what + ": expected as many labels as samples (" + rows + "), received "
                    + y.rows());
        }
        validate(what, y.rowSize(), outputs);
        float[] d = y.data();
        if (sparse()) {
            for (int i = 0; i < d.length; i++) {
                if (d[i] != Math.rint(d[i]) || d[i] < 0 || d[i] >= outputs) {
                    throw new IllegalArgumentException(what + ": expected integer labels in [0, " + outputs
                            + "), received " + d[i] + " at row " + i);
                }
            }
            return;
        }
        for (int i = 0; i < d.length; i++) {
            boolean ok = form == Form.BINARY ? d[i] >= 0 && d[i] <= 1 : Float.isFinite(d[i]);
            if (!ok) {
                throw new IllegalArgumentException(what + ": " + name() + " expects "
                        + (form == Form.BINARY ? "targets in [0, 1]" : "finite targets") + ", received " + d[i]
                        + " in row " + i / outputs);
            }
        }
    }

    /** Checks that a source's label rows fit this loss. */
    public void validate(String what, int labelRowSize, int outputs) {
        if (sparse() && labelRowSize != 1) {
            throw new IllegalArgumentException(what + ": sparse_categorical_crossentropy expects integer labels of "
                    + "one class number per sample, received rows of " + labelRowSize
                    + " (use categorical_crossentropy for one-hot labels)");
        }
        if (!sparse() && labelRowSize != outputs) {
            String hint = categorical() && labelRowSize == 1
                    ? " (use sparse_categorical_crossentropy for integer labels, or OneHot.encode)" : "";
            throw new IllegalArgumentException(what + ": " + name() + " expects "
                    + (categorical() ? "one-hot label rows of " : "target rows of the output's width, ") + outputs
                    + ", received rows of " + labelRowSize + hint);
        }
    }

    /**
     * The class a label row stands for, for class weights: the class number (sparse), the arg-max (several outputs),
     * or the rounded value (one output: 0 or 1).
     */
    public int classOf(float[] labels, int offset, int outputs) {
        if (sparse() || outputs == 1) {
            return (int) Math.rint(labels[offset]);
        }
        int best = 0;
        for (int c = 1; c < outputs; c++) {
            if (labels[offset + c] > labels[offset + best]) {
                best = c;
            }
        }
        return best;
    }

    /** Writes count label rows (class numbers, or target rows) as (count, outputs) target rows. */
    public void targets(float[] labels, int count, int outputs, float[] out) {
        targets(labels, labelWidth(outputs), count, outputs, out, outputs);
    }

    /**
     * Writes count label rows, labelStride values apart, as target rows outStride values apart (the caller writes
     * anything after the first outputs values of each).
     */
    public void targets(float[] labels, int labelStride, int count, int outputs, float[] out, int outStride) {
        targets(labels, 0, labelStride, count, outputs, out, 0, outStride);
    }

    /**
     * {@link #targets(float[], int, int, int, float[], int)} with each label row starting labelOffset values into its
     * stride and each target row outOffset values into its: how one output's rows sit among a model's several.
     */
    public void targets(float[] labels, int labelOffset, int labelStride, int count, int outputs, float[] out,
                        int outOffset, int outStride) {
        float keep = (float) (1 - labelSmoothing);
        float spread = (float) (labelSmoothing / (categorical() ? outputs : 2));
        for (int i = 0; i < count; i++) {
            int o = i * outStride + outOffset;
            int l = i * labelStride + labelOffset;
            if (sparse()) {
                float label = labels[l];
                int c = (int) label;
                if (c < 0 || c >= outputs || c != label) {
                    throw new IllegalArgumentException("expected integer labels in [0, " + outputs + "), received "
                            + label);
                }
                java.util.Arrays.fill(out, o, o + outputs, 0f);
                out[o + c] = 1f;
            } else {
                System.arraycopy(labels, l, out, o, outputs);
            }
            if (labelSmoothing > 0) {
                for (int c = 0; c < outputs; c++) {
                    out[o + c] = out[o + c] * keep + spread;
                }
            }
        }
    }

    @Override
    public String toString() {
        return name() + (fromLogits ? " from logits" : "") + (labelSmoothing > 0 ? " label smoothing " + labelSmoothing : "");
    }
}
