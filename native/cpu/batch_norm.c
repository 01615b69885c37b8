/*
 * Batch normalization while training, fp32, for dev.osprey.backend.cpu.BatchNormKernels: NHWC data seen as (rows,
 * channels), Keras' formulation (biased batch variance), with an optional ReLU fused after it and capped at `cap`
 * (a plain ReLU: cap infinity; ReLU6: cap 6). oneDNN's batch normalization fuses only the plain ReLU, so MobileNetV2's
 * ReLU6 cost two more passes over every activation each way; here it costs none.
 *
 * In training the forward may also add a residual before the ReLU (a ResNet block's tail: y = relu(bn(x) + r), which
 * oneDNN's CPU batch normalization does not fuse), so that the sum never takes passes of its own.
 *
 * The algorithm is the CUDA backend's (native/batch_norm.cu), so that both backends round alike:
 *   forward:  one pass of per-channel sums of (x - k) and (x - k)^2, k = the channel's first value (which keeps the
 *             variance accurate in fp32 where the mean is large against the spread), then one pass writing
 *             y = relu((x - mean) * gamma / sqrt(var + epsilon) + beta)
 *   backward: one pass of per-channel sums of g and g (x - mean), g = dy where the fused ReLU let the value through
 *             (0 < y < cap: taken from the output, or, where the 512-bit loops run, from a bit per element that the
 *             forward stored, 1/32 of y's bytes to read twice), then one pass writing dx
 * The team splits the rows evenly. Each thread sums its rows a block at a time in fp32 (vectors along the channels)
 * and adds each block's sums into its fp64 sums; past a barrier thread 0 adds the threads' sums in thread order and
 * works out the per-channel coefficients, so the results depend on the team's size only, never on timing.
 * A NaN passes the ReLU as it is, as in the CUDA kernels.
 */
#include <jni.h>
#include <math.h>
#include <stdint.h>
#include "openmp.h"
#if defined(__x86_64__)
#include "avx512_ops.h"
#define OSPREY_BN_WIDE 1
#endif

#if defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__x86_64__)
#define OSPREY_TARGET_CLONES 1
#endif
#endif
#if defined(OSPREY_TARGET_CLONES)
/* One copy of each loop per instruction set, picked when the library loads: the loops vectorize along the channels. */
#define VECTORIZED __attribute__((target_clones("avx512f", "avx2", "default")))
#else /* a compiler without the attribute (or another processor): one baseline copy */
#define VECTORIZED
#endif

/* Rows summed in fp32 before their sums go into the fp64 ones. */
#define BLOCK_ROWS 256

/* The ReLU (a NaN passes), or the value itself. */
static inline float rectify_value(float v, int relu, float cap) {
    if (!relu) {
        return v;
    }
    v = v < 0.0f ? 0.0f : v;
    return v > cap ? cap : v;
}

/* Per-thread scratch: the fp64 sums A and B, then the fp32 block sums a and b, each `channels` long. */
typedef struct {
    double *sum_a, *sum_b;
    float *block_a, *block_b;
} sums;

static sums sums_of(void *scratch, int thread, int channels) {
    char *base = (char *) scratch + (size_t) thread * (size_t) channels * (2 * sizeof(double) + 2 * sizeof(float));
    sums s;
    s.sum_a = (double *) base;
    s.sum_b = s.sum_a + channels;
    s.block_a = (float *) (s.sum_b + channels);
    s.block_b = s.block_a + channels;
    return s;
}

#if defined(OSPREY_BN_WIDE)
/*
 * sum_rows, apply_rows and backward_rows (below) written out in 512-bit vectors, for channels in multiples of 16 on
 * processors with AVX-512F (ResNet-20's layers but its stem; most of MobileNetV2's): each thread keeps its sums for
 * up to 64 channels in registers over a block of rows, where the compiler's loops (c known only at run time) loaded
 * and stored them every row. Every channel's operations, and their order, are those the compiler's loops take for
 * AVX-512F (an FMA for b += d * d; GCC contracts a product and a sum into one even when written as intrinsics, so each
 * FMA here is written as one), so the two give the same bits: BatchNormKernelsTest compares them
 * (-Dosprey.cpu.wideVectors=false keeps the compiler's loops). Before the gate bits, with the data in cache they took
 * 0.43x-0.86x the time at 16 to 64 channels; with it coming from memory, 0.52x-0.98x
 * (benchmarks/kernels/batch_norm_bench.c; benchmarks/results/batch-norm-wide-2026-12-05.md).
 */
#define WIDE_VECTORS 4 /* channel vectors summed at once: 8 sums in registers */

/* The ReLU's gate, as sum_rows and backward_rows apply it: dy where 0 < y < cap (a NaN y shuts it), else 0. */
TARGET512 INLINE __m512 gated16(__m512 dy, __m512 y, __m512 cap) {
    __mmask16 open = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ) & _mm512_cmp_ps_mask(y, cap, _CMP_LT_OQ);
    return _mm512_maskz_mov_ps(open, dy);
}

/* sum_rows for channels j .. j + 16 * vectors - 1 of rows first .. last-1 into the block sums a, b (stored). */
TARGET512 INLINE void sum_block16(const float *x, const float *dy, const float *y, const uint16_t *bits,
                                  const float *center, int64_t first, int64_t last, int c, int j, const int vectors,
                                  __m512 cap, float *a_out, float *b_out) {
    __m512 a[WIDE_VECTORS], b[WIDE_VECTORS], k[WIDE_VECTORS];
    for (int v = 0; v < vectors; v++) {
        a[v] = _mm512_setzero_ps();
        b[v] = _mm512_setzero_ps();
        k[v] = _mm512_loadu_ps(center + j + 16 * v);
    }
    for (int64_t r = first; r < last; r++) {
        const float *xr = x + r * c + j;
        for (int v = 0; v < vectors; v++) {
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xr + 16 * v), k[v]);
            if (dy == NULL) {
                a[v] = _mm512_add_ps(a[v], d);
                b[v] = _mm512_fmadd_ps(d, d, b[v]);
            } else {
                __m512 g = _mm512_loadu_ps(dy + r * c + j + 16 * v);
                if (bits != NULL) {
                    g = _mm512_maskz_mov_ps(bits[r * (c / 16) + j / 16 + v], g);
                } else if (y != NULL) {
                    g = gated16(g, _mm512_loadu_ps(y + r * c + j + 16 * v), cap);
                }
                a[v] = _mm512_add_ps(a[v], g);
                b[v] = _mm512_fmadd_ps(g, d, b[v]);
            }
        }
    }
    for (int v = 0; v < vectors; v++) {
        _mm512_storeu_ps(a_out + j + 16 * v, a[v]);
        _mm512_storeu_ps(b_out + j + 16 * v, b[v]);
    }
}

/* sum_rows for c a multiple of 16: per block, the channels 64 at a time (fewer at the end), then into the fp64 sums. */
TARGET512 static void sum_rows16(const float *x, const float *dy, const float *y, const uint16_t *bits,
                                 const float *center, int64_t from,
                                 int64_t to, int c, float cap, sums s) {
    const __m512 cap16 = _mm512_set1_ps(cap);
    for (int j = 0; j < c; j++) {
        s.sum_a[j] = 0;
        s.sum_b[j] = 0;
    }
    for (int64_t first = from; first < to; first += BLOCK_ROWS) {
        int64_t last = first + BLOCK_ROWS < to ? first + BLOCK_ROWS : to;
        int j = 0;
        for (; j + 16 * WIDE_VECTORS <= c; j += 16 * WIDE_VECTORS) {
            sum_block16(x, dy, y, bits, center, first, last, c, j, WIDE_VECTORS, cap16, s.block_a, s.block_b);
        }
        switch ((c - j) / 16) {
        case 3: sum_block16(x, dy, y, bits, center, first, last, c, j, 3, cap16, s.block_a, s.block_b); break;
        case 2: sum_block16(x, dy, y, bits, center, first, last, c, j, 2, cap16, s.block_a, s.block_b); break;
        case 1: sum_block16(x, dy, y, bits, center, first, last, c, j, 1, cap16, s.block_a, s.block_b); break;
        default: break;
        }
        for (int i = 0; i < c; i++) {
            s.sum_a[i] += s.block_a[i];
            s.sum_b[i] += s.block_b[i];
        }
    }
}

/* rectify_value's ReLU on 16 floats: 0 below 0, cap above it, a NaN as it is. */
TARGET512 INLINE __m512 rectify_capped16(__m512 v, __m512 cap) {
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_setzero_ps());
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, cap, _CMP_GT_OQ), v, cap);
}

/* apply_rows for c a multiple of 16. */
TARGET512 static void apply_rows16(const float *x, const float *residual, float *y, uint16_t *bits,
                                   const float *mean, const float *scale, const float *beta, int64_t from, int64_t to,
                                   int c, int relu, float cap) {
    const __m512 cap16 = _mm512_set1_ps(cap);
    for (int64_t r = from; r < to; r++) { /* row by row, so memory is read in order (the coefficients stay in L1) */
        for (int j = 0; j < c; j += 16) {
            const __m512 m = _mm512_loadu_ps(mean + j), sc = _mm512_loadu_ps(scale + j);
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + r * c + j), m);
            __m512 v = _mm512_fmadd_ps(d, sc, _mm512_loadu_ps(beta + j));
            if (residual != NULL) {
                v = _mm512_add_ps(v, _mm512_loadu_ps(residual + r * c + j));
            }
            if (relu) {
                if (bits != NULL) { /* the gate the backward applies: 0 < y < cap, as 0 < v < cap */
                    bits[r * (c / 16) + j / 16] = (uint16_t) (_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ)
                                                              & _mm512_cmp_ps_mask(v, cap16, _CMP_LT_OQ));
                }
                v = rectify_capped16(v, cap16);
            }
            _mm512_storeu_ps(y + r * c + j, v);
        }
    }
}

/* backward_rows for c a multiple of 16. */
TARGET512 static void backward_rows16(const float *x, const float *dy, const float *y, const uint16_t *bits,
                                      const float *mean,
                                      const float *p, const float *q, const float *o, float *dx, int64_t from,
                                      int64_t to, int c, float cap) {
    const __m512 cap16 = _mm512_set1_ps(cap);
    for (int64_t r = from; r < to; r++) { /* row by row, as apply_rows16 */
        for (int j = 0; j < c; j += 16) {
            const __m512 m = _mm512_loadu_ps(mean + j), p16 = _mm512_loadu_ps(p + j), q16 = _mm512_loadu_ps(q + j);
            const __m512 o16 = _mm512_loadu_ps(o + j);
            __m512 g = _mm512_loadu_ps(dy + r * c + j);
            if (bits != NULL) {
                g = _mm512_maskz_mov_ps(bits[r * (c / 16) + j / 16], g);
            } else if (y != NULL) {
                g = gated16(g, _mm512_loadu_ps(y + r * c + j), cap16);
            }
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + r * c + j), m);
            _mm512_storeu_ps(dx + r * c + j, _mm512_add_ps(_mm512_fmadd_ps(g, p16, _mm512_mul_ps(d, q16)), o16));
        }
    }
}

/*
 * Whether the 512-bit loops run: the caller allows them (wide: -Dosprey.cpu.wideVectors, false to compare the two),
 * the processor has AVX-512F and the channels come in sixteens. Decided once a call, before the team starts.
 */
static int wide_rows(int wide, int c) {
    return wide && c % 16 == 0 && avx512f_supported();
}
#else
static int wide_rows(int wide, int c) {
    (void) wide;
    (void) c;
    return 0;
}
#endif

/*
 * A = sum (x - k), B = sum (x - k)^2 over rows from .. to-1 (forward: dy is null); or A = sum g, B = sum g (x - mean)
 * with g = dy where 0 < y < cap (y given: a fused ReLU) or dy (backward).
 */
VECTORIZED static void sum_rows(const float *restrict x, const float *restrict dy, const float *restrict y,
                                const float *restrict center, int64_t from, int64_t to, int c, float cap,
                                sums s) {
    for (int j = 0; j < c; j++) {
        s.sum_a[j] = 0;
        s.sum_b[j] = 0;
    }
    float *restrict a = s.block_a, *restrict b = s.block_b;
    for (int64_t first = from; first < to; first += BLOCK_ROWS) {
        int64_t last = first + BLOCK_ROWS < to ? first + BLOCK_ROWS : to;
        for (int j = 0; j < c; j++) {
            a[j] = 0;
            b[j] = 0;
        }
        for (int64_t r = first; r < last; r++) {
            const float *restrict xr = x + r * c;
            if (dy == NULL) {
                for (int j = 0; j < c; j++) {
                    float d = xr[j] - center[j];
                    a[j] += d;
                    b[j] += d * d;
                }
            } else {
                const float *restrict dyr = dy + r * c;
                if (y == NULL) {
                    for (int j = 0; j < c; j++) {
                        a[j] += dyr[j];
                        b[j] += dyr[j] * (xr[j] - center[j]);
                    }
                } else {
                    const float *restrict yr = y + r * c;
                    for (int j = 0; j < c; j++) {
                        float g = yr[j] > 0.0f && yr[j] < cap ? dyr[j] : 0.0f;
                        a[j] += g;
                        b[j] += g * (xr[j] - center[j]);
                    }
                }
            }
        }
        for (int j = 0; j < c; j++) {
            s.sum_a[j] += a[j];
            s.sum_b[j] += b[j];
        }
    }
}

/* sqrt(var + epsilon), in fp64: every per-channel coefficient is taken from it. */
static inline double channel_std(float variance, float epsilon) {
    return sqrt((double) variance + epsilon);
}

/* The team's sums, in thread order, into thread 0's. */
static void add_team_sums(void *scratch, int team, int c) {
    sums total = sums_of(scratch, 0, c);
    for (int t = 1; t < team; t++) {
        sums s = sums_of(scratch, t, c);
        for (int j = 0; j < c; j++) {
            total.sum_a[j] += s.sum_a[j];
            total.sum_b[j] += s.sum_b[j];
        }
    }
}

/* y = relu((x - mean) * scale + beta [+ residual]) over rows from .. to-1 (residual may be null: none). */
VECTORIZED static void apply_rows(const float *restrict x, const float *restrict residual, float *restrict y,
                                  const float *restrict mean, const float *restrict scale, const float *restrict beta,
                                  int64_t from, int64_t to, int c, int relu, float cap) {
    for (int64_t r = from; r < to; r++) {
        const float *restrict xr = x + r * c;
        float *restrict yr = y + r * c;
        if (residual == NULL) {
            for (int j = 0; j < c; j++) {
                yr[j] = rectify_value((xr[j] - mean[j]) * scale[j] + beta[j], relu, cap);
            }
        } else {
            const float *restrict rr = residual + r * c;
            for (int j = 0; j < c; j++) {
                yr[j] = rectify_value((xr[j] - mean[j]) * scale[j] + beta[j] + rr[j], relu, cap);
            }
        }
    }
}

/* dx = g p + (x - mean) q + o over rows from .. to-1, g = dy masked as in sum_rows. */
VECTORIZED static void backward_rows(const float *restrict x, const float *restrict dy, const float *restrict y,
                                     const float *restrict mean, const float *restrict p, const float *restrict q,
                                     const float *restrict o, float *restrict dx, int64_t from, int64_t to, int c,
                                     float cap) {
    for (int64_t r = from; r < to; r++) {
        const float *restrict xr = x + r * c, *restrict dyr = dy + r * c;
        float *restrict dxr = dx + r * c;
        if (y == NULL) {
            for (int j = 0; j < c; j++) {
                dxr[j] = dyr[j] * p[j] + (xr[j] - mean[j]) * q[j] + o[j];
            }
        } else {
            const float *restrict yr = y + r * c;
            for (int j = 0; j < c; j++) {
                float g = yr[j] > 0.0f && yr[j] < cap ? dyr[j] : 0.0f;
                dxr[j] = g * p[j] + (xr[j] - mean[j]) * q[j] + o[j];
            }
        }
    }
}

/*
 * The passes as the kernels run them: the 512-bit loops where wide (wide_rows, decided once a call), else the
 * compiler's. bits: the ReLU's gate as the 512-bit forward stored it, one bit an element (null: none, or not wide);
 * the compiler's loops take the gate from y instead.
 */
static void sum_pass(const float *x, const float *dy, const float *y, const uint16_t *bits, const float *center,
                     int64_t from, int64_t to, int c, float cap, sums s, int wide) {
#if defined(OSPREY_BN_WIDE)
    if (wide) {
        sum_rows16(x, dy, y, bits, center, from, to, c, cap, s);
        return;
    }
#endif
    (void) bits;
    (void) wide;
    sum_rows(x, dy, y, center, from, to, c, cap, s);
}

static void apply_pass(const float *x, const float *residual, float *y, uint16_t *bits, const float *mean,
                       const float *scale, const float *beta, int64_t from, int64_t to, int c, int relu, float cap,
                       int wide) {
#if defined(OSPREY_BN_WIDE)
    if (wide) {
        apply_rows16(x, residual, y, bits, mean, scale, beta, from, to, c, relu, cap);
        return;
    }
#endif
    (void) bits;
    (void) wide;
    apply_rows(x, residual, y, mean, scale, beta, from, to, c, relu, cap);
}

static void backward_pass(const float *x, const float *dy, const float *y, const uint16_t *bits, const float *mean,
                          const float *p, const float *q, const float *o, float *dx, int64_t from, int64_t to, int c,
                          float cap, int wide) {
#if defined(OSPREY_BN_WIDE)
    if (wide) {
        backward_rows16(x, dy, y, bits, mean, p, q, o, dx, from, to, c, cap);
        return;
    }
#endif
    (void) bits;
    (void) wide;
    backward_rows(x, dy, y, mean, p, q, o, dx, from, to, c, cap);
}

/*
 * Training forward: mean and variance (the batch's, biased) out, y = the normalization, plus residual where that is
 * not null, then the ReLU; coefficients: 2 * channels floats of room for the per-channel scale and the first row's
 * values. bits (may be null): where the 512-bit loops run with a ReLU, its gate for the backward, rows x c / 16
 * 16-bit words (gate_bits_bytes); untouched otherwise.
 */
static void forward(const float *x, const float *residual, int64_t rows, int c, const float *gamma, const float *beta,
                    float epsilon, int relu, float cap, float *y, uint16_t *bits, float *mean, float *variance,
                    float *coefficients, void *scratch, int threads, int wide) {
    float *scale = coefficients, *center = coefficients + c;
    for (int j = 0; j < c; j++) {
        center[j] = x[j];
    }
    wide = wide_rows(wide, c);
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t from = rows * id / team, to = rows * (id + 1) / team;
        sum_pass(x, NULL, NULL, NULL, center, from, to, c, cap, sums_of(scratch, id, c), wide);
#pragma omp barrier
        if (id == 0) {
            add_team_sums(scratch, team, c);
            sums total = sums_of(scratch, 0, c);
            for (int j = 0; j < c; j++) {
                double shifted = total.sum_a[j] / rows;
                double v = total.sum_b[j] / rows - shifted * shifted;
                mean[j] = (float) (center[j] + shifted);
                variance[j] = (float) (v > 0 ? v : 0);
                scale[j] = (float) (gamma[j] / channel_std(variance[j], epsilon));
            }
        }
#pragma omp barrier
        apply_pass(x, residual, y, bits, mean, scale, beta, from, to, c, relu, cap, wide);
    }
}

/*
 * Backward: dGamma = sum g xhat, dBeta = sum g, dx = gamma / sqrt(var + epsilon) (g - (dBeta + xhat dGamma) / rows),
 * xhat = (x - mean) / sqrt(var + epsilon); where relu is set, g is masked by the forward's gate bits (where given and
 * the 512-bit loops run: the forward stored them) or else by y. coefficients: 3 * channels floats of room.
 */
static void backward(const float *x, const float *y, const uint16_t *bits, const float *dy, int64_t rows, int c,
                     const float *gamma, const float *mean, const float *variance, float epsilon, int relu, float cap,
                     float *dx, float *d_gamma, float *d_beta, float *coefficients, void *scratch, int threads,
                     int wide) {
    float *p = coefficients, *q = coefficients + c, *o = coefficients + 2 * c;
    wide = wide_rows(wide, c);
    const uint16_t *bit_gate = relu && wide ? bits : NULL; /* the forward stored them where it ran wide */
    const float *y_gate = relu && bit_gate == NULL ? y : NULL;
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t from = rows * id / team, to = rows * (id + 1) / team;
        sum_pass(x, dy, y_gate, bit_gate, mean, from, to, c, cap, sums_of(scratch, id, c), wide);
#pragma omp barrier
        if (id == 0) {
            add_team_sums(scratch, team, c);
            sums total = sums_of(scratch, 0, c);
            for (int j = 0; j < c; j++) {
                double inv_std = 1.0 / channel_std(variance[j], epsilon);
                double dg = total.sum_b[j] * inv_std, db = total.sum_a[j];
                d_gamma[j] = (float) dg;
                d_beta[j] = (float) db;
                double gain = gamma[j] * inv_std;
                p[j] = (float) gain;
                q[j] = (float) (-gain * inv_std * dg / rows);
                o[j] = (float) (-gain * db / rows);
            }
        }
#pragma omp barrier
        backward_pass(x, dy, y_gate, bit_gate, mean, p, q, o, dx, from, to, c, cap, wide);
    }
}

/*
 * Bytes of gate bits the training forward stores for the backward (0: none, the backward reads y): one bit an element
 * where a ReLU is fused and the 512-bit loops run.
 */
JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_gateBitsBytes(JNIEnv *env, jclass type,
                                                                                jlong rows, jint channels,
                                                                                jboolean relu, jboolean wide) {
    (void) env;
    (void) type;
    return relu && wide_rows(wide, channels) ? rows * (channels / 16) * (jlong) sizeof(uint16_t) : 0;
}

/* Whether the 512-bit loops run for this many channels, where wide allows them (for tests). */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_wideRows(JNIEnv *env, jclass type,
                                                                              jint channels, jboolean wide) {
    (void) env;
    (void) type;
    return wide_rows(wide, channels) ? JNI_TRUE : JNI_FALSE;
}

/* Bytes of scratch the kernels need for this many channels on this many threads. */
JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_scratchBytes(JNIEnv *env, jclass type,
                                                                                  jint channels, jint threads) {
    (void) env;
    (void) type;
    return (jlong) threads * channels * (jlong) (2 * sizeof(double) + 2 * sizeof(float));
}

/* residual: 0 for none. */
JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_forward(
        JNIEnv *env, jclass type, jlong x, jlong residual, jlong rows, jint channels, jlong gamma, jlong beta,
        jfloat epsilon, jboolean relu, jfloat cap, jlong y, jlong bits, jlong mean, jlong variance, jlong coefficients,
        jlong scratch, jint threads, jboolean wide) {
    (void) env;
    (void) type;
    forward((const float *) (intptr_t) x, (const float *) (intptr_t) residual, rows, channels,
            (const float *) (intptr_t) gamma, (const float *) (intptr_t) beta, epsilon, relu, cap,
            (float *) (intptr_t) y, (uint16_t *) (intptr_t) bits, (float *) (intptr_t) mean,
            (float *) (intptr_t) variance, (float *) (intptr_t) coefficients, (void *) (intptr_t) scratch, threads,
            wide);
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_inference(
        JNIEnv *env, jclass type, jlong x, jlong rows, jint channels, jlong gamma, jlong beta, jlong mean,
        jlong variance, jfloat epsilon, jboolean relu, jfloat cap, jlong y, jlong coefficients, jint threads,
        jboolean wide) {
    (void) env;
    (void) type;
    const float *g = (const float *) (intptr_t) gamma, *v = (const float *) (intptr_t) variance;
    float *scale = (float *) (intptr_t) coefficients;
    for (int j = 0; j < channels; j++) {
        scale[j] = (float) (g[j] / channel_std(v[j], epsilon));
    }
    int take_wide = wide_rows(wide, channels);
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), team = omp_get_num_threads();
        apply_pass((const float *) (intptr_t) x, NULL, (float *) (intptr_t) y, NULL, (const float *) (intptr_t) mean,
                   scale, (const float *) (intptr_t) beta, rows * id / team, rows * (id + 1) / team, channels, relu,
                   cap, take_wide);
    }
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_backward(
        JNIEnv *env, jclass type, jlong x, jlong y, jlong bits, jlong dy, jlong rows, jint channels, jlong gamma,
        jlong mean, jlong variance, jfloat epsilon, jboolean relu, jfloat cap, jlong dx, jlong d_gamma, jlong d_beta,
        jlong coefficients, jlong scratch, jint threads, jboolean wide) {
    (void) env;
    (void) type;
    backward((const float *) (intptr_t) x, (const float *) (intptr_t) y, (const uint16_t *) (intptr_t) bits,
             (const float *) (intptr_t) dy, rows,
             channels, (const float *) (intptr_t) gamma, (const float *) (intptr_t) mean,
             (const float *) (intptr_t) variance, epsilon, relu, cap, (float *) (intptr_t) dx,
             (float *) (intptr_t) d_gamma, (float *) (intptr_t) d_beta, (float *) (intptr_t) coefficients,
             (void *) (intptr_t) scratch, threads, wide);
}
