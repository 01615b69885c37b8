package dev.osprey.engine;

import dev.osprey.loss.Loss;

/**
 * How label rows become the loss op's target rows for one fit or evaluation: the loss's targets (one-hot, smoothed),
 * and, when samples are weighted, one more value per row holding the row's weight: its sample weight (Keras'
 * sample_weight, carried as the last value of each label row) times its class's weight (class_weight). Unweighted
 * rows are exactly the output's width, so unweighted training costs nothing extra.
 */
public final class TargetRows {
    private final Loss loss;
    private final int outputs;
    private final int labelWidth;
    private final boolean sampleWeights;
    private final float[] classWeights;

    /**
     * @param sampleWeights whether each label row ends in its sample's weight
     * @param classWeights  one weight per class (for one output: classes 0 and 1), or null
     */
    public TargetRows(Loss loss, int outputs, boolean sampleWeights, double[] classWeights) {
        this.loss = loss;
        this.outputs = outputs;
        this.labelWidth = loss.labelWidth(outputs);
        this.sampleWeights = sampleWeights;
        if (classWeights != null) {
            int classes = outputs == 1 ? 2 : outputs;
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
        return sampleWeights || classWeights != null;
    }

    /** Values per target row: the output's width, plus one when weighted. */
    public int width() {
        return weighted() ? outputs + 1 : outputs;
    }

    /** Values per label row as sources hand them over: the loss's label width, plus one for a sample weight. */
    public int labelRowSize() {
        return labelWidth + (sampleWeights ? 1 : 0);
    }

    /** Writes count label rows (labelRowSize() values each) as count target rows (width() values each) into out. */
    public void write(float[] labels, int count, float[] out) {
        int stride = labelRowSize();
        int width = width();
        loss.targets(labels, stride, count, outputs, out, width);
        if (!weighted()) {
            return;
        }
        for (int i = 0; i < count; i++) {
            float weight = sampleWeights ? labels[i * stride + labelWidth] : 1f;
            if (classWeights != null) {
                int c = loss.classOf(labels, i * stride, outputs);
                if (c < 0 || c >= classWeights.length) {
                    throw new IllegalArgumentException("class weight: expected labels of the classes 0 to "
                            + (classWeights.length - 1) + ", received class " + c);
                }
                weight *= classWeights[c];
            }
            out[i * width + outputs] = weight;
        }
    }
}
