// Batch normalization over NHWC data seen as (rows, channels), Keras' formulation (biased batch variance; moving
// statistics moved by momentum). Statistics are reduced in two steps that need no shared memory (so the kernels also
// run on the host, see native/host): per chunk of rows, then per channel.
//   forward (training): partials (dy == nullptr) -> statistics -> apply
//   forward (inference): apply with the moving statistics
//   backward: partials (with dy) -> backward_reduce -> backward_apply
// Forward partials are taken relative to each channel's first value, which keeps the variance accurate in fp32.
// A fused ReLU: apply clamps to [0, cap] (cap: infinity for a plain ReLU, 6 for ReLU6; a NaN passes); the backward
// kernels take the output y and let dy through only where 0 < y < cap.
#include "common.cuh"

__device__ __forceinline__ float osprey_masked(const float* dy, const float* y, long long at, float cap) {
    return y == nullptr || (y[at] > 0.0f && y[at] < cap) ? dy[at] : 0.0f;
}

// Forward (dy == nullptr): A = sum(x - k), B = sum((x - k)^2) with k = x[0][c]. Backward: A = sum(g),
// B = sum(g (x - mean)) with g = dy, masked by 0 < y < cap when y is given. One thread per (chunk, channel).
OSPREY_KERNEL void osprey_batch_norm_partials(const float* x, const float* dy, const float* y, const float* mean,
                                              float* partialA, float* partialB, int rows, int channels, int chunkRows,
                                              float cap) {
    const int chunks = (rows + chunkRows - 1) / chunkRows;
    FOR_EACH(i, (long long)chunks * channels) {
        const int c = (int)(i % channels);
        const int chunk = (int)(i / channels);
        const int end = min(rows, (chunk + 1) * chunkRows);
        float a = 0.0f, b = 0.0f;
        if (dy == nullptr) {
            const float k = x[c];
            for (int r = chunk * chunkRows; r < end; r++) {
                const float d = x[(long long)r * channels + c] - k;
                a += d;
                b += d * d;
            }
        } else {
            const float m = mean[c];
            for (int r = chunk * chunkRows; r < end; r++) {
                const long long at = (long long)r * channels + c;
                const float g = osprey_masked(dy, y, at, cap);
                a += g;
                b += g * (x[at] - m);
            }
        }
        partialA[i] = a;
        partialB[i] = b;
    }
}

OSPREY_KERNEL void osprey_batch_norm_statistics(const float* x, const float* partialA, const float* partialB,
                                                int chunks, int rows, int channels, float* mean, float* variance,
                                                float* movingMean, float* movingVariance, float momentum) {
    FOR_EACH(c, channels) {
        float a = 0.0f, b = 0.0f;
        for (int k = 0; k < chunks; k++) {
            a += partialA[(long long)k * channels + c];
            b += partialB[(long long)k * channels + c];
        }
        const float shifted = a / rows;
        const float m = x[c] + shifted;
        const float v = fmaxf(b / rows - shifted * shifted, 0.0f);
        mean[c] = m;
        variance[c] = v;
        movingMean[c] = movingMean[c] * momentum + m * (1.0f - momentum);
        movingVariance[c] = movingVariance[c] * momentum + v * (1.0f - momentum);
    }
}

OSPREY_KERNEL void osprey_batch_norm_apply(const float* x, float* y, const float* mean, const float* variance,
                                           const float* gamma, const float* beta, long long n, int channels,
                                           float epsilon, int relu, float cap) {
    FOR_EACH(i, n) {
        const int c = (int)(i % channels);
        const float v = gamma[c] * (x[i] - mean[c]) * rsqrtf(variance[c] + epsilon) + beta[c];
        y[i] = !relu ? v : v < 0.0f ? 0.0f : v > cap ? cap : v;
    }
}

// dBeta = sum(dy), dGamma = sum(dy (x - mean)) / sqrt(var + eps).
OSPREY_KERNEL void osprey_batch_norm_backward_reduce(const float* partialA, const float* partialB, int chunks,
                                                     int channels, const float* variance, float epsilon,
                                                     float* dGamma, float* dBeta) {
    FOR_EACH(c, channels) {
        float a = 0.0f, b = 0.0f;
        for (int k = 0; k < chunks; k++) {
            a += partialA[(long long)k * channels + c];
            b += partialB[(long long)k * channels + c];
        }
        dBeta[c] = a;
        dGamma[c] = b * rsqrtf(variance[c] + epsilon);
    }
}

// dx = gamma / sqrt(var + eps) (dy - dBeta / rows - xhat dGamma / rows), xhat = (x - mean) / sqrt(var + eps).
OSPREY_KERNEL void osprey_batch_norm_backward_apply(const float* x, const float* dy, const float* y,
                                                    const float* mean, const float* variance, const float* gamma,
                                                    const float* dGamma, const float* dBeta, float* dx, long long n,
                                                    int channels, int rows, float epsilon, float cap) {
    FOR_EACH(i, n) {
        const int c = (int)(i % channels);
        const float invStd = rsqrtf(variance[c] + epsilon);
        const float xHat = (x[i] - mean[c]) * invStd;
        dx[i] = gamma[c] * invStd * (osprey_masked(dy, y, i, cap) - (dBeta[c] + xHat * dGamma[c]) / rows);
    }
}
