// Classification counts (dev.osprey.backend.Backend#classificationCounts), one thread per row: the confusion matrix,
// top-k hits and per-class score histograms that the metrics read once per epoch, laid out as
// dev.osprey.metrics.ClassificationCounts says, then the sums of absolute and squared errors of the scores. activation is an osprey_activation_kind: OSPREY_SOFTMAX,
// OSPREY_SIGMOID, or anything else for scores as they are. One output counts as two classes, scores 1 - s and s.
#include "common.cuh"

#define OSPREY_METRIC_BINS 200

__device__ static float osprey_score(const float* y, int width, int activation, float max, float sum, int c) {
    if (width == 1) {
        float s = activation == OSPREY_SIGMOID ? 1.0f / (1.0f + expf(-y[0])) : y[0];
        return c == 1 ? s : 1.0f - s;
    }
    if (activation == OSPREY_SOFTMAX) return expf(y[c] - max) / sum;
    if (activation == OSPREY_SIGMOID) return 1.0f / (1.0f + expf(-y[c]));
    return y[c];
}

OSPREY_KERNEL void osprey_classification_counts(const float* outputs, const float* targets, float* counts, int rows,
                                                int width, int stride, int activation, int k) {
    const int classes = width == 1 ? 2 : width;
    const int histograms = classes * classes + 1;
    FOR_EACH(r, rows) {
        const float* y = outputs + r * width;
        const float* t = targets + r * stride;
        int truth = 0;
        if (width == 1) {
            truth = t[0] > 0.5f ? 1 : 0;
        } else {
            for (int c = 1; c < width; c++) if (t[c] > t[truth]) truth = c;
        }
        float max = y[0];
        for (int c = 1; c < width; c++) max = fmaxf(max, y[c]);
        float sum = 0.0f;
        for (int c = 0; c < width; c++) sum += expf(y[c] - max);
        const float own = osprey_score(y, width, activation, max, sum, truth);
        int predicted = 0;
        float best = osprey_score(y, width, activation, max, sum, 0);
        int higher = 0;
        for (int c = 0; c < classes; c++) {
            const float p = osprey_score(y, width, activation, max, sum, c);
            if (p > best) { best = p; predicted = c; }
            if (p > own) higher++;
            int bin = (int)(p * OSPREY_METRIC_BINS);
            bin = bin < 0 ? 0 : bin > OSPREY_METRIC_BINS - 1 ? OSPREY_METRIC_BINS - 1 : bin;
            atomicAdd(&counts[histograms + (c * 2 + (c == truth ? 0 : 1)) * OSPREY_METRIC_BINS + bin], 1.0f);
        }
        atomicAdd(&counts[truth * classes + predicted], 1.0f);
        if (higher < k) atomicAdd(&counts[classes * classes], 1.0f);
        float absolute = 0.0f;
        float squared = 0.0f;
        for (int c = 0; c < width; c++) { // one output: its score s, class 1's
            const float d = osprey_score(y, width, activation, max, sum, width == 1 ? 1 : c) - t[c];
            absolute += fabsf(d);
            squared += d * d;
        }
        const int errors = histograms + classes * 2 * OSPREY_METRIC_BINS;
        atomicAdd(&counts[errors], absolute);
        atomicAdd(&counts[errors + 1], squared);
    }
}
