package dev.osprey.metrics;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Where a classifier fails, class by class: the confusion matrix, precision, recall, F1 and one-vs-rest AUC per class
 * and their macro averages, and top-k accuracy; from predicted probabilities (or scores) and integer labels.
 *
 * <p>Empty cases follow one rule: a figure whose denominator is zero is NaN (a class with no images has no recall,
 * F1 or AUC; a class never predicted has no precision) and macro averages skip NaN; they are NaN only when every
 * class is. Rows of the confusion matrix are the true classes, columns the predicted ones.
 */
public final class ClassificationReport {
    private final List<String> names;
    private final long[][] confusion;
    private final double[] precision;
    private final double[] recall;
    private final double[] f1;
    private final double[] auc;
    private final long[] support;
    private final float[] scores;
    private final int[] labels;
    private final int classes;

    private ClassificationReport(float[] scores, int classes, int[] labels, List<String> names) {
        this.scores = scores;
        this.labels = labels;
        this.classes = classes;
        this.names = names;
        int n = labels.length;
        confusion = new long[classes][classes];
        for (int i = 0; i < n; i++) {
            confusion[labels[i]][argMax(scores, i * classes, classes)]++;
        }
        ConfusionFigures figures = ConfusionFigures.of(confusion);
        precision = figures.precision();
        recall = figures.recall();
        f1 = figures.f1();
        support = figures.support();
        auc = new double[classes];
        for (int c = 0; c < classes; c++) {
            auc[c] = oneVsRestAuc(c);
        }
    }

    /**
     * A report over n samples: scores holds n rows of classes values (probabilities or logits), labels n class
     * indices in [0, classes); names one per class (null: "0", "1", ...).
     */
    public static ClassificationReport of(float[] scores, int classes, int[] labels, List<String> names) {
        if (classes < 1 || scores == null || labels == null || (long) labels.length * classes != scores.length) {
            throw new IllegalArgumentException("ClassificationReport: expected " + (labels == null ? "?" : labels.length)
                    + " rows of " + classes + " scores, received " + (scores == null ? "none" : scores.length
                    + " scores"));
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                throw new IllegalArgumentException("ClassificationReport: expected labels in [0, " + classes
                        + "), received " + labels[i] + " at " + i);
            }
        }
        List<String> n = names;
        if (n == null) {
            n = new ArrayList<>();
            for (int c = 0; c < classes; c++) {
                n.add(Integer.toString(c));
            }
        } else if (n.size() != classes) {
            throw new IllegalArgumentException("ClassificationReport: expected " + classes + " class names, received "
                    + n.size());
        }
        return new ClassificationReport(scores.clone(), classes, labels.clone(), List.copyOf(n));
    }

    private static int argMax(float[] v, int offset, int length) {
        int best = 0;
        for (int k = 1; k < length; k++) {
            if (v[offset + k] > v[offset + best]) {
                best = k;
            }
        }
        return best;
    }

    /** The probability that a random image of class c scores higher for c than a random other one (ties: half). */
    private double oneVsRestAuc(int c) {
        int n = labels.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(scores[a * classes + c], scores[b * classes + c]));
        double rankSum = 0;
        long positives = 0;
        for (int i = 0; i < n; ) { // average ranks (1-based) over runs of equal scores
            int j = i;
            float s = scores[order[i] * classes + c];
            while (j < n && scores[order[j] * classes + c] == s) {
                j++;
            }
            double rank = (i + 1 + j) / 2.0;
            for (int k = i; k < j; k++) {
                if (labels[order[k]] == c) {
                    rankSum += rank;
                    positives++;
                }
            }
            i = j;
        }
        long negatives = n - positives;
        if (positives == 0 || negatives == 0) {
            return Double.NaN;
        }
        return (rankSum - positives * (positives + 1) / 2.0) / ((double) positives * negatives);
    }

    /** The share of samples whose label is among their k highest scores. */
    public double topKAccuracy(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("topKAccuracy: expected k >= 1, received " + k);
        }
        if (labels.length == 0) {
            return Double.NaN;
        }
        long hits = 0;
        for (int i = 0; i < labels.length; i++) {
            float own = scores[i * classes + labels[i]];
            int higher = 0;
            for (int c = 0; c < classes; c++) {
                if (scores[i * classes + c] > own) {
                    higher++;
                }
            }
            hits += higher < k ? 1 : 0;
        }
        return (double) hits / labels.length;
    }

    /** The confusion matrix: [true class][predicted class] counts (a copy). */
    public long[][] confusionMatrix() {
        long[][] copy = new long[classes][];
        for (int c = 0; c < classes; c++) {
            copy[c] = confusion[c].clone();
        }
        return copy;
    }

    /** Precision per class: of the images predicted c, the share that are c. */
    public double[] precision() {
        return precision.clone();
    }

    /** Recall per class: of the images of class c, the share predicted c. */
    public double[] recall() {
        return recall.clone();
    }

    /** F1 per class: the harmonic mean of precision and recall (0 when the class is never predicted right). */
    public double[] f1() {
        return f1.clone();
    }

    /** One-vs-rest ROC AUC per class. */
    public double[] auc() {
        return auc.clone();
    }

    /** Images per true class. */
    public long[] support() {
        return support.clone();
    }

    /** The class names. */
    public List<String> classNames() {
        return names;
    }

    /** The share of samples predicted right. */
    public double accuracy() {
        long right = 0;
        for (int c = 0; c < classes; c++) {
            right += confusion[c][c];
        }
        return labels.length == 0 ? Double.NaN : (double) right / labels.length;
    }

    /** The mean over classes of a per-class figure, skipping NaN (NaN when every class is NaN). */
    public static double macro(double[] perClass) {
        double sum = 0;
        int count = 0;
        for (double v : perClass) {
            if (!Double.isNaN(v)) {
                sum += v;
                count++;
            }
        }
        return count == 0 ? Double.NaN : sum / count;
    }

    /** A per-class table with the macro averages and top-1/top-k accuracy, as a text block. */
    public String toTable(int k) {
        int width = Math.max(12, names.stream().mapToInt(String::length).max().orElse(0) + 2);
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%-" + width + "s %9s %9s %9s %9s %9s%n", "class", "precision", "recall",
                "f1", "auc", "support"));
        for (int c = 0; c < classes; c++) {
            b.append(String.format(Locale.ROOT, "%-" + width + "s %9s %9s %9s %9s %9d%n", names.get(c),
                    figure(precision[c]), figure(recall[c]), figure(f1[c]), figure(auc[c]), support[c]));
        }
        b.append(String.format(Locale.ROOT, "%-" + width + "s %9s %9s %9s %9s %9d%n", "macro", figure(macro(precision)),
                figure(macro(recall)), figure(macro(f1)), figure(macro(auc)), labels.length));
        b.append(String.format(Locale.ROOT, "accuracy %.4f, top-%d accuracy %.4f%n", accuracy(), k, topKAccuracy(k)));
        return b.toString();
    }

    /** {@link #toTable} with top-3 accuracy (top-k with k the number of classes where there are fewer). */
    @Override
    public String toString() {
        return toTable(Math.min(3, classes));
    }

    private static String figure(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.4f", v);
    }
}
