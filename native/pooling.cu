// Average pooling over NHWC, forward and backward, dividing by the number of input values under each window with
// padding excluded (Keras' 'same' average pooling). Any padding, even or not, so no padded copy is needed.
#include "common.cuh"

__device__ __forceinline__ int osprey_window_count(int o, int stride, int pad, int pool, int size) {
    const int start = o * stride - pad;
    return min(start + pool, size) - max(start, 0);
}

OSPREY_KERNEL void osprey_average_pool_forward(const float* x, float* y, int n, int h, int w, int c, int outH,
                                               int outW, int poolH, int poolW, int strideH, int strideW, int padTop,
                                               int padLeft) {
    FOR_EACH(i, (long long)n * outH * outW * c) {
        const int ch = (int)(i % c);
        const int ow = (int)((i / c) % outW);
        const int oh = (int)((i / ((long long)c * outW)) % outH);
        const long long image = i / ((long long)c * outW * outH);
        const int h0 = oh * strideH - padTop, w0 = ow * strideW - padLeft;
        float sum = 0.0f;
        for (int u = max(h0, 0); u < min(h0 + poolH, h); u++)
            for (int v = max(w0, 0); v < min(w0 + poolW, w); v++) sum += x[((image * h + u) * w + v) * c + ch];
        const int count = osprey_window_count(oh, strideH, padTop, poolH, h) * osprey_window_count(ow, strideW, padLeft, poolW, w);
        y[i] = sum / count;
    }
}

OSPREY_KERNEL void osprey_average_pool_backward(const float* dy, float* dx, int n, int h, int w, int c, int outH,
                                                int outW, int poolH, int poolW, int strideH, int strideW, int padTop,
                                                int padLeft) {
    FOR_EACH(i, (long long)n * h * w * c) {
        const int ch = (int)(i % c);
        const int iw = (int)((i / c) % w);
        const int ih = (int)((i / ((long long)c * w)) % h);
        const long long image = i / ((long long)c * w * h);
        // Windows o that cover ih: o * stride - pad <= ih < o * stride - pad + pool.
        const int ohFirst = max(0, (ih + padTop - poolH + strideH) / strideH);
        const int ohLast = min(outH - 1, (ih + padTop) / strideH);
        const int owFirst = max(0, (iw + padLeft - poolW + strideW) / strideW);
        const int owLast = min(outW - 1, (iw + padLeft) / strideW);
        float sum = 0.0f;
        for (int oh = ohFirst; oh <= ohLast; oh++) {
            const int countH = osprey_window_count(oh, strideH, padTop, poolH, h);
            for (int ow = owFirst; ow <= owLast; ow++) {
                const int count = countH * osprey_window_count(ow, strideW, padLeft, poolW, w);
                sum += dy[((image * outH + oh) * outW + ow) * c + ch] / count;
            }
        }
        dx[i] = sum;
    }
}
