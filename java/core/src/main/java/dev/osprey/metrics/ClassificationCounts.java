package dev.osprey.metrics;

/**
 * What the backend's classification-counts op accumulates over an epoch or an evaluation, read back once at its end,
 * and the metrics computed from it. The counts are floats laid out as
 * <ol>
 *   <li>the confusion matrix, classes x classes ([true class][arg-max class]),</li>
 *   <li>one value: samples whose true class is among their {@link Metric#TOP_K} highest scores (fewer than k scores
 *       strictly higher),</li>
 *   <li>per class c, two histograms of {@link #BINS} bins over [0, 1] of the score of c: over samples of class c,
 *       then over the others; a score s lands in bin min(floor(s * BINS), BINS - 1), below 0 in bin 0.</li>
 *   <li>the output's {@link ErrorSums} (one output: its score s against its target).</li>
 * </ol>
 * One output counts as two classes (scores 1 - s and s). Counts stay exact up to 2^24 samples.
 */
public final class ClassificationCounts {
    /** Score bins of the AUC histograms: Keras' AUC uses 200 thresholds. */
    public static final int BINS = 200;

    private final int classes;
    private final long[][] confusion;
    private final long topKHits;
    private final long[][] positives; // [class][bin]
    private final long[][] negatives;
    private final long samples;
    private final int outputs;
    private final ErrorSums errors;

    /** Reads counts laid out as the class comment says, for a model of this many outputs. */
    public ClassificationCounts(float[] counts, int outputs) {
        classes = classes(outputs);
        if (counts.length != size(outputs)) {
            throw new IllegalArgumentException("expected " + size(outputs) + " counts for " + outputs
                    + " outputs, received " + counts.length);
        }
        confusion = new long[classes][classes];
        long n = 0;
        for (int t = 0; t < classes; t++) {
            for (int p = 0; p < classes; p++) {
                confusion[t][p] = (long) counts[t * classes + p];
                n += confusion[t][p];
            }
        }
        samples = n;
        topKHits = (long) counts[classes * classes];
        positives = new long[classes][BINS];
        negatives = new long[classes][BINS];
        int base = classes * classes + 1;
        for (int c = 0; c < classes; c++) {
            for (int b = 0; b < BINS; b++) {
                positives[c][b] = (long) counts[base + (c * 2) * BINS + b];
                negatives[c][b] = (long) counts[base + (c * 2 + 1) * BINS + b];
            }
        }
        this.outputs = outputs;
        errors = ErrorSums.read(counts, base + classes * 2 * BINS);
    }

    /** Classes counted for a model of this many outputs: the outputs, or 2 for one output. */
    public static int classes(int outputs) {
        return outputs == 1 ? 2 : outputs;
    }

    /** Floats the counts take for a model of this many outputs. */
    public static int size(int outputs) {
        long c = classes(outputs);
        long size = c * c + 1 + c * 2 * BINS + ErrorSums.SIZE;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("classification metrics: " + outputs + " classes need " + size
                    + " counts, more than one tensor holds");
        }
        return (int) size;
    }

    /** Samples counted. */
    public long samples() {
        return samples;
    }

    /** The confusion matrix ([true class][predicted class]; a copy). */
    public long[][] confusionMatrix() {
        long[][] copy = new long[classes][];
        for (int c = 0; c < classes; c++) {
            copy[c] = confusion[c].clone();
        }
        return copy;
    }

    /** The metric's value (NaN when there is nothing to measure, e.g. no samples). */
    public double value(Metric metric) {
        ConfusionFigures f = ConfusionFigures.of(confusion);
        return switch (metric) {
            case ACCURACY -> accuracy();
            case TOP_K_CATEGORICAL_ACCURACY -> samples == 0 ? Double.NaN : (double) topKHits / samples;
            case PRECISION -> ClassificationReport.macro(f.precision());
            case RECALL -> ClassificationReport.macro(f.recall());
            case F1_SCORE -> ClassificationReport.macro(f.f1());
            case AUC -> ClassificationReport.macro(auc());
            case MEAN_ABSOLUTE_ERROR, MEAN_SQUARED_ERROR, ROOT_MEAN_SQUARED_ERROR -> errors.value(metric, outputs);
        };
    }

    private double accuracy() {
        long right = 0;
        for (int c = 0; c < classes; c++) {
            right += confusion[c][c];
        }
        return samples == 0 ? Double.NaN : (double) right / samples;
    }

    /**
     * One-vs-rest ROC AUC per class from the histograms: the area under the curve through the thresholds at the bin
     * edges (trapezoids), which equals the exact AUC of the scores rounded down to their bins (NaN for a class without
     * positives or without negatives).
     */
    public double[] auc() {
        double[] auc = new double[classes];
        for (int c = 0; c < classes; c++) {
            long p = 0;
            long n = 0;
            for (int b = 0; b < BINS; b++) {
                p += positives[c][b];
                n += negatives[c][b];
            }
            if (p == 0 || n == 0) {
                auc[c] = Double.NaN;
                continue;
            }
            double area = 0;
            long tp = 0;
            long fp = 0;
            for (int b = BINS - 1; b >= 0; b--) { // thresholds from high to low
                long tpNext = tp + positives[c][b];
                long fpNext = fp + negatives[c][b];
                area += (fpNext - fp) * (tp + tpNext) / 2.0;
                tp = tpNext;
                fp = fpNext;
            }
            auc[c] = area / ((double) p * n);
        }
        return auc;
    }
}
