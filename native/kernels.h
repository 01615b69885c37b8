// Every kernel of Osprey's, declared once. The .cu files include this header, so nvcc rejects a definition whose
// parameters differ from its declaration here; native/host compiles the same header as C++; and the Java launch
// table (dev.osprey.backend.cuda.Kernels) is checked against it parameter by parameter (KernelBuildTest).
// Argument kinds the Java side passes: pointer, long long, int, float. One line per declaration.
#pragma once

#ifndef OSPREY_KERNEL
#define OSPREY_KERNEL extern "C" __global__
#endif

// optimizers (adam.cu, rmsprop.cu, sgd.cu) and gradient clipping (clipping.cu)
OSPREY_KERNEL void osprey_sum_of_squares(const float* x, long long n, float* result);
OSPREY_KERNEL void osprey_scale_to_norm(float* x, long long n, const float* sumOfSquares, float maxNorm);
OSPREY_KERNEL void osprey_clip_by_value(float* x, long long n, float limit);
OSPREY_KERNEL void osprey_adam_update(float* params, const float* grads, float* m, float* v, long long n, float alpha, float beta1, float beta2, float epsilon, const float* decayMask, float decay);
OSPREY_KERNEL void osprey_adam_amsgrad_update(float* params, const float* grads, float* m, float* v, float* vhat, long long n, float alpha, float beta1, float beta2, float epsilon, const float* decayMask, float decay);
OSPREY_KERNEL void osprey_rmsprop_update(float* params, const float* grads, float* velocity, float* momentum, float* meanGrad, long long n, float lr, float rho, float momentumRate, float epsilon, const float* decayMask, float decay);
OSPREY_KERNEL void osprey_sgd_update(float* params, const float* grads, float* velocity, long long n, float lr, float momentum, int nesterov, const float* decayMask, float decay);

// softmax (softmax.cu)
OSPREY_KERNEL void osprey_softmax_forward(const float* x, float* y, int rows, int width);
OSPREY_KERNEL void osprey_softmax_backward(const float* y, const float* dy, float* dx, int rows, int width);

// the fused loss op (loss.cu), weight penalties (regularize.cu) and classification counts (metrics.cu, activation an
// osprey_activation_kind); for the loss, kind is the ordinal of dev.osprey.backend.LossKind, in this order (a test checks it)
enum osprey_loss_kind {
    OSPREY_SOFTMAX_CROSS_ENTROPY, OSPREY_SIGMOID_BINARY_CROSS_ENTROPY, OSPREY_MEAN_SQUARED_ERROR,
    OSPREY_MEAN_ABSOLUTE_ERROR
};
OSPREY_KERNEL void osprey_classification_counts(const float* outputs, const float* targets, float* counts, int rows, int width, int stride, int activation, int k, int firstLane);
OSPREY_KERNEL void osprey_error_sums(const float* outputs, const float* targets, float* sums, int rows, int width, int stride, int activation, int firstLane);
OSPREY_KERNEL void osprey_regularize(const float* w, float* g, long long n, float l1, float l2, float lossScale, float* stats);
OSPREY_KERNEL void osprey_loss(const float* outputs, const float* targets, float* dOutputs, float* stats, int rows, int width, int weighted, int kind);

// activations (activation.cu): kind is the ordinal of dev.osprey.Activation.Kind, in this order (a test checks it)
enum osprey_activation_kind {
    OSPREY_LINEAR, OSPREY_RELU, OSPREY_SOFTMAX, OSPREY_SIGMOID, OSPREY_TANH, OSPREY_ELU, OSPREY_GELU, OSPREY_SWISH,
    OSPREY_HARD_SWISH, OSPREY_HARD_SIGMOID
};
OSPREY_KERNEL void osprey_activation_forward(const float* x, float* y, long long n, int kind, float alpha, float maxValue);
OSPREY_KERNEL void osprey_activation_backward(const float* x, const float* y, const float* dy, float* dx, long long n, int kind, float alpha, float maxValue);
OSPREY_KERNEL void osprey_bias_activation_forward(float* y, const float* bias, const float* residual, int rows, int units, int kind, float alpha, float maxValue);
OSPREY_KERNEL void osprey_bias_activation_from_bf16(const unsigned short* y16, float* y, const float* bias, const float* residual, int rows, int units, int kind, float alpha, float maxValue);
OSPREY_KERNEL void osprey_bias_backward(const float* dy, float* dBias, int rows, int units);

// element-wise (elementwise.cu, dropout.cu)
OSPREY_KERNEL void osprey_add(const float* a, const float* b, float* out, long long n);
OSPREY_KERNEL void osprey_multiply(const float* a, const float* b, float* out, long long n);
OSPREY_KERNEL void osprey_multiply_channels(const float* x, const float* gate, float* out, long long n, int pixels, int channels);
OSPREY_KERNEL void osprey_scale(const float* x, float* y, long long n, float scale, float offset);
OSPREY_KERNEL void osprey_fill(float* t, long long n, float value);
OSPREY_KERNEL void osprey_moving_average(float* average, const float* values, long long n, float momentum);
OSPREY_KERNEL void osprey_dropout_forward(const float* x, float* mask, float* y, long long n, float rate, long long seed);

// batch normalization (batch_norm.cu), NHWC as (rows, channels)
OSPREY_KERNEL void osprey_batch_norm_partials(const float* x, const float* dy, const float* y, const float* mean, float* partialA, float* partialB, int rows, int channels, int chunkRows, float cap);
OSPREY_KERNEL void osprey_batch_norm_statistics(const float* x, const float* partialA, const float* partialB, int chunks, int rows, int channels, float* mean, float* variance, float* movingMean, float* movingVariance, float momentum);
OSPREY_KERNEL void osprey_batch_norm_apply(const float* x, float* y, const float* mean, const float* variance, const float* gamma, const float* beta, long long n, int channels, float epsilon, int relu, float cap);
OSPREY_KERNEL void osprey_batch_norm_backward_reduce(const float* partialA, const float* partialB, int chunks, int channels, const float* variance, float epsilon, float* dGamma, float* dBeta);
OSPREY_KERNEL void osprey_batch_norm_backward_apply(const float* x, const float* dy, const float* y, const float* mean, const float* variance, const float* gamma, const float* dGamma, const float* dBeta, float* dx, long long n, int channels, int rows, float epsilon, float cap);

// layer normalization (layer_norm.cu) over the last axis of (rows, width); mean and variance null in inference
OSPREY_KERNEL void osprey_layer_norm_forward(const float* x, float* y, const float* gamma, const float* beta, float* mean, float* variance, int rows, int width, float epsilon);
OSPREY_KERNEL void osprey_layer_norm_backward_data(const float* x, const float* dy, const float* gamma, const float* mean, const float* variance, float* dx, int rows, int width, float epsilon);
OSPREY_KERNEL void osprey_layer_norm_param_partials(const float* x, const float* dy, const float* mean, const float* variance, float* partialGamma, float* partialBeta, int rows, int width, int chunkRows, float epsilon);
OSPREY_KERNEL void osprey_layer_norm_param_reduce(const float* partialGamma, const float* partialBeta, int chunks, int width, float* dGamma, float* dBeta);

// average pooling (pooling.cu), NHWC, padding excluded from the count
OSPREY_KERNEL void osprey_average_pool_forward(const float* x, float* y, int n, int h, int w, int c, int outH, int outW, int poolH, int poolW, int strideH, int strideW, int padTop, int padLeft);
OSPREY_KERNEL void osprey_average_pool_backward(const float* dy, float* dx, int n, int h, int w, int c, int outH, int outW, int poolH, int poolW, int strideH, int strideW, int padTop, int padLeft);

// bfloat16 as raw 16-bit patterns, for mixed_bfloat16 (bfloat16.cu; rounding to nearest even, NaN kept)
OSPREY_KERNEL void osprey_to_bf16(const float* x, unsigned short* y, long long n);
OSPREY_KERNEL void osprey_from_bf16(const unsigned short* x, float* y, long long n);

// layouts and moves (kernel_layout.cu, padding.cu, concat.cu, gather.cu)
OSPREY_KERNEL void osprey_hwio_to_krsc(const float* hwio, float* krsc, int spatial, int in, int out);
OSPREY_KERNEL void osprey_krsc_to_hwio(const float* krsc, float* hwio, int spatial, int in, int out);
OSPREY_KERNEL void osprey_hwio_to_krsc_bf16(const float* hwio, unsigned short* krsc, int spatial, int in, int out);
OSPREY_KERNEL void osprey_krsc_bf16_to_hwio(const unsigned short* krsc, float* hwio, int spatial, int in, int out);
OSPREY_KERNEL void osprey_pad_nhwc(const float* x, float* padded, int n, int h, int w, int c, int top, int left, int paddedH, int paddedW, float value);
OSPREY_KERNEL void osprey_crop_nhwc(const float* padded, float* x, int n, int h, int w, int c, int top, int left, int paddedH, int paddedW);
OSPREY_KERNEL void osprey_permute3(const float* x, float* y, int n, int d0, int d1, int d2, int p0, int p1, int p2);
OSPREY_KERNEL void osprey_copy_columns(const float* from, float* to, int rows, int width, int fromStride, int fromOffset, int toStride, int toOffset);
OSPREY_KERNEL void osprey_gather_codes(const unsigned char* codes, const float* table, const int* order, int from, long long rowSize, long long n, float* out);
OSPREY_KERNEL void osprey_gather_rows(const float* data, const int* order, int from, long long rowSize, long long n, float* out);
