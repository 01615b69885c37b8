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
 *             (0 < y < cap: taken from the output, so no mask is kept between the passes), then one pass writing dx
 * The team splits the rows evenly. Each thread sums its rows a block at a time in fp32 (vectors along the channels)
 * and adds each block's sums into its fp64 sums; past a barrier thread 0 adds the threads' sums in thread order and
 * works out the per-channel coefficients, so the results depend on the team's size only, never on timing.
 * A NaN passes the ReLU as it is, as in the CUDA kernels.
 */
#include <jni.h>
#include <math.h>
#include <stdint.h>
#include "openmp.h"

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
static inline float rectify(float v, int relu, float cap) {
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
                yr[j] = rectify((xr[j] - mean[j]) * scale[j] + beta[j], relu, cap);
            }
        } else {
            const float *restrict rr = residual + r * c;
            for (int j = 0; j < c; j++) {
                yr[j] = rectify((xr[j] - mean[j]) * scale[j] + beta[j] + rr[j], relu, cap);
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
 * Training forward: mean and variance (the batch's, biased) out, y = the normalization, plus residual where that is
 * not null, then the ReLU; coefficients: 2 * channels floats of room for the per-channel scale and the first row's
 * values.
 */
static void forward(const float *x, const float *residual, int64_t rows, int c, const float *gamma, const float *beta,
                    float epsilon, int relu, float cap, float *y, float *mean, float *variance, float *coefficients,
                    void *scratch, int threads) {
    float *scale = coefficients, *center = coefficients + c;
    for (int j = 0; j < c; j++) {
        center[j] = x[j];
    }
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t from = rows * id / team, to = rows * (id + 1) / team;
        sum_rows(x, NULL, NULL, center, from, to, c, cap, sums_of(scratch, id, c));
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
        apply_rows(x, residual, y, mean, scale, beta, from, to, c, relu, cap);
    }
}

/*
 * Backward: dGamma = sum g xhat, dBeta = sum g, dx = gamma / sqrt(var + epsilon) (g - (dBeta + xhat dGamma) / rows),
 * xhat = (x - mean) / sqrt(var + epsilon); y masks g where relu is set. coefficients: 3 * channels floats of room.
 */
static void backward(const float *x, const float *y, const float *dy, int64_t rows, int c, const float *gamma,
                     const float *mean, const float *variance, float epsilon, int relu, float cap, float *dx,
                     float *d_gamma, float *d_beta, float *coefficients, void *scratch, int threads) {
    float *p = coefficients, *q = coefficients + c, *o = coefficients + 2 * c;
    const float *mask = relu ? y : NULL;
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t from = rows * id / team, to = rows * (id + 1) / team;
        sum_rows(x, dy, mask, mean, from, to, c, cap, sums_of(scratch, id, c));
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
        backward_rows(x, dy, mask, mean, p, q, o, dx, from, to, c, cap);
    }
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
        jfloat epsilon, jboolean relu, jfloat cap, jlong y, jlong mean, jlong variance, jlong coefficients,
        jlong scratch, jint threads) {
    (void) env;
    (void) type;
    forward((const float *) (intptr_t) x, (const float *) (intptr_t) residual, rows, channels,
            (const float *) (intptr_t) gamma,
            (const float *) (intptr_t) beta, epsilon, relu, cap, (float *) (intptr_t) y, (float *) (intptr_t) mean,
            (float *) (intptr_t) variance, (float *) (intptr_t) coefficients, (void *) (intptr_t) scratch, threads);
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_inference(
        JNIEnv *env, jclass type, jlong x, jlong rows, jint channels, jlong gamma, jlong beta, jlong mean,
        jlong variance, jfloat epsilon, jboolean relu, jfloat cap, jlong y, jlong coefficients, jint threads) {
    (void) env;
    (void) type;
    const float *g = (const float *) (intptr_t) gamma, *v = (const float *) (intptr_t) variance;
    float *scale = (float *) (intptr_t) coefficients;
    for (int j = 0; j < channels; j++) {
        scale[j] = (float) (g[j] / channel_std(v[j], epsilon));
    }
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), team = omp_get_num_threads();
        apply_rows((const float *) (intptr_t) x, NULL, (float *) (intptr_t) y, (const float *) (intptr_t) mean,
                   scale, (const float *) (intptr_t) beta, rows * id / team, rows * (id + 1) / team, channels, relu,
                   cap);
    }
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_BatchNormKernels_backward(
        JNIEnv *env, jclass type, jlong x, jlong y, jlong dy, jlong rows, jint channels, jlong gamma, jlong mean,
        jlong variance, jfloat epsilon, jboolean relu, jfloat cap, jlong dx, jlong d_gamma, jlong d_beta,
        jlong coefficients, jlong scratch, jint threads) {
    (void) env;
    (void) type;
    backward((const float *) (intptr_t) x, (const float *) (intptr_t) y, (const float *) (intptr_t) dy, rows,
             channels, (const float *) (intptr_t) gamma, (const float *) (intptr_t) mean,
             (const float *) (intptr_t) variance, epsilon, relu, cap, (float *) (intptr_t) dx,
             (float *) (intptr_t) d_gamma, (float *) (intptr_t) d_beta, (float *) (intptr_t) coefficients,
             (void *) (intptr_t) scratch, threads);
}
