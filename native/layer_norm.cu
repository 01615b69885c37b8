// Layer normalization over the last axis of (rows, width) (LayerNormalization; ConvNeXt's and transformers' norm),
// Keras' and PyTorch's formulation: y = gamma (x - mean) / sqrt(var + eps) + beta with each row's own mean and biased
// variance, gamma and beta per column. No shared memory, so the kernels also run on the host (see native/host):
//   forward: one thread per row (statistics saved when mean and variance are given: training)
//   backward: dx one thread per row; dGamma and dBeta per chunk of rows and column, then per column
// A row's statistics are taken in two passes (mean, then squared deviations): exact enough in fp32 for any offset.
#include "common.cuh"

OSPREY_KERNEL void osprey_layer_norm_forward(const float* x, float* y, const float* gamma, const float* beta,
                                             float* mean, float* variance, int rows, int width, float epsilon) {
    FOR_EACH(r, rows) {
        const float* xr = x + r * width;
        float sum = 0.0f;
        for (int c = 0; c < width; c++) sum += xr[c];
        const float m = sum / width;
        float squares = 0.0f;
        for (int c = 0; c < width; c++) {
            const float d = xr[c] - m;
            squares += d * d;
        }
        const float v = squares / width;
        if (mean != nullptr) {
            mean[r] = m;
            variance[r] = v;
        }
        const float inv = rsqrtf(v + epsilon);
        float* yr = y + r * width;
        for (int c = 0; c < width; c++) yr[c] = gamma[c] * (xr[c] - m) * inv + beta[c];
    }
}

// dx = inv (g - mean(g) - xhat mean(g xhat)) with g = dy gamma, xhat = (x - mean) inv, per row.
OSPREY_KERNEL void osprey_layer_norm_backward_data(const float* x, const float* dy, const float* gamma,
                                                   const float* mean, const float* variance, float* dx, int rows,
                                                   int width, float epsilon) {
    FOR_EACH(r, rows) {
        const float* xr = x + r * width;
        const float* dyr = dy + r * width;
        const float m = mean[r];
        const float inv = rsqrtf(variance[r] + epsilon);
        float sumG = 0.0f, sumGXhat = 0.0f;
        for (int c = 0; c < width; c++) {
            const float g = dyr[c] * gamma[c];
            sumG += g;
            sumGXhat += g * (xr[c] - m) * inv;
        }
        const float meanG = sumG / width, meanGXhat = sumGXhat / width;
        float* dxr = dx + r * width;
        for (int c = 0; c < width; c++) {
            const float xhat = (xr[c] - m) * inv;
            dxr[c] = inv * (dyr[c] * gamma[c] - meanG - xhat * meanGXhat);
        }
    }
}

// Per chunk of chunkRows rows and column: partialGamma = sum(dy xhat), partialBeta = sum(dy).
OSPREY_KERNEL void osprey_layer_norm_param_partials(const float* x, const float* dy, const float* mean,
                                                    const float* variance, float* partialGamma, float* partialBeta,
                                                    int rows, int width, int chunkRows, float epsilon) {
    const int chunks = (rows + chunkRows - 1) / chunkRows;
    FOR_EACH(i, (long long)chunks * width) {
        const int c = (int)(i % width);
        const int chunk = (int)(i / width);
        const int end = min(rows, (chunk + 1) * chunkRows);
        float a = 0.0f, b = 0.0f;
        for (int r = chunk * chunkRows; r < end; r++) {
            const long long at = (long long)r * width + c;
            a += dy[at] * (x[at] - mean[r]) * rsqrtf(variance[r] + epsilon);
            b += dy[at];
        }
        partialGamma[i] = a;
        partialBeta[i] = b;
    }
}

OSPREY_KERNEL void osprey_layer_norm_param_reduce(const float* partialGamma, const float* partialBeta, int chunks,
                                                  int width, float* dGamma, float* dBeta) {
    FOR_EACH(c, width) {
        float a = 0.0f, b = 0.0f;
        for (int k = 0; k < chunks; k++) {
            a += partialGamma[(long long)k * width + c];
            b += partialBeta[(long long)k * width + c];
        }
        dGamma[c] = a;
        dBeta[c] = b;
    }
}
