// The fused loss op (dev.osprey.backend.Backend#loss): one thread per row of (rows, width) outputs. Writes the
// gradient of the batch's mean loss into dOutputs (when not null) and adds [sum of weighted row losses, correct
// predictions] to stats, so the host reads two numbers only when it wants to show them. Target rows are width wide,
// or width + 1 with the row's weight last (weighted != 0). The formulas are HostOps.loss's, in float.
#include "common.cuh"

OSPREY_KERNEL void osprey_loss(const float* outputs, const float* targets, float* dOutputs, float* stats, int rows,
                               int width, int weighted, int kind) {
    FOR_EACH(r, rows) {
        const float* y = outputs + r * width;
        const float* t = targets + r * (weighted ? width + 1 : width);
        float* g = dOutputs != nullptr ? dOutputs + r * width : nullptr;
        const float weight = weighted ? t[width] : 1.0f;
        const float scale = weight / rows;
        float loss = 0.0f;
        float correct = 0.0f;
        if (kind == OSPREY_SOFTMAX_CROSS_ENTROPY) {
            float max = y[0];
            int predicted = 0;
            int expected = 0;
            for (int c = 1; c < width; c++) {
                if (y[c] > max) { max = y[c]; predicted = c; }
                if (t[c] > t[expected]) expected = c;
            }
            float sum = 0.0f;
            for (int c = 0; c < width; c++) sum += expf(y[c] - max);
            const float logSum = logf(sum);
            for (int c = 0; c < width; c++) {
                const float logP = y[c] - max - logSum;
                if (t[c] != 0.0f) loss -= t[c] * logP;
                if (g != nullptr) g[c] = (expf(logP) - t[c]) * scale;
            }
            correct = predicted == expected ? 1.0f : 0.0f;
        } else {
            const bool binary = kind == OSPREY_SIGMOID_BINARY_CROSS_ENTROPY;
            const float threshold = binary ? 0.0f : 0.5f;
            int matches = 0;
            int predicted = 0;
            int expected = 0;
            for (int c = 0; c < width; c++) {
                const float v = y[c];
                const float d = v - t[c];
                float grad;
                if (binary) {
                    loss += fmaxf(v, 0.0f) - v * t[c] + log1pf(expf(-fabsf(v)));
                    grad = 1.0f / (1.0f + expf(-v)) - t[c];
                } else if (kind == OSPREY_MEAN_SQUARED_ERROR) {
                    loss += d * d;
                    grad = 2.0f * d;
                } else {
                    loss += fabsf(d);
                    grad = d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f;
                }
                if (g != nullptr) g[c] = grad / width * scale;
                if ((v > threshold) == (t[c] > 0.5f)) matches++;
                if (y[c] > y[predicted]) predicted = c;
                if (t[c] > t[expected]) expected = c;
            }
            loss /= width;
            correct = binary || width == 1 ? (float)matches / width : (predicted == expected ? 1.0f : 0.0f);
        }
        atomicAdd(&stats[0], weight * loss);
        atomicAdd(&stats[1], correct);
    }
}
