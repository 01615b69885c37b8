/*
 * Vector helpers the CPU kernels share (winograd.c, conv_pool.c, dense.c, pointwise.c, depthwise.c): compiled
 * for AVX2 and FMA by function attribute; the Java side calls the kernels only where the processor has them.
 */
#ifndef OSPREY_AVX2_OPS_H
#define OSPREY_AVX2_OPS_H

#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/*
 * Keras' ReLU: min(max(a, 0), cap) + slope * min(a, 0). max_ps and min_ps return their second operand where either
 * is NaN, so a is always second: a NaN passes through, as in oneDNN, rather than becoming 0. With a slope of 0 the
 * second term is dropped, not multiplied: -inf * 0 is NaN, where Keras' and oneDNN's ReLU give 0.
 */
TARGET INLINE __m256 rectify(__m256 a, __m256 slope, __m256 cap) {
    __m256 zero = _mm256_setzero_ps();
    __m256 leak = _mm256_and_ps(_mm256_mul_ps(_mm256_min_ps(zero, a), slope), _mm256_cmp_ps(slope, zero, _CMP_NEQ_UQ));
    return _mm256_add_ps(_mm256_min_ps(cap, _mm256_max_ps(zero, a)), leak);
}

/*
 * The largest of a 2x2 pooling window's four values. max_ps drops a NaN operand; a NaN among the four makes their
 * sum NaN, which is taken then instead, so a NaN reaches the pooled output as it does in oneDNN's pooling.
 */
TARGET INLINE __m256 max4(__m256 p00, __m256 p01, __m256 p10, __m256 p11) {
    __m256 m = _mm256_max_ps(_mm256_max_ps(p00, p01), _mm256_max_ps(p10, p11));
    __m256 nan = _mm256_or_ps(_mm256_cmp_ps(p00, p01, _CMP_UNORD_Q), _mm256_cmp_ps(p10, p11, _CMP_UNORD_Q));
    return _mm256_blendv_ps(m, _mm256_add_ps(_mm256_add_ps(p00, p01), _mm256_add_ps(p10, p11)), nan);
}

/* The lanes of a vector holding elements [start, start + 8) of a row that ends at end: all 8, the tail's, or none. */
TARGET INLINE __m256i lanes_below(int end, int start) {
    int lanes = end - start < 8 ? end - start : 8;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Whether this processor has AVX2 and FMA, which the kernels need. */
static inline int avx2_fma_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#endif
