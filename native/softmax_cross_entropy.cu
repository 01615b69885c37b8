// Softmax over the last axis of (rows, width), forward and backward, and softmax cross-entropy over (rows, classes),
// one thread per row (rows are short). The loss kernel writes dLogits = (softmax - targets) / rows, and adds
// [sum of row losses, number of rows whose arg-max matches the target's] to stats, so the host reads two numbers
// only when it wants to show them.
#include "common.cuh"

OSPREY_KERNEL void osprey_softmax_forward(const float* x, float* y, int rows, int width) {
    FOR_EACH(r, rows) {
        const float* z = x + r * width;
        float max = z[0];
        for (int c = 1; c < width; c++) max = fmaxf(max, z[c]);
        float sum = 0.0f;
        for (int c = 0; c < width; c++) sum += expf(z[c] - max);
        for (int c = 0; c < width; c++) y[r * width + c] = expf(z[c] - max) / sum;
    }
}

// dx = y (dy - sum(dy y)) row by row.
OSPREY_KERNEL void osprey_softmax_backward(const float* y, const float* dy, float* dx, int rows, int width) {
    FOR_EACH(r, rows) {
        const float* yr = y + r * width;
        const float* dyr = dy + r * width;
        float dot = 0.0f;
        for (int c = 0; c < width; c++) dot += dyr[c] * yr[c];
        for (int c = 0; c < width; c++) dx[r * width + c] = yr[c] * (dyr[c] - dot);
    }
}

OSPREY_KERNEL void osprey_softmax_cross_entropy(const float* logits, const float* targets, const float* classWeights,
                                                float* dLogits, float* stats, int rows, int classes) {
    FOR_EACH(r, rows) {
        const float* z = logits + r * classes;
        const float* t = targets + r * classes;
        float max = z[0];
        int predicted = 0;
        int expected = 0;
        for (int c = 1; c < classes; c++) {
            if (z[c] > max) { max = z[c]; predicted = c; }
            if (t[c] > t[expected]) expected = c;
        }
        float sum = 0.0f;
        for (int c = 0; c < classes; c++) sum += expf(z[c] - max);
        const float logSum = logf(sum);
        const float weight = classWeights != nullptr ? classWeights[expected] : 1.0f;  // Keras' class_weight
        float loss = 0.0f;
        for (int c = 0; c < classes; c++) {
            const float logP = z[c] - max - logSum;
            if (t[c] != 0.0f) loss -= t[c] * logP;
            if (dLogits != nullptr) dLogits[r * classes + c] = weight * (expf(logP) - t[c]) / rows;
        }
        atomicAdd(&stats[0], weight * loss);
        if (predicted == expected) atomicAdd(&stats[1], 1.0f);
    }
}
