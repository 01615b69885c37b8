// Shared helpers for Osprey's kernels. Every kernel is extern "C" so the Java side finds it by its plain name.
#pragma once

#define OSPREY_KERNEL extern "C" __global__

// Grid-stride loop over n elements.
#define FOR_EACH(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)
