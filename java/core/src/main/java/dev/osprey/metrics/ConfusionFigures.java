package dev.osprey.metrics;

/**
 * Precision, recall, F1 and support per class from a confusion matrix ([true class][predicted class] counts), with
 * one rule for empty cases: a figure whose denominator is zero is NaN (a class with no samples has no recall or F1;
 * a class never predicted has no precision). Shared by the report and the accumulated metrics.
 */
record ConfusionFigures(double[] precision, double[] recall, double[] f1, long[] support) {
    static ConfusionFigures of(long[][] confusion) {
        int classes = confusion.length;
        double[] precision = new double[classes];
        double[] recall = new double[classes];
        double[] f1 = new double[classes];
        long[] support = new long[classes];
        for (int c = 0; c < classes; c++) {
            long tp = confusion[c][c];
            long predicted = 0;
            long actual = 0;
            for (int k = 0; k < classes; k++) {
                predicted += confusion[k][c];
                actual += confusion[c][k];
            }
            support[c] = actual;
            precision[c] = predicted == 0 ? Double.NaN : (double) tp / predicted;
            recall[c] = actual == 0 ? Double.NaN : (double) tp / actual;
            f1[c] = actual == 0 ? Double.NaN : tp == 0 ? 0 : 2.0 * tp / (predicted + actual);
        }
        return new ConfusionFigures(precision, recall, f1, support);
    }
}
