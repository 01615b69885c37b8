// Gradient clipping on the device, as Keras clips before an optimizer step; no norm travels to the host.
//   osprey_sum_of_squares: *result += sum of x^2 (the caller zeroes *result first); each thread adds its share once.
//   osprey_scale_to_norm:  x *= min(1, maxNorm / sqrt(*sumOfSquares)).
//   osprey_clip_by_value:  x = min(max(x, -limit), limit).
#include "common.cuh"

OSPREY_KERNEL void osprey_sum_of_squares(const float* x, long long n, float* result) {
    float sum = 0.0f;
    FOR_EACH(i, n) {
        sum += x[i] * x[i];
    }
    if (sum != 0.0f) atomicAdd(result, sum);
}

OSPREY_KERNEL void osprey_scale_to_norm(float* x, long long n, const float* sumOfSquares, float maxNorm) {
    const float norm = sqrtf(*sumOfSquares);
    if (!(norm > maxNorm)) return;
    const float scale = maxNorm / norm;
    FOR_EACH(i, n) {
        x[i] *= scale;
    }
}

OSPREY_KERNEL void osprey_clip_by_value(float* x, long long n, float limit) {
    FOR_EACH(i, n) {
        x[i] = fminf(fmaxf(x[i], -limit), limit);
    }
}
