/*
 * The dense layers of fp32 inference plans, at every batch size, for dev.osprey.backend.cpu.InferenceDense:
 * y = rectify(x W + b) with the kernel W in Keras' layout (in, units), any number of units. Each output is one chain of
 * multiply-adds in input order with the bias added last, whatever the batch and the team, so an image gets the same
 * bits alone or in any batch (oneDNN's inner product sums in an order that depends on the batch and the ISA: on
 * AVX-512 its batch-8 answers differed from its batch-1 ones). At batch 1 oneDNN's inner product also spends most of a
 * call setting up (7 us for the tutorial CNN's 576 x 64 layer, whose 37 K multiply-adds take under 1 us here).
 * Each image's row of W is read once per 64 units: every input broadcast and multiplied into 8 vectors of sums, which
 * stay in registers; bias and activation are applied as the sums are stored. The last units % 8 columns are read and
 * written through a mask (a classifier's 10 units: one vector, then 2 lanes), never past the end of a row of W, of b or
 * of y. A team of threads splits the images evenly; a team of one runs on the calling thread.
 */
#include <jni.h>

#if !defined(__x86_64__)
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_InferenceDense_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <stdint.h>
#include "avx2_ops.h"

extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

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

/*
 * As dense_columns with 4 vectors for two images at once, x0's and x1's rows: each vector of W read serves both, which
 * halves the loads per multiply-add (at 8 vectors for one image the loads from L2, not the multiply-adds, set the pace).
 */
TARGET INLINE void dense_columns_pair(const float *x0, const float *x1, int in, const float *w, int units,
                                      const float *b, int rectify_on, __m256 slope, __m256 cap, float *y0, float *y1) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    for (int i = 0; i < in; i++, w += units) {
        __m256 p = _mm256_broadcast_ss(x0 + i), q = _mm256_broadcast_ss(x1 + i);
        __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
        a0 = _mm256_fmadd_ps(p, w0, a0);
        c0 = _mm256_fmadd_ps(q, w0, c0);
        a1 = _mm256_fmadd_ps(p, w1, a1);
        c1 = _mm256_fmadd_ps(q, w1, c1);
        __m256 w2 = _mm256_loadu_ps(w + 16), w3 = _mm256_loadu_ps(w + 24);
        a2 = _mm256_fmadd_ps(p, w2, a2);
        c2 = _mm256_fmadd_ps(q, w2, c2);
        a3 = _mm256_fmadd_ps(p, w3, a3);
        c3 = _mm256_fmadd_ps(q, w3, c3);
    }
    __m256 first[4] = {a0, a1, a2, a3}, second[4] = {c0, c1, c2, c3};
    for (int v = 0; v < 4; v++) {
        __m256 bias = _mm256_loadu_ps(b + 8 * v);
        __m256 s0 = _mm256_add_ps(first[v], bias), s1 = _mm256_add_ps(second[v], bias);
        _mm256_storeu_ps(y0 + 8 * v, rectify_on ? rectify(s0, slope, cap) : s0);
        _mm256_storeu_ps(y1 + 8 * v, rectify_on ? rectify(s1, slope, cap) : s1);
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

/* Images [first, end) of the batch. */
TARGET static void dense(const float *x, int first, int end, int in, const float *w, int units, const float *b,
                         int rectify_on, float slope_value, float cap_value, float *y) {
    const __m256 slope = _mm256_set1_ps(slope_value), cap = _mm256_set1_ps(cap_value);
    for (int n = first; n < end; n++) {
        const float *row = x + (int64_t) n * in;
        float *out = y + (int64_t) n * units;
        if (n + 1 < end && units % 32 == 0) { /* a pair of images takes the columns in 32s */
            for (int u = 0; u < units; u += 32) {
                dense_columns_pair(row, row + in, in, w + u, units, b + u, rectify_on, slope, cap, out + u,
                                   out + units + u);
            }
            n++;
            continue;
        }
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

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_InferenceDense_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_InferenceDense_forward(
        JNIEnv *env, jclass type, jlong x, jint batch, jint in, jlong w, jint units, jlong b, jboolean rectify_on,
        jfloat slope, jfloat cap, jlong y, jint threads) {
    (void) env;
    (void) type;
    const float *xs = (const float *) (intptr_t) x, *ws = (const float *) (intptr_t) w;
    const float *bs = (const float *) (intptr_t) b;
    float *ys = (float *) (intptr_t) y;
    int team = batch < threads ? batch : threads;
    if (team <= 1) { /* no parallel region: forking even a team of one costs microseconds at batch 1 */
        dense(xs, 0, batch, in, ws, units, bs, rectify_on, slope, cap, ys);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        int id = omp_get_thread_num();
        int size = omp_get_num_threads();
        dense(xs, (int) ((int64_t) batch * id / size), (int) ((int64_t) batch * (id + 1) / size), in, ws, units, bs,
              rectify_on, slope, cap, ys);
    }
}
#endif
