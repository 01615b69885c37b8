/*
 * A convolution of few input channels followed by 2x2 max pooling of stride 2, as one pass, fp32, for
 * dev.osprey.backend.cpu.PooledConvPlan: an image classifier's first layer (the tutorial CNN's 1-channel 3x3
 * convolution to 32 channels, then MaxPooling2D). Run apart, the convolution writes a map 4x the pooled one's size
 * and the pooling reads it back; with one or a few input channels both are bound by that memory traffic, not by the
 * multiply-adds. Here each pooled output's 2x2 convolution outputs are summed in registers, their maximum taken, the
 * bias added and the activation applied (a ReLU family with a non-negative slope never decreases, so it commutes with
 * the maximum), and only the pooled map is stored.
 *
 * x is NHWC (batch, h, w, c); the kernel in Keras' layout (kh, kw, c, k), k a multiple of 8; stride 1, undilated, one
 * group; any padding; the pooled map (batch, ph, pw, k) takes the convolution outputs 0 .. 2ph-1 down and 0 .. 2pw-1
 * across (an odd last row or column is dropped, as 'valid' pooling does). The AVX2 + FMA code is compiled for those
 * instructions by function attribute, and the Java side calls it only where supported() says the processor has them.
 *
 * In int8 plans the layer stays fp32 (its one input channel leaves 8-bit kernels little to do) but may hand its pooled
 * output to int8 readers as 8-bit values: each pixel's channels are computed into a small fp32 row, then multiplied by
 * the inverse of the readers' scale, rounded to nearest even and saturated to unsigned or signed 8 bits, so the
 * readers need no conversion pass of their own over a 4x larger fp32 map.
 */
#include <jni.h>

#if !defined(__x86_64__)
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_wideSupported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <stdint.h>
#include "avx512_ops.h"
#include "openmp.h"

/* The most taps (kernel rows x columns x input channels) a problem may have: 7 x 7 x 4, the Java side's bounds. */
#define MAX_TAPS 196

typedef struct {
    const float *x;
    int h, w, c;
    int kh, kw;
    int pad_top, pad_left;
    int ph, pw, k;     /* the pooled map: height, width, channels */
    const float *g;    /* the kernel, (kh, kw, c, k) */
    const float *bias; /* k floats, or NULL */
    int rectify;       /* 0: the identity; else Keras' ReLU: slope * x below 0 (slope >= 0), x up to cap, cap above */
    float slope, cap;
    float *y;
    int y_format;                /* Y_F32, or Y_U8 / Y_S8: y holds bytes, each pooled value divided by y_scale */
    float y_inverse;             /* 1 / the readers' scale, for 8-bit outputs */
    int wide;                    /* 1: full 16-float vectors in 512 bits (AVX-512F), 0: in two 256-bit halves */
    int taps;                    /* kh x kw x c: the products each output sums */
    int offset[MAX_TAPS];        /* per tap (a, b, ch), in Keras' order: its input's offset from the window's corner */
} problem;

/* The formats of the pooled output: fp32, or mapped onto unsigned or signed 8 bits (the Java side's numbers). */
enum { Y_F32 = 0, Y_U8 = 1, Y_S8 = 2 };

/* The input at (yy, xx), channel ch, of the image at image, or 0 in the padding. */
INLINE float input_at(const problem *pb, const float *image, int yy, int xx, int ch) {
    return yy >= 0 && xx >= 0 && yy < pb->h && xx < pb->w ? image[((int64_t) yy * pb->w + xx) * pb->c + ch] : 0.0f;
}

/* A window's four convolution outputs, for 8 output channels (a) and the next 8 (b): kept in registers. */
typedef struct {
    __m256 a00, a01, a10, a11, b00, b01, b10, b11;
} window_sums;

/* One tap: the four inputs under it (broadcast) times its kernel row of 8 channels (w0) and of the next 8 (w1). */
TARGET INLINE void add_tap(window_sums *s, __m256 i00, __m256 i01, __m256 i10, __m256 i11, __m256 w0, __m256 w1,
                           const int vectors) {
    s->a00 = _mm256_fmadd_ps(i00, w0, s->a00);
    s->a01 = _mm256_fmadd_ps(i01, w0, s->a01);
    s->a10 = _mm256_fmadd_ps(i10, w0, s->a10);
    s->a11 = _mm256_fmadd_ps(i11, w0, s->a11);
    if (vectors == 2) {
        s->b00 = _mm256_fmadd_ps(i00, w1, s->b00);
        s->b01 = _mm256_fmadd_ps(i01, w1, s->b01);
        s->b10 = _mm256_fmadd_ps(i10, w1, s->b10);
        s->b11 = _mm256_fmadd_ps(i11, w1, s->b11);
    }
}

/*
 * One pooled output (py, px) of image n, channels k0 .. k0 + 8 * vectors - 1 (vectors 1 or 2, a constant where this
 * is inlined): the 4 convolution outputs under it in 4 x vectors registers, summed over the kernel's taps and input
 * channels (each input broadcast, each kernel row of 8 channels loaded once per tap for the 4 outputs).
 */
TARGET INLINE void pooled_output(const problem *pb, const float *image, int py, int px, int k0, const int vectors,
                                 float *out) {
    const __m256 zero = _mm256_setzero_ps();
    window_sums sum = {zero, zero, zero, zero, zero, zero, zero, zero};
    const int y0 = 2 * py - pb->pad_top, x0 = 2 * px - pb->pad_left;
    const int inside = y0 >= 0 && x0 >= 0 && y0 + pb->kh + 1 <= pb->h && x0 + pb->kw + 1 <= pb->w;
    if (inside) { /* one flat loop over the taps, their input offsets from the table, the kernel rows in order */
        const float *corner = image + ((int64_t) y0 * pb->w + x0) * pb->c;
        const int64_t right = pb->c, down = (int64_t) pb->w * pb->c;
        const float *taps = pb->g + k0;
        for (int t = 0; t < pb->taps; t++, taps += pb->k) {
            const float *p = corner + pb->offset[t];
            __m256 w0 = _mm256_loadu_ps(taps), w1 = vectors == 2 ? _mm256_loadu_ps(taps + 8) : w0;
            __m256 i00 = _mm256_broadcast_ss(p), i01 = _mm256_broadcast_ss(p + right);
            __m256 i10 = _mm256_broadcast_ss(p + down), i11 = _mm256_broadcast_ss(p + down + right);
            add_tap(&sum, i00, i01, i10, i11, w0, w1, vectors);
        }
    }
    for (int a = 0; inside == 0 && a < pb->kh; a++) { /* a window over the padding: each input checked */
        for (int b = 0; b < pb->kw; b++) {
            const float *taps = pb->g + ((int64_t) (a * pb->kw + b) * pb->c) * pb->k + k0;
            for (int ch = 0; ch < pb->c; ch++, taps += pb->k) {
                __m256 w0 = _mm256_loadu_ps(taps), w1 = vectors == 2 ? _mm256_loadu_ps(taps + 8) : w0;
                __m256 i00 = _mm256_set1_ps(input_at(pb, image, y0 + a, x0 + b, ch));
                __m256 i01 = _mm256_set1_ps(input_at(pb, image, y0 + a, x0 + b + 1, ch));
                __m256 i10 = _mm256_set1_ps(input_at(pb, image, y0 + a + 1, x0 + b, ch));
                __m256 i11 = _mm256_set1_ps(input_at(pb, image, y0 + a + 1, x0 + b + 1, ch));
                add_tap(&sum, i00, i01, i10, i11, w0, w1, vectors);
            }
        }
    }
    const __m256 slope = _mm256_set1_ps(pb->slope), cap = _mm256_set1_ps(pb->cap);
    for (int v = 0; v < vectors; v++) {
        __m256 m = v == 0 ? max4(sum.a00, sum.a01, sum.a10, sum.a11) : max4(sum.b00, sum.b01, sum.b10, sum.b11);
        if (pb->bias != NULL) {
            m = _mm256_add_ps(m, _mm256_loadu_ps(pb->bias + k0 + 8 * v));
        }
        _mm256_storeu_ps(out + 8 * v, pb->rectify ? rectify(m, slope, cap) : m);
    }
}

/*
 * pooled_output in 512-bit vectors of 16 channels (vectors 1 or 2: channels k0 .. k0 + 16 * vectors - 1), for
 * processors with full-width AVX-512 units (AMD Zen 5 multiplies 512 bits at twice the 256-bit rate). Each channel's
 * sums take the same products in the same order as in pooled_output: the same bits.
 */
TARGET512 INLINE void pooled_output16(const problem *pb, const float *image, int py, int px, int k0, const int vectors,
                                      float *out) {
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, b00 = a00, b01 = a00, b10 = a00, b11 = a00;
    const int y0 = 2 * py - pb->pad_top, x0 = 2 * px - pb->pad_left;
    const int inside = y0 >= 0 && x0 >= 0 && y0 + pb->kh + 1 <= pb->h && x0 + pb->kw + 1 <= pb->w;
#define OSPREY_TAP(i00, i01, i10, i11) \
    do { \
        a00 = _mm512_fmadd_ps(i00, w0, a00); a01 = _mm512_fmadd_ps(i01, w0, a01); \
        a10 = _mm512_fmadd_ps(i10, w0, a10); a11 = _mm512_fmadd_ps(i11, w0, a11); \
        if (vectors == 2) { \
            b00 = _mm512_fmadd_ps(i00, w1, b00); b01 = _mm512_fmadd_ps(i01, w1, b01); \
            b10 = _mm512_fmadd_ps(i10, w1, b10); b11 = _mm512_fmadd_ps(i11, w1, b11); \
        } \
    } while (0)
    if (inside) {
        const float *corner = image + ((int64_t) y0 * pb->w + x0) * pb->c;
        const int64_t right = pb->c, down = (int64_t) pb->w * pb->c;
        const float *taps = pb->g + k0;
        for (int t = 0; t < pb->taps; t++, taps += pb->k) {
            const float *p = corner + pb->offset[t];
            const __m512 w0 = _mm512_loadu_ps(taps), w1 = vectors == 2 ? _mm512_loadu_ps(taps + 16) : w0;
            OSPREY_TAP(_mm512_set1_ps(p[0]), _mm512_set1_ps(p[right]), _mm512_set1_ps(p[down]),
                       _mm512_set1_ps(p[down + right]));
        }
    }
    for (int a = 0; inside == 0 && a < pb->kh; a++) { /* a window over the padding: each input checked */
        for (int b = 0; b < pb->kw; b++) {
            const float *taps = pb->g + ((int64_t) (a * pb->kw + b) * pb->c) * pb->k + k0;
            for (int ch = 0; ch < pb->c; ch++, taps += pb->k) {
                const __m512 w0 = _mm512_loadu_ps(taps), w1 = vectors == 2 ? _mm512_loadu_ps(taps + 16) : w0;
                OSPREY_TAP(_mm512_set1_ps(input_at(pb, image, y0 + a, x0 + b, ch)),
                           _mm512_set1_ps(input_at(pb, image, y0 + a, x0 + b + 1, ch)),
                           _mm512_set1_ps(input_at(pb, image, y0 + a + 1, x0 + b, ch)),
                           _mm512_set1_ps(input_at(pb, image, y0 + a + 1, x0 + b + 1, ch)));
            }
        }
    }
#undef OSPREY_TAP
    const __m512 slope = _mm512_set1_ps(pb->slope), cap = _mm512_set1_ps(pb->cap);
    for (int v = 0; v < vectors; v++) {
        __m512 m = v == 0 ? max4_16(a00, a01, a10, a11) : max4_16(b00, b01, b10, b11);
        if (pb->bias != NULL) {
            m = _mm512_add_ps(m, _mm512_loadu_ps(pb->bias + k0 + 16 * v));
        }
        _mm512_storeu_ps(out + 16 * v, pb->rectify ? rectify16(m, slope, cap) : m);
    }
}

/* One pooled output's channels 32, then 16 at a time in 512-bit vectors, the last 8 (if any) in 256 bits. */
TARGET512 static void pooled_output_wide(const problem *pb, const float *image, int py, int px, float *out) {
    int k0 = 0;
    for (; k0 + 32 <= pb->k; k0 += 32) {
        pooled_output16(pb, image, py, px, k0, 2, out + k0);
    }
    if (k0 + 16 <= pb->k) {
        pooled_output16(pb, image, py, px, k0, 1, out + k0);
        k0 += 16;
    }
    if (k0 < pb->k) {
        pooled_output(pb, image, py, px, k0, 1, out + k0);
    }
}

/* One pooled output's channels into out: 32, then 16 at a time (512-bit) or 16 at a time (256-bit), then the last 8. */
TARGET static void pooled_pixel(const problem *pb, const float *image, int py, int px, float *out) {
    if (pb->wide) {
        pooled_output_wide(pb, image, py, px, out);
        return;
    }
    int k0 = 0;
    for (; k0 + 16 <= pb->k; k0 += 16) {
        pooled_output(pb, image, py, px, k0, 2, out + k0);
    }
    if (k0 < pb->k) {
        pooled_output(pb, image, py, px, k0, 1, out + k0);
    }
}

/* The most output channels an 8-bit output takes (its fp32 row is on the stack); the Java side checks. */
#define MAX_QUANTIZED_CHANNELS 1024

/*
 * k fp32 values (k a multiple of 8) into 8-bit ones at q: v times inverse (1 / the scale), saturated to 0..255 (Y_U8)
 * or -128..127 (Y_S8), rounded to nearest even (the default rounding mode).
 */
TARGET static void quantize_row(const float *v, int k, float inverse, int format, uint8_t *q) {
    const __m256 scale = _mm256_set1_ps(inverse);
    /* clamped in float, so no value converts out of range */
    const __m256 low = _mm256_set1_ps(format == Y_U8 ? 0.0f : -128.0f);
    const __m256 high = _mm256_set1_ps(format == Y_U8 ? 255.0f : 127.0f);
    /* each 128-bit half's four 32-bit values to their low bytes, in order, in the half's first 4 bytes */
    const __m256i low_bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                               0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    for (int i = 0; i < k; i += 8) {
        __m256 f = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), scale), low), high);
        __m256i n = _mm256_shuffle_epi8(_mm256_cvtps_epi32(f), low_bytes);
        uint64_t eight = (uint64_t) (uint32_t) _mm256_extract_epi32(n, 0)
                         | (uint64_t) (uint32_t) _mm256_extract_epi32(n, 4) << 32;
        __builtin_memcpy(q + i, &eight, 8);
    }
}

/* Pooled rows from .. to-1, counted over the batch (row r: image r / ph, row r % ph). */
TARGET static void pooled_rows(const problem *pb, int64_t from, int64_t to) {
    float staged[MAX_QUANTIZED_CHANNELS] __attribute__((aligned(64))); /* an 8-bit output's fp32 row */
    for (int64_t r = from; r < to; r++) {
        int64_t n = r / pb->ph;
        int py = (int) (r % pb->ph);
        const float *image = pb->x + n * pb->h * pb->w * pb->c;
        for (int px = 0; px < pb->pw; px++) {
            int64_t at = (r * pb->pw + px) * pb->k;
            if (pb->y_format == Y_F32) {
                pooled_pixel(pb, image, py, px, pb->y + at);
            } else {
                pooled_pixel(pb, image, py, px, staged);
                quantize_row(staged, pb->k, pb->y_inverse, pb->y_format, (uint8_t *) pb->y + at);
            }
        }
    }
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_wideSupported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() && avx512f_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_forward(
        JNIEnv *env, jclass type, jlong x, jint batch, jint h, jint w, jint c, jint kh, jint kw, jint pad_top,
        jint pad_left, jint ph, jint pw, jlong g, jint k, jlong bias, jboolean rectify, jfloat slope, jfloat cap,
        jlong y, jint y_format, jfloat y_scale, jint threads, jboolean wide) {
    (void) env;
    (void) type;
    problem pb = {
        .x = (const float *) (intptr_t) x, .h = h, .w = w, .c = c, .kh = kh, .kw = kw, .pad_top = pad_top,
        .pad_left = pad_left, .ph = ph, .pw = pw, .k = k, .g = (const float *) (intptr_t) g,
        .bias = (const float *) (intptr_t) bias, .rectify = rectify, .slope = slope, .cap = cap,
        .y = (float *) (intptr_t) y, .y_format = y_format, .y_inverse = 1.0f / y_scale,
        .wide = wide && avx512f_supported(), .taps = kh * kw * c,
    };
    if (pb.taps > MAX_TAPS || (y_format != Y_F32 && k > MAX_QUANTIZED_CHANNELS)) {
        return; /* the Java side never asks for more; refuse rather than overrun the tables */
    }
    for (int a = 0, t = 0; a < kh; a++) {
        for (int b = 0; b < kw; b++) {
            for (int ch = 0; ch < c; ch++, t++) {
                pb.offset[t] = (a * w + b) * c + ch;
            }
        }
    }
    const int64_t rows = (int64_t) batch * ph;
    int team = rows < threads ? (int) rows : threads;
    if (team <= 1) { /* no parallel region: forking even a team of one costs microseconds at batch 1 */
        pooled_rows(&pb, 0, rows);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        int id = omp_get_thread_num();
        int size = omp_get_num_threads();
        pooled_rows(&pb, rows * id / size, rows * (id + 1) / size);
    }
}
#endif
