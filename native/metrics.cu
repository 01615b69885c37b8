// Classification counts (dev.osprey.backend.Backend#classificationCounts), one thread per row: the confusion matrix,
// top-k hits and per-class score histograms that the metrics read once per epoch, laid out as
// dev.osprey.metrics.ClassificationCounts says, ending with the scores' error sums (dev.osprey.metrics.ErrorSums:
// row r adds to lane (firstLane + r) % OSPREY_ERROR_LANES). The error-sum kernel adds those sums alone. activation is an
// osprey_activation_kind: OSPREY_SOFTMAX, OSPREY_SIGMOID, or anything else for scores as they are. One output counts
// as two classes, scores 1 - s and s.
#include "common.cuh"

#define OSPREY_METRIC_BINS 200
#define OSPREY_ERROR_LANES 256

__device__ static float osprey_score(const float* y, int width, int activation, float max, float sum, int c) {
    if (width == 1) {
        float s = activation == OSPREY_SIGMOID ? 1.0f / (1.0f + expf(-y[0])) : y[0];
        return c == 1 ? s : 1.0f - s;
    }
    if (activation == OSPREY_SOFTMAX) return expf(y[c] - max) / sum;
    if (activation == OSPREY_SIGMOID) return 1.0f / (1.0f + expf(-y[c]));
    return y[c];
}

// Adds row r's absolute and squared errors (scores against targets t) and the row itself to lane
// (firstLane + r) % LANES of errors: the lane of the row's place in the epoch.
__device__ static void osprey_add_errors(const float* y, const float* t, int width, int activation, float max,
                                         float sum, int r, int firstLane, float* errors) {
    float absolute = 0.0f;
    float squared = 0.0f;
    for (int c = 0; c < width; c++) { // one output: its score s, class 1's
        const float d = osprey_score(y, width, activation, max, sum, width == 1 ? 1 : c) - t[c];
        absolute += fabsf(d);
        squared += d * d;
    }
    const int lane = (int)(((long long)firstLane + r) % OSPREY_ERROR_LANES);
    atomicAdd(&errors[lane], absolute);
    atomicAdd(&errors[OSPREY_ERROR_LANES + lane], squared);
    atomicAdd(&errors[2 * OSPREY_ERROR_LANES + lane], 1.0f);
}

OSPREY_KERNEL void osprey_classification_counts(const float* outputs, const float* targets, float* counts, int rows,
                                                int width, int stride, int activation, int k, int firstLane) {
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
        float* errors = counts + histograms + classes * 2 * OSPREY_METRIC_BINS;
        osprey_add_errors(y, t, width, activation, max, sum, r, firstLane, errors);
    }
}

// The error sums alone (dev.osprey.backend.Backend#errorSums), one thread per row.
OSPREY_KERNEL void osprey_error_sums(const float* outputs, const float* targets, float* sums, int rows, int width,
                                     int stride, int activation, int firstLane) {
    FOR_EACH(r, rows) {
        const float* y = outputs + r * width;
        float max = y[0];
        float sum = 1.0f;
        if (activation == OSPREY_SOFTMAX && width > 1) { // only a softmax needs the row's max and sum
            for (int c = 1; c < width; c++) max = fmaxf(max, y[c]);
            sum = 0.0f;
            for (int c = 0; c < width; c++) sum += expf(y[c] - max);
        }
        osprey_add_errors(y, targets + r * stride, width, activation, max, sum, r, firstLane, sums);
    }
}
