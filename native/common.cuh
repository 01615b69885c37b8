// Shared helpers for Osprey's kernels. Every kernel is extern "C" so the Java side finds it by its plain name, and is
// declared once in kernels.h, which each .cu includes (so a definition that drifts from its declaration fails to build).
#pragma once

#define OSPREY_KERNEL extern "C" __global__
#include "kernels.h"

// Grid-stride loop over n elements.
#define FOR_EACH(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)
