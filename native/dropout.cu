// Inverted dropout's forward (its backward is dx = dy * mask: osprey_multiply). The mask comes from a counter-based
// generator keyed by (seed, index): the same SplitMix64 finaliser as the CPU backend's, so both backends drop the
// same units for the same seed.
#include "common.cuh"

__device__ __forceinline__ float osprey_uniform(unsigned long long seed, unsigned long long index) {
    unsigned long long z = seed + (index + 1ULL) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    return (float)(z >> 40) * 0x1.0p-24f;
}

OSPREY_KERNEL void osprey_dropout_forward(const float* x, float* mask, float* y, long long n, float rate,
                                          long long seed) {
    const float keepScale = 1.0f / (1.0f - rate);
    FOR_EACH(i, n) {
        const float k = osprey_uniform((unsigned long long)seed, (unsigned long long)i) >= rate ? keepScale : 0.0f;
        mask[i] = k;
        y[i] = x[i] * k;
    }
}
