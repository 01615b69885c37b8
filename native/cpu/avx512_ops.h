/*
 * 512-bit counterparts of avx2_ops.h's helpers, for kernels with a 16-float path on processors with AVX-512F
 * (conv_pool.c, and winograd.c's AVX-512 copy through winograd_lanes.h). Each lane computes what the 8-float helper
 * computes, so the two widths give the same bits. Compiled for AVX-512F by function attribute: call them only where
 * avx512f_supported() says the processor has it.
 */
#ifndef OSPREY_AVX512_OPS_H
#define OSPREY_AVX512_OPS_H

#include "avx2_ops.h"

#define TARGET512 __attribute__((target("avx2,fma,avx512f")))

/* rectify (avx2_ops.h) on 16 floats: the leak is masked off, not multiplied, where the slope is 0. */
TARGET512 INLINE __m512 rectify16(__m512 a, __m512 slope, __m512 cap) {
    __m512 zero = _mm512_setzero_ps();
    __m512 leak = _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(slope, zero, _CMP_NEQ_UQ), _mm512_min_ps(zero, a), slope);
    return _mm512_add_ps(_mm512_min_ps(cap, _mm512_max_ps(zero, a)), leak);
}

/* max4 (avx2_ops.h) on 16 floats: a NaN among the four reaches the result through their sum. */
TARGET512 INLINE __m512 max4_16(__m512 p00, __m512 p01, __m512 p10, __m512 p11) {
    __m512 m = _mm512_max_ps(_mm512_max_ps(p00, p01), _mm512_max_ps(p10, p11));
    __mmask16 nan = _mm512_cmp_ps_mask(p00, p01, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(p10, p11, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(nan, m, _mm512_add_ps(_mm512_add_ps(p00, p01), _mm512_add_ps(p10, p11)));
}

/* Whether this processor has AVX-512F (and the OS saves its registers), which the 16-float paths need. */
static inline int avx512f_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

#endif
