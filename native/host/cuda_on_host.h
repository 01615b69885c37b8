// Lets Osprey's kernels compile as plain C++ and run on the CPU, so that their arithmetic and indexing are tested
// on machines without a GPU (see kernels_on_host.cpp and KernelsOnHostTest). A launch runs every (block, thread)
// of a small grid one after another, which exercises the grid-stride loops; races cannot show here.
#pragma once
#include <math.h>
#include <algorithm>
#include <cstring>

using std::max;
using std::min;

inline float rsqrtf(float x) {
    return 1.0f / sqrtf(x);
}

#define __global__
#define __device__
#define __forceinline__ inline

struct osprey_dim3 { unsigned int x = 1, y = 1, z = 1; };
extern osprey_dim3 blockIdx, threadIdx, blockDim, gridDim;

inline float atomicAdd(float* address, float value) {
    const float old = *address;
    *address = old + value;
    return old;
}

inline float __uint_as_float(unsigned int bits) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// Runs kernel(args...) as a grid of `blocks` blocks of `threads` threads.
#define OSPREY_HOST_LAUNCH(blocks, threads, kernel, ...)                      \
    do {                                                                      \
        gridDim.x = (blocks);                                                 \
        blockDim.x = (threads);                                               \
        for (unsigned ob_ = 0; ob_ < gridDim.x; ob_++)                           \
            for (unsigned ot_ = 0; ot_ < blockDim.x; ot_++) {                    \
                blockIdx.x = ob_;                                             \
                threadIdx.x = ot_;                                            \
                kernel(__VA_ARGS__);                                          \
            }                                                                 \
    } while (0)
