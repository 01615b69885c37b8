// Keras' kernel regularizers (dev.osprey.backend.Backend#regularize): adds l1 sign(w) + 2 l2 w to the gradient (when
// not null) and lossScale (l1 sum|w| + l2 sum w^2) to stats[0]. Each thread sums its grid-stride share and adds it
// once; the backend launches at most 8,192 threads (CudaBackend.REGULARIZE_THREADS), so a weight of n values costs n
// reads, n read-writes and at most 8,192 atomics on stats[0], however large n is.
#include "common.cuh"

OSPREY_KERNEL void osprey_regularize(const float* w, float* g, long long n, float l1, float l2, float lossScale,
                                     float* stats) {
    float abs = 0.0f;
    float squares = 0.0f;
    FOR_EACH(i, n) {
        const float v = w[i];
        abs += fabsf(v);
        squares += v * v;
        if (g != nullptr) g[i] += l1 * (v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : 0.0f) + 2.0f * l2 * v;
    }
    if (abs != 0.0f || squares != 0.0f) atomicAdd(&stats[0], lossScale * (l1 * abs + l2 * squares));
}
