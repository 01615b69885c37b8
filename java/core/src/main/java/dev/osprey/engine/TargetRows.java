package dev.osprey.engine;

import dev.osprey.loss.Loss;
import java.util.List;

/**
 * How label rows become the loss op's target rows for one fit or evaluation: the loss's targets (one-hot, smoothed),
 * and, when samples are weighted, one more value per row holding the row's weight: its sample weight (Keras'
 * sample_weight, carried as the last value of each label row) times its class's weight (class_weight). Unweighted
 * rows are exactly the output's width, so unweighted training costs nothing extra.
 *
 * <p>A model of several outputs has one loss per output. Its label rows hold each output's labels side by side, in the
 * model's output order, and then the sample weight (one for every output, or one per output); its target rows hold
 * each output's target rows side by side, each ending in its weight when weighted: the parts
 * {@link ExecutionPlan#targetParts} splits them into.
 */
public final class TargetRows {
    private final List<Loss> losses;
    private final int[] outputs;      // per output: its width
    private final int[] labelWidths;  // per output: its labels' values per row
    private final int labelWidth;     // all outputs' labels
    private final int weightColumns;  // sample weights ending each label row: 0, 1 (every output's) or one per output
    private final float[] classWeights;

    /**
     * @param sampleWeights whether each label row ends in its sample's weight
     * @param classWeights  one weight per class (for one output: classes 0 and 1), or null
     */
    public TargetRows(Loss loss, int outputs, boolean sampleWeights, double[] classWeights) {
        this(List.of(loss), new int[] {outputs}, sampleWeights ? 1 : 0, classWeights);
    }

    /**
     * Target rows of a model of several outputs: losses and widths per output, in the model's output order; each label
     * row ends in weightColumns sample weights: none, one applied to every output, or one per output. Class weights
     * take a model of one output (as in Keras).
     */
    public TargetRows(List<Loss> losses, int[] outputs, int weightColumns, double[] classWeights) {
        if (losses.isEmpty() || losses.size() != outputs.length) {
            throw new IllegalArgumentException("target rows: expected one loss per output (" + outputs.length
                    + "), received " + losses.size());
        }
        if (weightColumns != 0 && weightColumns != 1 && weightColumns != outputs.length) {
            throw new IllegalArgumentException("sample weights: expected one weight array for every output or one per "
                    + "output (" + outputs.length + "), received " + weightColumns);
        }
        this.losses = List.copyOf(losses);
        this.outputs = outputs.clone();
        this.labelWidths = new int[outputs.length];
        int labels = 0;
        for (int i = 0; i < outputs.length; i++) {
            labelWidths[i] = losses.get(i).labelWidth(outputs[i]);
            labels += labelWidths[i];
        }
        this.labelWidth = labels;
        this.weightColumns = weightColumns;
        if (classWeights != null) {
            if (outputs.length != 1) {
                throw new IllegalArgumentException("fit: class weights take a model of one output, received a model of "
                        + outputs.length + " outputs (weight samples with sampleWeight instead)");
            }
            int classes = outputs[0] == 1 ? 2 : outputs[0];
            if (classWeights.length != classes) {
                throw new IllegalArgumentException("fit: expected one class weight for each of the " + classes
                        + " classes, received " + classWeights.length);
            }
            this.classWeights = new float[classes];
            for (int i = 0; i < classes; i++) {
                this.classWeights[i] = (float) classWeights[i];
            }
        } else {
            this.classWeights = null;
        }
    }

    /** Unweighted rows of this loss. */
    public static TargetRows unweighted(Loss loss, int outputs) {
        return new TargetRows(loss, outputs, false, null);
    }

    /** Whether each target row ends in a weight. */
    public boolean weighted() {
        return weightColumns > 0 || classWeights != null;
    }

    /** Values per target row: the outputs' widths, plus one per output when weighted. */
    public int width() {
        int width = 0;
        for (int w : partWidths()) {
            width += w;
        }
        return width;
    }

    /** Per output, the values of its part of a target row: its width, plus one when weighted. */
    public int[] partWidths() {
        int[] parts = outputs.clone();
        if (weighted()) {
            for (int i = 0; i < parts.length; i++) {
                parts[i]++;
            }
        }
        return parts;
    }

    /** Values per label row as sources hand them over: the losses' label widths, plus the sample weights. */
    public int labelRowSize() {
        return labelWidth + weightColumns;
    }

    /** Writes count label rows (labelRowSize() values each) as count target rows (width() values each) into out. */
    public void write(float[] labels, int count, float[] out) {
        int stride = labelRowSize();
        int width = width();
        boolean weighted = weighted();
        int labelOffset = 0;
        int outOffset = 0;
        for (int o = 0; o < outputs.length; o++) {
            try {
                losses.get(o).targets(labels, labelOffset, stride, count, outputs[o], out, outOffset, width);
            } catch (IllegalArgumentException e) {
                if (outputs.length == 1) {
                    throw e;
                }
                throw new IllegalArgumentException("labels of output " + (o + 1) + ": " + e.getMessage(), e);
            }
            if (weighted) {
                writeWeights(labels, count, stride, labelOffset, out, outOffset + outputs[o], width, o);
            }
            labelOffset += labelWidths[o];
            outOffset += outputs[o] + (weighted ? 1 : 0);
        }
    }

    /** Output o's weight column: each row's sample weight (its own, or every output's), times its class's weight. */
    private void writeWeights(float[] labels, int count, int stride, int labelOffset, float[] out, int column,
                              int width, int o) {
        int sampleWeight = labelWidth + (weightColumns > 1 ? o : 0);
        for (int i = 0; i < count; i++) {
            float weight = weightColumns > 0 ? labels[i * stride + sampleWeight] : 1f;
            if (classWeights != null) {
                int c = losses.get(o).classOf(labels, i * stride + labelOffset, outputs[o]);
                if (c < 0 || c >= classWeights.length) {
                    throw new IllegalArgumentException("class weight: expected labels of the classes 0 to "
                            + (classWeights.length - 1) + ", received class " + c);
                }
                weight *= classWeights[c];
            }
            out[i * width + column] = weight;
        }
    }
}
