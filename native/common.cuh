// Shared helpers for Osprey's kernels. Every kernel is extern "C" so the Java side finds it by its plain name, and is
// declared once in kernels.h, which each .cu includes (so a definition that drifts from its declaration fails to build).
#pragma once

#define OSPREY_KERNEL extern "C" __global__
#include "kernels.h"

// Grid-stride loop over n elements.
#define FOR_EACH(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

// bfloat16 as its 16 raw bits (the upper half of an fp32), so the same code runs on the GPU and on the host build
// without cuda_bf16.h. Rounds to nearest, ties to even, as cuDNN's, oneDNN's and PyTorch's conversions do; a NaN
// stays a (quiet) NaN instead of rounding into infinity.
__device__ __forceinline__ unsigned short osprey_to_bf16_bits(float x) {
    unsigned int bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((bits >> 16) | 0x0040u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (unsigned short)(bits >> 16);
}

__device__ __forceinline__ float osprey_from_bf16_bits(unsigned short h) {
    const unsigned int bits = (unsigned int)h << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}
