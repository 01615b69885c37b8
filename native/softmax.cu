// Softmax over the last axis of (rows, width), forward and backward, one thread per row (rows are short).
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
