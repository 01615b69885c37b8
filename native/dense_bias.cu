// Bias and activation after a layer's matrix work, forward and backward:
//   forward:  y[r][u] = act(y[r][u] + bias[u])   (y already holds x . kernel from cuBLAS, or a convolution from
//             cuDNN, whose NHWC rows are pixels and units are filters: one pass instead of cuDNN's two)
//   backward: dBias[u] = sum over rows of dy[r][u]          (ReLU's own backward runs before, in cuDNN)
#include "common.cuh"

OSPREY_KERNEL void osprey_bias_activation_forward(float* y, const float* bias, int rows, int units, int relu) {
    FOR_EACH(i, (long long)rows * units) {
        const float v = y[i] + bias[i % units];
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

OSPREY_KERNEL void osprey_bias_backward(const float* dy, float* dBias, int rows, int units) {
    FOR_EACH(u, units) {
        float sum = 0.0f;
        for (int r = 0; r < rows; r++) sum += dy[(long long)r * units + u];
        dBias[u] = sum;
    }
}
