/*
 * The dense layers of fp32 inference plans, at every batch size, for dev.osprey.backend.cpu.InferenceDense:
 * y = rectify(x W + b) with the kernel W in Keras' layout (in, units), any number of units. Each output is one chain of
 * multiply-adds in input order with the bias added last, whatever the batch, the team and the blocking, so an image
 * gets the same bits alone or in any batch (oneDNN's inner product sums in an order that depends on the batch and the
 * ISA: on AVX-512 its batch-8 answers differed from its batch-1 ones). At batch 1 oneDNN's inner product also spends
 * most of a call setting up (7 us for the tutorial CNN's 576 x 64 layer, whose 37 K multiply-adds take under 1 us).
 * Six images at a time are multiplied into 16 units' sums each (12 vectors in registers, each vector of W loaded once
 * for all six), the last units % 16 through masks; fewer than three images take 64 units at a time each, then 16,
 * then 8, the last units % 8 through a mask. A mask never reads or writes past the end of a row of W, of b or of y.
 * A team of threads splits the images evenly; a team of one runs on the calling thread.
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
#include "openmp.h"

/*
 * One pass over a chunk of the inputs: sums start from zero on the first chunk and from the partial sums stored in y
 * on the others; the last chunk adds the bias and applies the activation as it stores, the others store the partial
 * sums. An fp32 sum stored and loaded back is the same value, so every output is the same chain of multiply-adds in
 * input order, chunked or not.
 */
typedef struct {
    int rectify_on, first, last;
    __m256 slope, cap;
} pass;

TARGET INLINE __m256 start(const pass *p, const float *y) {
    return p->first ? _mm256_setzero_ps() : _mm256_loadu_ps(y);
}

TARGET INLINE void finish(const pass *p, __m256 sum, const float *b, float *y) {
    if (p->last) {
        __m256 a = _mm256_add_ps(sum, _mm256_loadu_ps(b));
        sum = p->rectify_on ? rectify(a, p->slope, p->cap) : a;
    }
    _mm256_storeu_ps(y, sum);
}

/* As start and finish for the lanes of a mask only: the others are neither read nor written. */
TARGET INLINE __m256 start_masked(const pass *p, const float *y, __m256i mask) {
    return p->first ? _mm256_setzero_ps() : _mm256_maskload_ps(y, mask);
}

TARGET INLINE void finish_masked(const pass *p, __m256 sum, const float *b, float *y, __m256i mask) {
    if (p->last) {
        __m256 a = _mm256_add_ps(sum, _mm256_maskload_ps(b, mask));
        sum = p->rectify_on ? rectify(a, p->slope, p->cap) : a;
    }
    _mm256_maskstore_ps(y, mask, sum);
}

/*
 * y (rows x 16 floats, rows units apart) over the chunk's inputs [0, depth) of x (rows in apart) and W (rows units
 * apart), for 1 to 6 images (a constant where this is inlined, so only its rows' code is left): 12 vectors of sums in
 * registers, each vector of W loaded once for all the rows. Each image's sums are taken in the same order whatever the
 * row count, so an image's outputs do not depend on how many images share its call. masked (a constant too): the
 * last 1 to 15 units of a row, the lanes of m0 in the first vector and of m1 in the second, never read or written
 * past them (a classifier's 10 units: without it each image ran two chains of multiply-adds alone, at their latency).
 */
TARGET INLINE void dense16(const float *x, int in, int depth, const float *w, int units, const pass *p, const float *b,
                           float *y, const int rows, const int masked, __m256i m0, __m256i m1) {
#define W_LOAD(at, m) (masked ? _mm256_maskload_ps(at, m) : _mm256_loadu_ps(at))
#define START(at, m) (masked ? start_masked(p, at, m) : start(p, at))
#define FINISH(sum, at, m, off) \
    do { \
        if (masked) { \
            finish_masked(p, sum, b + (off), (at) + (off), m); \
        } else { \
            finish(p, sum, b + (off), (at) + (off)); \
        } \
    } while (0)
    float *y0 = y, *y1 = y0 + units, *y2 = y1 + units, *y3 = y2 + units, *y4 = y3 + units, *y5 = y4 + units;
    const float *x0 = x, *x1 = x0 + in, *x2 = x1 + in, *x3 = x2 + in, *x4 = x3 + in, *x5 = x4 + in;
    __m256 a0 = START(y0, m0), b0 = START(y0 + 8, m1), a1 = a0, b1 = b0, a2 = a0, b2 = b0, a3 = a0, b3 = b0;
    __m256 a4 = a0, b4 = b0, a5 = a0, b5 = b0;
    if (rows > 1) { a1 = START(y1, m0); b1 = START(y1 + 8, m1); }
    if (rows > 2) { a2 = START(y2, m0); b2 = START(y2 + 8, m1); }
    if (rows > 3) { a3 = START(y3, m0); b3 = START(y3 + 8, m1); }
    if (rows > 4) { a4 = START(y4, m0); b4 = START(y4 + 8, m1); }
    if (rows > 5) { a5 = START(y5, m0); b5 = START(y5 + 8, m1); }
    for (int i = 0; i < depth; i++, w += units) {
        __m256 w0 = W_LOAD(w, m0), w1 = W_LOAD(w + 8, m1), q;
        q = _mm256_broadcast_ss(x0 + i); a0 = _mm256_fmadd_ps(q, w0, a0); b0 = _mm256_fmadd_ps(q, w1, b0);
        if (rows > 1) { q = _mm256_broadcast_ss(x1 + i); a1 = _mm256_fmadd_ps(q, w0, a1); b1 = _mm256_fmadd_ps(q, w1, b1); }
        if (rows > 2) { q = _mm256_broadcast_ss(x2 + i); a2 = _mm256_fmadd_ps(q, w0, a2); b2 = _mm256_fmadd_ps(q, w1, b2); }
        if (rows > 3) { q = _mm256_broadcast_ss(x3 + i); a3 = _mm256_fmadd_ps(q, w0, a3); b3 = _mm256_fmadd_ps(q, w1, b3); }
        if (rows > 4) { q = _mm256_broadcast_ss(x4 + i); a4 = _mm256_fmadd_ps(q, w0, a4); b4 = _mm256_fmadd_ps(q, w1, b4); }
        if (rows > 5) { q = _mm256_broadcast_ss(x5 + i); a5 = _mm256_fmadd_ps(q, w0, a5); b5 = _mm256_fmadd_ps(q, w1, b5); }
    }
    FINISH(a0, y0, m0, 0); FINISH(b0, y0, m1, 8);
    if (rows > 1) { FINISH(a1, y1, m0, 0); FINISH(b1, y1, m1, 8); }
    if (rows > 2) { FINISH(a2, y2, m0, 0); FINISH(b2, y2, m1, 8); }
    if (rows > 3) { FINISH(a3, y3, m0, 0); FINISH(b3, y3, m1, 8); }
    if (rows > 4) { FINISH(a4, y4, m0, 0); FINISH(b4, y4, m1, 8); }
    if (rows > 5) { FINISH(a5, y5, m0, 0); FINISH(b5, y5, m1, 8); }
#undef W_LOAD
#undef START
#undef FINISH
}

/*
 * As dense16 for one image and 64 units: 8 vectors of sums, so that the chains of multiply-adds hide each other's
 * latency (one or two images alone would wait on their 2 or 4).
 */
TARGET INLINE void dense64(const float *x, int depth, const float *w, int units, const pass *p, const float *b,
                           float *y) {
    __m256 s0 = start(p, y), s1 = start(p, y + 8), s2 = start(p, y + 16), s3 = start(p, y + 24);
    __m256 s4 = start(p, y + 32), s5 = start(p, y + 40), s6 = start(p, y + 48), s7 = start(p, y + 56);
    for (int i = 0; i < depth; i++, w += units) {
        __m256 xi = _mm256_broadcast_ss(x + i);
        s0 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w), s0);
        s1 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 8), s1);
        s2 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 16), s2);
        s3 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 24), s3);
        s4 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 32), s4);
        s5 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 40), s5);
        s6 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 48), s6);
        s7 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 56), s7);
    }
    __m256 sums[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
    for (int v = 0; v < 8; v++) {
        finish(p, sums[v], b + 8 * v, y + 8 * v);
    }
}

/* As dense16 for one image and the 8 units (width 8) or the last 1 to 7 (a mask) of a row. */
TARGET INLINE void dense8(const float *x, int depth, const float *w, int units, const pass *p, const float *b,
                          __m256i mask, float *y, const int masked) {
    __m256 s = p->first ? _mm256_setzero_ps() : masked ? _mm256_maskload_ps(y, mask) : _mm256_loadu_ps(y);
    for (int i = 0; i < depth; i++, w += units) {
        __m256 wi = masked ? _mm256_maskload_ps(w, mask) : _mm256_loadu_ps(w);
        s = _mm256_fmadd_ps(_mm256_broadcast_ss(x + i), wi, s);
    }
    if (p->last) {
        __m256 a = _mm256_add_ps(s, masked ? _mm256_maskload_ps(b, mask) : _mm256_loadu_ps(b));
        s = p->rectify_on ? rectify(a, p->slope, p->cap) : a;
    }
    if (masked) {
        _mm256_maskstore_ps(y, mask, s);
    } else {
        _mm256_storeu_ps(y, s);
    }
}

typedef void (*dense16_fn)(const float *, int, int, const float *, int, const pass *, const float *, float *,
                           __m256i, __m256i);
#define OSPREY_DENSE16(rows, masked, suffix) \
    TARGET static void dense16_##rows##suffix(const float *x, int in, int depth, const float *w, int units, \
                                              const pass *p, const float *b, float *y, __m256i m0, __m256i m1) { \
        dense16(x, in, depth, w, units, p, b, y, rows, masked, m0, m1); \
    }
OSPREY_DENSE16(1, 0, ) OSPREY_DENSE16(2, 0, ) OSPREY_DENSE16(3, 0, ) OSPREY_DENSE16(4, 0, ) OSPREY_DENSE16(5, 0, )
OSPREY_DENSE16(6, 0, )
OSPREY_DENSE16(1, 1, _masked) OSPREY_DENSE16(3, 1, _masked) OSPREY_DENSE16(4, 1, _masked)
OSPREY_DENSE16(5, 1, _masked) OSPREY_DENSE16(6, 1, _masked)
#undef OSPREY_DENSE16
/*
 * By the number of images (index 1 .. 6): 16 units, and the last 1 to 15 of a row (3 images or more; one image where
 * 9 to 15 are left, so that its two vectors' chains run in one loop rather than one after the other).
 */
static const dense16_fn DENSE16[7] = {NULL, dense16_1, dense16_2, dense16_3, dense16_4, dense16_5, dense16_6};
static const dense16_fn DENSE16_MASKED[7] = {NULL, dense16_1_masked, NULL, dense16_3_masked, dense16_4_masked,
                                             dense16_5_masked, dense16_6_masked};

/*
 * W is taken in blocks of at most BLOCK_UNITS units by CHUNK_FLOATS / block inputs (64 KB, at least 8 inputs), which
 * stay in cache while every image of a thread's share passes over them: the tutorial CNN's 576 x 64 layer in 3 blocks
 * of 256 inputs, a 4096 x 4096 one in 16 x 64 blocks of 256 units by 64 inputs, each read from memory once per thread.
 * A 4096 x 4096 layer at batch 64 took 21-25 ms on 2 threads, about 90 GFLOP/s, against oneDNN's 202 on a large
 * matrix product (copying the blocks together first changed nothing: tried-and-rejected-2026-12-04.md). Image
 * classifiers' dense layers are small beside their convolutions.
 */
#define BLOCK_UNITS 256
#define CHUNK_FLOATS (16 * 1024)

/* Images [n, n + rows) (1 to 6), units [u0, u1) (u1 - u0 a multiple of 16 unless u1 is units), inputs of the pass. */
TARGET static void dense_block(const float *x, int rows, int in, int depth, const float *w, int units, int u0, int u1,
                               const pass *p, const float *b, __m256i mask, float *y) {
    int u = u0;
    if (rows >= 3) {
        const __m256i all = _mm256_set1_epi32(-1);
        for (; u + 16 <= u1; u += 16) {
            DENSE16[rows](x, in, depth, w + u, units, p, b + u, y + u, all, all);
        }
        if (u < u1) { /* the last 1 to 15 units: lanes [0, u1 - u) of the two vectors */
            DENSE16_MASKED[rows](x, in, depth, w + u, units, p, b + u, y + u, lanes_below(u1, u),
                                 lanes_below(u1, u + 8));
            u = u1;
        }
    }
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t) r * in;
        float *yr = y + (int64_t) r * units;
        int v = u;
        for (; v + 64 <= u1; v += 64) {
            dense64(xr, depth, w + v, units, p, b + v, yr + v);
        }
        for (; v + 16 <= u1; v += 16) {
            DENSE16[1](xr, in, depth, w + v, units, p, b + v, yr + v, _mm256_set1_epi32(-1),
                       _mm256_set1_epi32(-1));
        }
        if (u1 - v > 8) { /* 9 to 15 left (a classifier's 10): 8 units, then lanes [0, u1 - v - 8) of a second vector */
            DENSE16_MASKED[1](xr, in, depth, w + v, units, p, b + v, yr + v, _mm256_set1_epi32(-1),
                              lanes_below(u1, v + 8));
            v = u1;
        }
        for (; v + 8 <= u1; v += 8) {
            dense8(xr, depth, w + v, units, p, b + v, mask, yr + v, 0);
        }
        if (v < u1) {
            dense8(xr, depth, w + v, units, p, b + v, mask, yr + v, 1);
        }
    }
}

/* Images [first, end) of the batch, block by block of W, 6 images at a time. */
TARGET static void dense(const float *x, int first, int end, int in, const float *w, int units, const float *b,
                         int rectify_on, float slope, float cap, float *y) {
    const __m256i mask = lanes_below(units % 8, 0);
    for (int u0 = 0; u0 < units; u0 += BLOCK_UNITS) {
        const int u1 = units - u0 < BLOCK_UNITS ? units : u0 + BLOCK_UNITS;
        int chunk = end - first <= 2 ? in : CHUNK_FLOATS / (u1 - u0); /* one or two images read W once anyway */
        chunk = chunk < 8 ? 8 : chunk;
        for (int k = 0; k == 0 || k < in; k += chunk) { /* no inputs: one pass, which writes the bias */
            const int depth = in - k < chunk ? in - k : chunk;
            const pass p = {.rectify_on = rectify_on, .first = k == 0, .last = k + depth == in,
                            .slope = _mm256_set1_ps(slope), .cap = _mm256_set1_ps(cap)};
            for (int n = first; n < end; n += 6) {
                const int rows = end - n < 6 ? end - n : 6;
                dense_block(x + (int64_t) n * in + k, rows, in, depth, w + (int64_t) k * units, units, u0, u1, &p, b,
                            mask, y + (int64_t) n * units);
            }
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
