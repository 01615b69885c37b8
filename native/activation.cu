// Element-wise activations, forward and backward, and the bias + activation epilogue of convolutions and dense layers.
// Formulas follow Keras 3 (see dev.osprey.Activation): relu with a negative slope alpha and a cap maxValue (relu6,
// leaky_relu), elu(alpha), exact gelu, swish = x sigmoid(x), hard_sigmoid = relu6(x + 3) / 6, hard_swish =
// x hard_sigmoid(x). The backward takes the forward's input x where it has it; kinds that are differentiable from
// their output (the relu family, sigmoid, tanh, elu) also work from y alone (x == nullptr), as fused layers need.
#include "common.cuh"

__device__ __forceinline__ float osprey_activate(int kind, float alpha, float maxValue, float x) {
    switch (kind) {
        case OSPREY_RELU: return x >= maxValue ? maxValue : x >= 0.0f ? x : alpha * x;
        case OSPREY_SIGMOID: return 1.0f / (1.0f + expf(-x));
        case OSPREY_TANH: return tanhf(x);
        case OSPREY_ELU: return x > 0.0f ? x : alpha * (expf(x) - 1.0f);
        case OSPREY_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
        case OSPREY_SWISH: return x / (1.0f + expf(-x));
        case OSPREY_HARD_SWISH: return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
        case OSPREY_HARD_SIGMOID: return fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
        default: return x; // linear
    }
}

// The derivative at input x (the value from the right at a kink, as the CPU backend takes it).
__device__ __forceinline__ float osprey_derivative_from_input(int kind, float alpha, float maxValue, float x) {
    switch (kind) {
        case OSPREY_RELU: return x >= maxValue ? 0.0f : x > 0.0f ? 1.0f : alpha;
        case OSPREY_SIGMOID: {
            const float s = 1.0f / (1.0f + expf(-x));
            return s * (1.0f - s);
        }
        case OSPREY_TANH: {
            const float t = tanhf(x);
            return 1.0f - t * t;
        }
        case OSPREY_ELU: return x > 0.0f ? 1.0f : alpha * expf(x);
        case OSPREY_GELU:
            return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * expf(-0.5f * x * x) * 0.39894228040143268f;
        case OSPREY_SWISH: {
            const float s = 1.0f / (1.0f + expf(-x));
            return s + x * s * (1.0f - s);
        }
        case OSPREY_HARD_SWISH: return x <= -3.0f ? 0.0f : x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f;
        case OSPREY_HARD_SIGMOID: return x <= -3.0f || x >= 3.0f ? 0.0f : 1.0f / 6.0f;
        default: return 1.0f;
    }
}

// The derivative from the output y, for the kinds where that determines it.
__device__ __forceinline__ float osprey_derivative_from_output(int kind, float alpha, float maxValue, float y) {
    switch (kind) {
        case OSPREY_RELU: return y >= maxValue ? 0.0f : y > 0.0f ? 1.0f : alpha;
        case OSPREY_SIGMOID: return y * (1.0f - y);
        case OSPREY_TANH: return 1.0f - y * y;
        case OSPREY_ELU: return y > 0.0f ? 1.0f : y + alpha;
        default: return 1.0f; // linear
    }
}

OSPREY_KERNEL void osprey_activation_forward(const float* x, float* y, long long n, int kind, float alpha,
                                             float maxValue) {
    FOR_EACH(i, n) {
        y[i] = osprey_activate(kind, alpha, maxValue, x[i]);
    }
}

OSPREY_KERNEL void osprey_activation_backward(const float* x, const float* y, const float* dy, float* dx, long long n,
                                              int kind, float alpha, float maxValue) {
    FOR_EACH(i, n) {
        const float d = x != nullptr ? osprey_derivative_from_input(kind, alpha, maxValue, x[i])
                                     : osprey_derivative_from_output(kind, alpha, maxValue, y[i]);
        dx[i] = dy[i] * d;
    }
}

// The epilogue of a matrix product or convolution: act(v + bias[u] + residual[i]), bias and residual each optional.
__device__ __forceinline__ float osprey_epilogue(float v, const float* bias, const float* residual, long long i,
                                                 int units, int kind, float alpha, float maxValue) {
    if (bias != nullptr) v += bias[i % units];
    if (residual != nullptr) v += residual[i];
    return osprey_activate(kind, alpha, maxValue, v);
}

// y[r][u] = act(y[r][u] + bias[u] + residual[r][u]): y already holds x . kernel from cuBLAS, or a convolution from
// cuDNN, whose NHWC rows are pixels and units are filters: one pass instead of cuDNN's two (three with an inference
// plan's residual sum). bias and residual may be absent (nullptr).
OSPREY_KERNEL void osprey_bias_activation_forward(float* y, const float* bias, const float* residual, int rows,
                                                  int units, int kind, float alpha, float maxValue) {
    FOR_EACH(i, (long long)rows * units) {
        y[i] = osprey_epilogue(y[i], bias, residual, i, units, kind, alpha, maxValue);
    }
}

// As osprey_bias_activation_forward, reading the bf16 output of a mixed_bfloat16 convolution and writing y in fp32:
// widening, bias and activation in one pass.
OSPREY_KERNEL void osprey_bias_activation_from_bf16(const unsigned short* y16, float* y, const float* bias,
                                                    const float* residual, int rows, int units, int kind, float alpha,
                                                    float maxValue) {
    FOR_EACH(i, (long long)rows * units) {
        y[i] = osprey_epilogue(osprey_from_bf16_bits(y16[i]), bias, residual, i, units, kind, alpha, maxValue);
    }
}

// dBias[u] = sum over rows of dy[r][u] (the activation's own backward runs before).
OSPREY_KERNEL void osprey_bias_backward(const float* dy, float* dBias, int rows, int units) {
    FOR_EACH(u, units) {
        float sum = 0.0f;
        for (int r = 0; r < rows; r++) sum += dy[(long long)r * units + u];
        dBias[u] = sum;
    }
}
