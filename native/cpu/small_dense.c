/*
 * A dense layer for a few images at a time, fp32, for dev.osprey.backend.cpu.SmallBatchDense: y = rectify(x W + b)
 * with the kernel W in Keras' layout (in, units), any number of units. At batch 1 oneDNN's inner product spends
 * most of a call setting up (7 us for the tutorial CNN's 576 x 64 layer, whose 37 K multiply-adds take under 1 us at
 * this core's rate). Here each image's row of W is read once per 64 units: every input broadcast and multiplied into
 * 8 vectors of sums, which stay in registers; bias and activation are applied as the sums are stored. The last
 * units % 8 columns are read and written through a mask (a classifier's 10 units: one vector, then 2 lanes), never
 * past the end of a row of W, of b or of y. One thread: the work is too small to share.
 */
#include <jni.h>

#if !defined(__x86_64__)
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_SmallBatchDense_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <stdint.h>
#include "avx2_ops.h"

/*
 * y[0 .. 8 * vectors) = rectify(x W[:, 0 .. 8 * vectors) + b) for one image; W's rows are units floats apart.
 * vectors (1 or 8) is a constant where this is inlined, so the sums not used fall away and the rest stay in registers.
 */
TARGET INLINE void dense_columns(const float *x, int in, const float *w, int units, const float *b, const int vectors,
                                 int rectify_on, __m256 slope, __m256 cap, float *y) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    for (int i = 0; i < in; i++, w += units) {
        __m256 xi = _mm256_broadcast_ss(x + i);
        s0 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w), s0);
        if (vectors == 8) {
            s1 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 8), s1);
            s2 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 16), s2);
            s3 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 24), s3);
            s4 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 32), s4);
            s5 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 40), s5);
            s6 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 48), s6);
            s7 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 56), s7);
        }
    }
    __m256 sums[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
    for (int v = 0; v < vectors; v++) {
        __m256 a = _mm256_add_ps(sums[v], _mm256_loadu_ps(b + 8 * v));
        _mm256_storeu_ps(y + 8 * v, rectify_on ? rectify(a, slope, cap) : a);
    }
}

/* As dense_columns for the last lanes (1 to 7) of units: only the lanes mask holds are read and written. */
TARGET INLINE void dense_tail(const float *x, int in, const float *w, int units, const float *b, __m256i mask,
                              int rectify_on, __m256 slope, __m256 cap, float *y) {
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < in; i++, w += units) {
        s = _mm256_fmadd_ps(_mm256_broadcast_ss(x + i), _mm256_maskload_ps(w, mask), s);
    }
    __m256 a = _mm256_add_ps(s, _mm256_maskload_ps(b, mask));
    _mm256_maskstore_ps(y, mask, rectify_on ? rectify(a, slope, cap) : a);
}

TARGET static void dense(const float *x, int batch, int in, const float *w, int units, const float *b, int rectify_on,
                         float slope_value, float cap_value, float *y) {
    const __m256 slope = _mm256_set1_ps(slope_value), cap = _mm256_set1_ps(cap_value);
    for (int n = 0; n < batch; n++) {
        const float *row = x + (int64_t) n * in;
        float *out = y + (int64_t) n * units;
        int u = 0;
        for (; u + 64 <= units; u += 64) {
            dense_columns(row, in, w + u, units, b + u, 8, rectify_on, slope, cap, out + u);
        }
        for (; u + 8 <= units; u += 8) {
            dense_columns(row, in, w + u, units, b + u, 1, rectify_on, slope, cap, out + u);
        }
        if (u < units) {
            int lanes = units - u;
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            dense_tail(row, in, w + u, units, b + u, mask, rectify_on, slope, cap, out + u);
        }
    }
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_SmallBatchDense_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_SmallBatchDense_forward(
        JNIEnv *env, jclass type, jlong x, jint batch, jint in, jlong w, jint units, jlong b, jboolean rectify_on,
        jfloat slope, jfloat cap, jlong y) {
    (void) env;
    (void) type;
    dense((const float *) (intptr_t) x, batch, in, (const float *) (intptr_t) w, units, (const float *) (intptr_t) b,
          rectify_on, slope, cap, (float *) (intptr_t) y);
}
#endif
