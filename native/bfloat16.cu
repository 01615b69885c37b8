// fp32 <-> bfloat16 for mixed_bfloat16 on the GPU: cuDNN's bf16 convolutions read and write bf16 tensors, while
// every tensor Osprey keeps stays fp32. Operands are rounded into scratch before such an op, and its results widened
// back after it (the convolution forward widens in its epilogue instead: osprey_bias_activation_from_bf16).
#include "common.cuh"

OSPREY_KERNEL void osprey_to_bf16(const float* x, unsigned short* y, long long n) {
    FOR_EACH(i, n) y[i] = osprey_to_bf16_bits(x[i]);
}

OSPREY_KERNEL void osprey_from_bf16(const unsigned short* x, float* y, long long n) {
    FOR_EACH(i, n) y[i] = osprey_from_bf16_bits(x[i]);
}
