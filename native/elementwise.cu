// Element-wise arithmetic over flat runs of floats: the Add and Multiply layers (and gradient sums where a tensor
// feeds several layers, and Multiply's channel gates), Rescaling (y = x * scale + offset, whose backward is a scale by the same factor), fills.
// out may alias an input.
#include "common.cuh"

OSPREY_KERNEL void osprey_add(const float* a, const float* b, float* out, long long n) {
    FOR_EACH(i, n) {
        out[i] = a[i] + b[i];
    }
}

OSPREY_KERNEL void osprey_multiply(const float* a, const float* b, float* out, long long n) {
    FOR_EACH(i, n) {
        out[i] = a[i] * b[i];
    }
}

// A channel gate (squeeze-and-excitation): x is (batch, pixels, channels), gate (batch, channels); each value times its
// sample's gate for its channel. out may be x.
OSPREY_KERNEL void osprey_multiply_channels(const float* x, const float* gate, float* out, long long n, int pixels,
                                            int channels) {
    FOR_EACH(i, n) {
        long long sample = i / ((long long) pixels * channels);
        out[i] = x[i] * gate[sample * channels + i % channels];
    }
}

OSPREY_KERNEL void osprey_scale(const float* x, float* y, long long n, float scale, float offset) {
    FOR_EACH(i, n) {
        y[i] = x[i] * scale + offset;
    }
}

// An exponential moving average of weights (Keras' use_ema): average = momentum * average + (1 - momentum) * value.
OSPREY_KERNEL void osprey_moving_average(float* average, const float* values, long long n, float momentum) {
    FOR_EACH(i, n) {
        average[i] = momentum * average[i] + (1.0f - momentum) * values[i];
    }
}

OSPREY_KERNEL void osprey_fill(float* t, long long n, float value) {
    FOR_EACH(i, n) {
        t[i] = value;
    }
}
