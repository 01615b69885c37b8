/*
 * conv_pool.c's layer in int8, for dev.osprey.backend.cpu.PooledConvPlan in int8 plans: a convolution and the 2x2,
 * stride-2 max pooling after it, with 8-bit products summed exactly in 32 bits by VNNI (vpdpbusd: 4 u8 x s8 products
 * into each 32-bit lane). It takes an image classifier's first layer (at most 4 input channels) and 3x3 layers of up
 * to 64 input channels in fours (the tutorial CNN's second). The input is mapped onto 8 bits by its calibrated range
 * (as oneDNN's int8 convolutions map theirs: x / scale, rounded to nearest even, saturated; unsigned where the range
 * is never negative, else signed), or read as it is where an int8 layer handed it over in 8 bits. The kernel is mapped
 * onto signed 8 bits per output channel (largest magnitude / levels), as the int8 plans map kernels. vpdpbusd reads
 * its input bytes unsigned, so a signed input is stored plus 128 (its padding as 128, the value 0) and each channel's
 * sums are corrected by 128 times the sum of its 8-bit kernel, which the preparation keeps. Then the pooling's maximum
 * (of 32-bit integers: the scales are positive, so it commutes with them), the scales, bias and activation in real
 * units, and the store: fp32, or divided by the readers' scale into 8 bits, as converting the fp32 value would.
 *
 * Why VNNI pays on one channel here when oneDNN's int8 kernels do not: they multiply 4 input channels per 32-bit lane,
 * so 1 channel wastes three quarters of each product. Here a lane's 4 products are 4 consecutive bytes of one kernel
 * row instead (NHWC: a row's kw taps of C channels are kw x C consecutive input bytes), the bytes past the row's end
 * multiplied by zero weights. So each product needs one 4-byte load of the input as it lies in memory, broadcast:
 * no gathering of patches. The tutorial CNN's 3x3 kernel on 1 channel takes 3 multiply-adds per 16
 * output channels per output.
 *
 * Layouts. The prepared kernel: for each kernel row a and each 4-byte group d of its kw x C taps (D = ceil(kw C / 4)
 * groups), for each output channel k, 4 signed bytes (the taps 4d .. 4d+3 of row a; 0 past kw C): (kh, D, K, 4)
 * bytes, then K floats, the kernel's per-channel scales, then K 32-bit integers, the sums of each channel's 8-bit
 * kernel. Each thread maps its images onto 8 bits into its scratch,
 * padded (zeros; the conv's padding) and with slack past each row for the last group's load.
 *
 * Compiled for AVX-512F/BW/VL and VNNI by function attribute; the Java side calls it only where int8Supported() says
 * so.
 */
#include <jni.h>
#if !defined(__x86_64__)
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_int8Supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "avx512_ops.h"
#include "op_chain.h"
#include "openmp.h"

#define VNNI_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
/* Bytes of slack past each padded row: the last 4-byte group of a row may read up to 3 bytes past its taps. */
#define SLACK 4
/* The formats of the pooled output (the Java side's numbers, as in conv_pool.c). */
enum { Y_F32 = 0, Y_U8 = 1, Y_S8 = 2 };
/* The residual of Int8ConvPlan (the Java side's numbers): none, fp32, unsigned or signed 8 bits. */
enum { R_NONE = 0, R_F32 = 1, R_U8 = 2, R_S8 = 3 };

/*
 * sum += each lane's 4 products of x's unsigned bytes with w's signed ones (vpdpbusd: its first source is read
 * unsigned, its second, which may come from memory, signed). One instruction adding into sum's register: through the
 * intrinsic, GCC copies accumulators around each multiply-add (benchmarks/results/int8-winograd-2026-12-05.md).
 */
#define DPBUSD(sum, x, w) __asm__("vpdpbusd %2, %1, %0" : "+v"(sum) : "v"(x), "v"(w))

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_int8Supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                   && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")
               ? JNI_TRUE : JNI_FALSE;
}

/* 4-byte groups of a kernel row: kw x c taps, rounded up. */
static int groups_of(int kw, int c) {
    return (kw * c + 3) / 4;
}

/*
 * The Keras-layout (kh, kw, c, k) fp32 kernel g into u: each output channel mapped onto [-levels, levels] by its
 * largest magnitude (scale = largest / levels, 1 for an all-zero channel; rounded to nearest even), laid out as the
 * file comment says, the k scales after the kh x D x k x 4 bytes.
 */
JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_prepareInt8(JNIEnv *env, jclass type, jlong g_address,
                                                                            jint kh, jint kw, jint c, jint k,
                                                                            jfloat levels, jlong u_address) {
    (void) env;
    (void) type;
    const float *g = (const float *) (intptr_t) g_address;
    int8_t *u = (int8_t *) (intptr_t) u_address;
    const int groups = groups_of(kw, c), taps = kh * kw * c;
    float *scales = (float *) (u + (int64_t) kh * groups * k * 4);
    int32_t *sums = (int32_t *) (scales + k);
    for (int o = 0; o < k; o++) {
        float largest = 0;
        for (int t = 0; t < taps; t++) {
            float a = fabsf(g[(int64_t) t * k + o]);
            largest = a > largest ? a : largest;
        }
        scales[o] = largest == 0 ? 1.0f : largest / levels;
    }
    memset(u, 0, (size_t) kh * groups * k * 4);
    memset(sums, 0, (size_t) k * sizeof(int32_t));
    for (int a = 0; a < kh; a++) {
        for (int i = 0; i < kw * c; i++) { /* the row's taps (b, ch) in input order: i = b * c + ch */
            for (int o = 0; o < k; o++) {
                float v = nearbyintf(g[((int64_t) a * kw * c + i) * k + o] / scales[o]);
                v = v > levels ? levels : v < -levels ? -levels : v;
                u[(((int64_t) a * groups + i / 4) * k + o) * 4 + i % 4] = (int8_t) v;
                sums[o] += (int32_t) v;
            }
        }
    }
}

typedef struct {
    const void *x;          /* fp32, or 8-bit values already (x_bytes) */
    int x_bytes;            /* 1: x holds 8-bit values (handed over by an int8 layer), signed where x_signed */
    int h, w, c, kh, kw;
    int pad_top, pad_left;
    int ph, pw, k;
    int hp, wp;             /* the padded image: rows, and bytes per row (with slack) */
    int groups;
    float x_inverse;        /* 1 / the input's scale */
    int x_signed;           /* 1: the input is mapped onto signed 8 bits, stored plus 128 */
    const int8_t *u;        /* the prepared kernel */
    const float *kernel_scales;
    const int32_t *kernel_sums; /* each channel's 8-bit kernel summed: 128 times it corrects a signed input's sums */
    float x_scale;
    const float *bias;
    int rectify;
    float slope, cap;
    void *y;
    int y_format;
    float y_inverse;
    /* the unpooled 3x3 convolution (Int8ConvPlan) only: */
    int oh, ow;             /* its output's rows and columns */
    const void *residual;   /* added before the activation: fp32, or 8-bit values (residual_format) */
    int residual_format;    /* R_NONE, R_F32, R_U8 or R_S8 */
    float residual_step;    /* an 8-bit residual's real value per step */
} problem;

/*
 * Bytes of a thread's scratch: the part of one image the pooled map's convolution outputs read, padded, 8 bits a
 * value, each row with SLACK bytes after it, on 64-byte lines.
 */
static int64_t image_bytes(int c, int kh, int kw, int ph, int pw) {
    int64_t rows = (int64_t) 2 * ph + kh - 1, row_bytes = ((int64_t) 2 * pw + kw - 1) * c + SLACK;
    return (rows * row_bytes + 63) / 64 * 64;
}

JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_int8ScratchBytes(JNIEnv *env, jclass type, jint c,
                                                                                  jint kh, jint kw, jint ph, jint pw,
                                                                                  jint threads) {
    (void) env;
    (void) type;
    return image_bytes(c, kh, kw, ph, pw) * threads + 64;
}

/*
 * Image n mapped onto 8 bits into img: the rows and columns the convolution outputs read (hp rows down, from -pad_top;
 * wp bytes across, from -pad_left), the value 0 in the padding and the slack (a byte 0, or 128 for a signed input,
 * which is stored plus 128); only the padded rows from .. to-1, those a thread's outputs of the image read (at batch
 * 1, threads share an image).
 */
VNNI_TARGET static void map_image(const problem *pb, int64_t n, uint8_t *img, int from, int to) {
    const int64_t image_at = n * pb->h * pb->w * pb->c;
    const int padded_columns = (pb->wp - SLACK) / pb->c;
    /* the map's columns the padded row holds: from its column pad_left on, as many as fit (a 'valid' convolution's
       pooling may leave the last ones unread) */
    const int columns = pb->w < padded_columns - pb->pad_left ? pb->w : padded_columns - pb->pad_left;
    const __m512 inverse = _mm512_set1_ps(pb->x_inverse);
    /* clamped in float, so no value converts out of range; a signed value plus 128 */
    const __m512 low = _mm512_set1_ps(pb->x_signed ? -128.0f : 0.0f);
    const __m512 high = _mm512_set1_ps(pb->x_signed ? 127.0f : 255.0f);
    const __m512i offset = _mm512_set1_epi32(pb->x_signed ? 128 : 0);
    for (int r = from < 0 ? 0 : from; r < to && r < pb->hp; r++) {
        uint8_t *out = img + (int64_t) r * pb->wp;
        int yy = r - pb->pad_top;
        const int zero = pb->x_signed ? 128 : 0; /* the stored value of a real 0 */
        if (yy < 0 || yy >= pb->h || columns <= 0) {
            memset(out, zero, (size_t) pb->wp);
            continue;
        }
        const int64_t row_at = image_at + (int64_t) yy * pb->w * pb->c;
        uint8_t *dst = out + (int64_t) pb->pad_left * pb->c;
        int values = columns * pb->c, i = 0;
        /* only the padding around the values written below */
        memset(out, zero, (size_t) pb->pad_left * pb->c);
        memset(dst + values, zero, (size_t) (pb->wp - (int64_t) pb->pad_left * pb->c - values));
        if (pb->x_bytes) { /* 8-bit values as they are; signed ones plus 128 (the top bit flipped) */
            const uint8_t *bytes = (const uint8_t *) pb->x + row_at;
            const uint8_t flip = pb->x_signed ? 0x80 : 0x00;
            for (; i < values; i++) {
                dst[i] = (uint8_t) (bytes[i] ^ flip);
            }
            continue;
        }
        const float *src = (const float *) pb->x + row_at;
        for (; i + 16 <= values; i += 16) {
            __m512 f = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(src + i), inverse), low), high);
            __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), offset);
            _mm_storeu_si128((__m128i *) (dst + i), _mm512_cvtepi32_epi8(q));
        }
        if (i < values) {
            __mmask16 rest = (__mmask16) ((1u << (values - i)) - 1);
            __m512 f = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(rest, src + i), inverse), low),
                                     high);
            __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), offset);
            _mm_mask_storeu_epi8(dst + i, rest, _mm512_cvtepi32_epi8(q));
        }
    }
}

/* The 4 bytes at p as the 32-bit value of each lane (one broadcast load, any alignment). */
typedef int32_t unaligned_int32 __attribute__((aligned(1), may_alias));
#define BROADCAST4(p) _mm512_set1_epi32(*(const unaligned_int32 *) (p))

/*
 * Sixteen channels' sums of one pooled output (the four convolution outputs under it), in the output's units:
 * their maximum (of 32-bit integers: the scales are positive, so it commutes with them), scaled, the bias, the
 * activation, stored at `at` (an element index of y).
 */
/* The activations the kernel is compiled for: none, Keras' ReLU without slope or cap, any other ReLU. */
enum { ACT_NONE, ACT_RELU, ACT_GENERAL };

VNNI_TARGET INLINE void finish16(const problem *pb, __m512i s00, __m512i s01, __m512i s10, __m512i s11, int k0,
                                 int64_t at, const int act) {
    __m512i m = _mm512_max_epi32(_mm512_max_epi32(s00, s01), _mm512_max_epi32(s10, s11));
    if (pb->x_signed) { /* the input was stored plus 128: take 128 times the kernel's sum back (after the maximum) */
        m = _mm512_sub_epi32(m, _mm512_slli_epi32(_mm512_loadu_si512((const void *) (pb->kernel_sums + k0)), 7));
    }
    /* the real value: sums times the input's and the kernel's scales, the bias as one multiply-add, the activation */
    const __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(pb->kernel_scales + k0), _mm512_set1_ps(pb->x_scale));
    __m512 v = pb->bias != NULL ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), scale, _mm512_loadu_ps(pb->bias + k0))
                                : _mm512_mul_ps(_mm512_cvtepi32_ps(m), scale);
    if (act == ACT_GENERAL) {
        v = rectify16(v, _mm512_set1_ps(pb->slope), _mm512_set1_ps(pb->cap));
    } else if (act == ACT_RELU && pb->y_format != Y_U8) { /* unsigned 8 bits clamp at 0 below anyway */
        v = _mm512_max_ps(_mm512_setzero_ps(), v); /* rectify16's value, a NaN included */
    }
    if (pb->y_format == Y_F32) {
        _mm512_storeu_ps((float *) pb->y + at, v);
        return;
    }
    /* divided by the readers' scale (times its inverse), clamped in float (so no value converts out of range), rounded
       to nearest even, to 8 bits */
    const int u8 = pb->y_format == Y_U8;
    v = _mm512_mul_ps(v, _mm512_set1_ps(pb->y_inverse));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(u8 ? 0.0f : -128.0f)), _mm512_set1_ps(u8 ? 255.0f : 127.0f));
    __m512i q = _mm512_cvtps_epi32(v);
    _mm_storeu_si128((__m128i *) ((uint8_t *) pb->y + at), u8 ? _mm512_cvtusepi32_epi8(q) : _mm512_cvtsepi32_epi8(q));
}

/*
 * One pooled output (py, px), channels k0 .. k0 + 16 vectors - 1 (vectors 1, 2 or 4, a constant where this is
 * inlined), from the mapped image img: the four convolution outputs under it summed exactly, each input group
 * broadcast once for every vector of channels, then finish16.
 */
VNNI_TARGET INLINE void pooled_output(const problem *pb, const uint8_t *img, int py, int px, int k0, const int vectors,
                                      int64_t at, const int act) {
    __m512i s[4][4]; /* [vector][conv output: 00, 01, 10, 11] */
    for (int v = 0; v < vectors; v++) {
        for (int o = 0; o < 4; o++) {
            s[v][o] = _mm512_setzero_si512();
        }
    }
    const int c = pb->c;
    for (int a = 0; a < pb->kh; a++) {
        const uint8_t *row0 = img + (int64_t) (2 * py + a) * pb->wp + (int64_t) 2 * px * c;
        const uint8_t *row1 = row0 + pb->wp;
        const int8_t *wa = pb->u + ((int64_t) a * pb->groups * pb->k + k0) * 4;
        for (int d = 0; d < pb->groups; d++) {
            const int8_t *wd = wa + (int64_t) d * pb->k * 4;
            const __m512i x00 = BROADCAST4(row0 + 4 * d), x01 = BROADCAST4(row0 + c + 4 * d);
            const __m512i x10 = BROADCAST4(row1 + 4 * d), x11 = BROADCAST4(row1 + c + 4 * d);
            for (int v = 0; v < vectors; v++) {
                const __m512i w = _mm512_loadu_si512((const void *) (wd + 64 * v));
                DPBUSD(s[v][0], x00, w);
                DPBUSD(s[v][1], x01, w);
                DPBUSD(s[v][2], x10, w);
                DPBUSD(s[v][3], x11, w);
            }
        }
    }
    for (int v = 0; v < vectors; v++) {
        finish16(pb, s[v][0], s[v][1], s[v][2], s[v][3], k0 + 16 * v, at + 16 * v, act);
    }
}

/*
 * Pooled rows from .. to-1 for a first layer whose kernel rows are one 4-byte group each, 3x3 (so on 1 channel), of
 * 16 or 32 output channels (vectors 1 or 2): the general path below reloads the kernel and
 * the per-channel constants for every pooled output, since its stores may alias them, and loads the two convolution
 * rows' shared input rows twice. Here the 3 x vectors kernel vectors and the constants are loaded once into registers,
 * and each of the 4 input rows under a pooled row is broadcast once per column: 8 loads for the 12 x vectors
 * multiply-adds of a pooled output. The same arithmetic as finish16, so the same bits.
 */
VNNI_TARGET INLINE void pooled_rows_one_group3(const problem *pb, int64_t from, int64_t to, uint8_t *img,
                                               const int vectors, const int act) {
    const int c = pb->c, wp = pb->wp, pw = pb->pw, k = pb->k, x_signed = pb->x_signed, y_format = pb->y_format;
    const int has_bias = pb->bias != NULL;
    __m512i w[3][2], correction[2];
    __m512 scale[2], bias[2];
    for (int v = 0; v < vectors; v++) {
        for (int a = 0; a < 3; a++) {
            w[a][v] = _mm512_loadu_si512((const void *) (pb->u + ((int64_t) a * k + 16 * v) * 4));
        }
        scale[v] = _mm512_mul_ps(_mm512_loadu_ps(pb->kernel_scales + 16 * v), _mm512_set1_ps(pb->x_scale));
        bias[v] = has_bias ? _mm512_loadu_ps(pb->bias + 16 * v) : _mm512_setzero_ps();
        correction[v] = _mm512_slli_epi32(_mm512_loadu_si512((const void *) (pb->kernel_sums + 16 * v)), 7);
    }
    const __m512 slope = _mm512_set1_ps(pb->slope), cap = _mm512_set1_ps(pb->cap);
    const __m512 y_inverse = _mm512_set1_ps(pb->y_inverse);
    const __m512 low = _mm512_set1_ps(y_format == Y_U8 ? 0.0f : -128.0f);
    const __m512 high = _mm512_set1_ps(y_format == Y_U8 ? 255.0f : 127.0f);
    void *const y = pb->y;
    int64_t mapped = -1;
    for (int64_t r = from; r < to; r++) {
        int64_t n = r / pb->ph;
        int py = (int) (r % pb->ph);
        if (n != mapped) { /* the padded rows its pooled rows py .. (this thread's last of the image) read */
            int64_t last = (n + 1) * pb->ph < to ? (n + 1) * pb->ph - 1 : to - 1;
            map_image(pb, n, img, 2 * py, 2 * (int) (last % pb->ph) + pb->kh + 1);
            mapped = n;
        }
        const uint8_t *row = img + (int64_t) 2 * py * wp;
        for (int px = 0; px < pw; px++) {
            const uint8_t *p = row + (int64_t) 2 * px * c;
            __m512i x[4][2];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                x[i][0] = BROADCAST4(p + (int64_t) i * wp);
                x[i][1] = BROADCAST4(p + (int64_t) i * wp + c);
            }
            const int64_t at = (r * pw + px) * k;
            for (int v = 0; v < vectors; v++) {
                __m512i s00 = _mm512_setzero_si512(), s01 = s00, s10 = s00, s11 = s00;
#pragma GCC unroll 3
                for (int a = 0; a < 3; a++) {
                    DPBUSD(s00, x[a][0], w[a][v]);
                    DPBUSD(s01, x[a][1], w[a][v]);
                    DPBUSD(s10, x[a + 1][0], w[a][v]);
                    DPBUSD(s11, x[a + 1][1], w[a][v]);
                }
                __m512i m = _mm512_max_epi32(_mm512_max_epi32(s00, s01), _mm512_max_epi32(s10, s11));
                if (x_signed) {
                    m = _mm512_sub_epi32(m, correction[v]);
                }
                __m512 val = has_bias ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), scale[v], bias[v])
                                      : _mm512_mul_ps(_mm512_cvtepi32_ps(m), scale[v]);
                if (act == ACT_GENERAL) {
                    val = rectify16(val, slope, cap);
                } else if (act == ACT_RELU && y_format != Y_U8) {
                    val = _mm512_max_ps(_mm512_setzero_ps(), val);
                }
                if (y_format == Y_F32) {
                    _mm512_storeu_ps((float *) y + at + 16 * v, val);
                    continue;
                }
                val = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(val, y_inverse), low), high);
                __m512i q = _mm512_cvtps_epi32(val);
                _mm_storeu_si128((__m128i *) ((uint8_t *) y + at + 16 * v),
                                 y_format == Y_U8 ? _mm512_cvtusepi32_epi8(q) : _mm512_cvtsepi32_epi8(q));
            }
        }
    }
}

/*
 * Pooled rows from .. to-1 over the batch, each image mapped into img when its first row here comes; compiled per
 * activation (act), so a plain ReLU costs one instruction, or none before an unsigned 8-bit store.
 */
VNNI_TARGET INLINE void pooled_rows_body(const problem *pb, int64_t from, int64_t to, uint8_t *img, const int act) {
    if (pb->groups == 1 && pb->kh == 3 && pb->kw == 3 && (pb->k == 16 || pb->k == 32)) {
        if (pb->k == 16) {
            pooled_rows_one_group3(pb, from, to, img, 1, act);
        } else {
            pooled_rows_one_group3(pb, from, to, img, 2, act);
        }
        return;
    }
    int64_t mapped = -1;
    for (int64_t r = from; r < to; r++) {
        int64_t n = r / pb->ph;
        int py = (int) (r % pb->ph);
        if (n != mapped) { /* the padded rows its pooled rows py .. (this thread's last of the image) read */
            int64_t last = (n + 1) * pb->ph < to ? (n + 1) * pb->ph - 1 : to - 1;
            map_image(pb, n, img, 2 * py, 2 * (int) (last % pb->ph) + pb->kh + 1);
            mapped = n;
        }
        for (int px = 0; px < pb->pw; px++) {
            const int64_t at = (r * pb->pw + px) * pb->k;
            int k0 = 0;
            for (; k0 + 64 <= pb->k; k0 += 64) {
                pooled_output(pb, img, py, px, k0, 4, at + k0, act);
            }
            if (k0 + 32 <= pb->k) {
                pooled_output(pb, img, py, px, k0, 2, at + k0, act);
                k0 += 32;
            }
            if (k0 < pb->k) {
                pooled_output(pb, img, py, px, k0, 1, at + k0, act);
            }
        }
    }
}

/* name_none, name_relu and name_general: body compiled for each activation (a constant where it is inlined). */
#define PER_ACTIVATION(name, body)                                                                              \
    VNNI_TARGET static void name##_none(const problem *pb, int64_t from, int64_t to, uint8_t *img) {            \
        body(pb, from, to, img, ACT_NONE);                                                                      \
    }                                                                                                           \
    VNNI_TARGET static void name##_relu(const problem *pb, int64_t from, int64_t to, uint8_t *img) {            \
        body(pb, from, to, img, ACT_RELU);                                                                      \
    }                                                                                                           \
    VNNI_TARGET static void name##_general(const problem *pb, int64_t from, int64_t to, uint8_t *img) {         \
        body(pb, from, to, img, ACT_GENERAL);                                                                   \
    }

PER_ACTIVATION(pooled_rows, pooled_rows_body)

/* A kernel's body over units from .. to-1 (pooled rows, or row pairs) with its thread's image scratch. */
typedef void (*units_body)(const problem *, int64_t, int64_t, uint8_t *);

/* The body compiled for the activation: none, a plain ReLU (no slope, no cap), or any other ReLU. */
static units_body body_for(int rectify, float slope, float cap, units_body none, units_body relu, units_body general) {
    return !rectify ? none : slope == 0 && isinf(cap) && cap > 0 ? relu : general;
}

/*
 * body over units 0 .. units-1, split in contiguous runs between a team of at most threads OpenMP threads, each with
 * its own image scratch of per_thread bytes from the 64-byte aligned start of scratch.
 */
static void run_units(units_body body, const problem *pb, int64_t units, jlong scratch, int64_t per_thread,
                      int threads) {
    uint8_t *base = (uint8_t *) (((intptr_t) scratch + 63) & ~(intptr_t) 63);
    int team = units < threads ? (int) units : threads;
    if (team <= 1) {
        body(pb, 0, units, base);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        int id = omp_get_thread_num(), size = omp_get_num_threads();
        body(pb, units * id / size, units * (id + 1) / size, base + per_thread * id);
    }
}

/*
 * y (batch, ph, pw, k) = the 2x2 stride-2 max pooling of rectify(conv(x) + bias), in int8: x NHWC, fp32 mapped onto
 * 8 bits by x_scale, or 8-bit values already (x_bytes), signed where x_signed, else unsigned; the kernel as
 * prepareInt8 wrote it; y fp32 (y_format 0) or 8 bits mapped by y_scale;
 * k a multiple of 16; scratch: int8ScratchBytes; threads: the OpenMP team.
 */
JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_PooledConvPlan_forwardInt8(
        JNIEnv *env, jclass type, jlong x, jboolean x_bytes, jfloat x_scale, jboolean x_signed, jint batch, jint h,
        jint w, jint c, jint kh, jint kw, jint pad_top, jint pad_left, jint ph, jint pw, jlong u, jint k, jlong bias,
        jboolean rectify, jfloat slope, jfloat cap, jlong y, jint y_format, jfloat y_scale, jlong scratch,
        jint threads) {
    (void) env;
    (void) type;
    const int groups = groups_of(kw, c);
    problem pb = {
        .x = (const void *) (intptr_t) x, .x_bytes = x_bytes ? 1 : 0, .h = h, .w = w, .c = c, .kh = kh, .kw = kw,
        .pad_top = pad_top, .pad_left = pad_left, .ph = ph, .pw = pw, .k = k, .hp = 2 * ph + kh - 1,
        .wp = (2 * pw + kw - 1) * c + SLACK, .groups = groups, .x_inverse = 1.0f / x_scale,
        .x_signed = x_signed ? 1 : 0, .u = (const int8_t *) (intptr_t) u,
        .kernel_scales = (const float *) ((const int8_t *) (intptr_t) u + (int64_t) kh * groups * k * 4),
        .kernel_sums = (const int32_t *) ((const float *) ((const int8_t *) (intptr_t) u
                                                           + (int64_t) kh * groups * k * 4) + k),
        .x_scale = x_scale, .bias = (const float *) (intptr_t) bias, .rectify = rectify, .slope = slope, .cap = cap,
        .y = (void *) (intptr_t) y, .y_format = y_format, .y_inverse = y_format == Y_F32 ? 1.0f : 1.0f / y_scale};
    run_units(body_for(rectify, slope, cap, pooled_rows_none, pooled_rows_relu, pooled_rows_general), &pb,
              (int64_t) batch * ph, scratch, image_bytes(c, kh, kw, ph, pw), threads);
}

/*
 * ---- Int8ConvPlan: a 3x3 stride-1 convolution, without a pooling ----
 *
 * For the 16-channel convolutions of a CIFAR ResNet's first stage, where oneDNN's int8 kernels run at about 71% of
 * the VNNI peak: each 16-channel output vector takes one broadcast input group per multiply-add, so input loads
 * bound it. Here a block is 2 output rows by CONV_BLOCK pixels: the 4 input rows under the 2 output rows are each
 * broadcast once per group and pixel and serve both output rows (kernel row r for the first, r - 1 for the second),
 * 2/3 of a load per multiply-add; with 16 channels, once per input column and 4 channels, serving the 3 taps that
 * read the column too (0.28 of a load per multiply-add); and for its stem, a few channels of fp32 input (mapped onto 8 bits as the image is
 * copied), whose kernel rows' bytes group in fours as the pooled kernel groups them (a row of 3 taps of 3 channels: 3
 * groups, the last one's fourth byte weighing 0). The kernel as prepareInt8 lays it out (3 rows); the image mapped
 * into the thread's scratch by map_image, padded, with a spare row and columns for a block past the output's edge,
 * whose values are computed and not stored. Then per output: the exact sum (signed inputs corrected), scaled, the
 * bias, the residual (fp32, or 8-bit values times their step), the activation, the store (fp32, or divided by the
 * readers' scale into 8 bits): the real value oneDNN's int8 convolution with the same operands computes.
 */
#define CONV_BLOCK 8

/* Rows and row bytes of a thread's padded image for an oh x ow output. */
static int64_t conv_image_rows(int oh) {
    return (int64_t) (oh + 1) / 2 * 2 + 2;
}

static int64_t conv_row_bytes(int c, int ow) {
    return ((int64_t) (ow + CONV_BLOCK - 1) / CONV_BLOCK * CONV_BLOCK + 2) * c + SLACK;
}

static int64_t conv_image_bytes(int c, int oh, int ow) {
    return (conv_image_rows(oh) * conv_row_bytes(c, ow) + 63) / 64 * 64;
}

JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_Int8ConvPlan_scratchBytes(JNIEnv *env, jclass type, jint c,
                                                                             jint oh, jint ow, jint threads) {
    (void) env;
    (void) type;
    return conv_image_bytes(c, oh, ow) * threads + 64;
}

/*
 * The operand formats conv_finish16 and conv_finish64_u8 may be compiled for (a ResNet's first stage: an unsigned 8-bit input and output,
 * with no residual or an unsigned 8-bit one), so that its per-output tests cost nothing; FORMATS_ANY reads them from
 * the problem.
 */
enum { FORMATS_ANY, FORMATS_U8, FORMATS_U8_RESIDUAL_U8 };

/* One output of 16 channels from its sum m: scaled, bias, residual, activation, stored at element e. */
VNNI_TARGET INLINE void conv_finish16(const problem *pb, __m512i m, __m512 scale, __m512 bias, __m512i correction,
                                      int64_t e, const int act, const int formats) {
    const int x_signed = formats == FORMATS_ANY ? pb->x_signed : 0;
    const int y_format = formats == FORMATS_ANY ? pb->y_format : Y_U8;
    const int residual_format = formats == FORMATS_ANY ? pb->residual_format
                                : formats == FORMATS_U8 ? R_NONE : R_U8;
    if (x_signed) {
        m = _mm512_sub_epi32(m, correction);
    }
    __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), scale, bias);
    if (residual_format == R_F32) {
        v = _mm512_add_ps(v, _mm512_loadu_ps((const float *) pb->residual + e));
    } else if (residual_format != R_NONE) {
        __m128i q = _mm_loadu_si128((const __m128i *) ((const uint8_t *) pb->residual + e));
        __m512i r = residual_format == R_U8 ? _mm512_cvtepu8_epi32(q) : _mm512_cvtepi8_epi32(q);
        v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(r), _mm512_set1_ps(pb->residual_step), v);
    }
    if (act == ACT_GENERAL) {
        v = rectify16(v, _mm512_set1_ps(pb->slope), _mm512_set1_ps(pb->cap));
    } else if (act == ACT_RELU && y_format != Y_U8) {
        v = _mm512_max_ps(_mm512_setzero_ps(), v);
    }
    if (y_format == Y_F32) {
        _mm512_storeu_ps((float *) pb->y + e, v);
        return;
    }
    const int u8 = y_format == Y_U8;
    v = _mm512_mul_ps(v, _mm512_set1_ps(pb->y_inverse));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(u8 ? 0.0f : -128.0f)), _mm512_set1_ps(u8 ? 255.0f : 127.0f));
    __m512i q = _mm512_cvtps_epi32(v);
    _mm_storeu_si128((__m128i *) ((uint8_t *) pb->y + e), u8 ? _mm512_cvtusepi32_epi8(q) : _mm512_cvtsepi32_epi8(q));
}

/*
 * Four adjacent outputs of 16 channels (64 contiguous bytes of y at element e: k is 16) from their sums m (signed
 * inputs corrected), into an unsigned 8-bit output after no activation or a ReLU, with no residual or an unsigned
 * 8-bit one. The
 * readers' step is folded into the scale, bias and residual step the caller hands over (y_scale, y_bias, r_step), and
 * the four are packed by two saturating packs (negative values to 0: the ReLU; above 255 to 255) and one dword
 * permutation into one store: about half the instructions of four conv_finish16 calls, the same bytes but where
 * folding the step moves a value's last bit across a rounding boundary.
 */
VNNI_TARGET INLINE void conv_finish64_u8(const problem *pb, __m512i m0, __m512i m1, __m512i m2, __m512i m3,
                                         __m512i correction, __m512 y_scale, __m512 y_bias, __m512 r_step, int64_t e,
                                         const int x_signed, const int residual_format) {
    __m512i m[4] = {m0, m1, m2, m3};
    const __m512 high = _mm512_set1_ps(255.0f);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        if (x_signed) {
            m[i] = _mm512_sub_epi32(m[i], correction);
        }
        __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m[i]), y_scale, y_bias);
        if (residual_format == R_U8) {
            __m128i q = _mm_loadu_si128((const __m128i *) ((const uint8_t *) pb->residual + e + 16 * i));
            v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q)), r_step, v);
        }
        /* 255 where larger, so the conversion cannot overflow; a NaN stays NaN (min returns its second operand),
           converts to INT_MIN and packs to 0, as conv_finish16 stores it */
        m[i] = _mm512_cvtps_epi32(_mm512_min_ps(high, v));
    }
    /* per 128-bit lane L, dword j: pixel j's channels 4L .. 4L + 3; the permutation puts pixel j's 16 bytes j-th */
    __m512i packed = _mm512_packus_epi16(_mm512_packus_epi32(m[0], m[1]), _mm512_packus_epi32(m[2], m[3]));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_si512((void *) ((uint8_t *) pb->y + e), _mm512_permutexvar_epi32(order, packed));
}

/*
 * Output rows oy and oy + 1 (the second only where it exists), pixels x0 .. x0 + CONV_BLOCK - 1 (those before ow),
 * channels 16 v .. 16 v + 15, of image n, from its mapped copy img.
 */
VNNI_TARGET INLINE void conv_block(const problem *pb, const uint8_t *img, int64_t n, int oy, int x0, int v,
                                   const int act, const int fixed_c, const int fixed_k, const int formats) {
    __m512i acc0[CONV_BLOCK], acc1[CONV_BLOCK];
#pragma GCC unroll 8
    for (int p = 0; p < CONV_BLOCK; p++) {
        acc0[p] = _mm512_setzero_si512();
        acc1[p] = acc0[p];
    }
    /* channels as compile-time constants where fixed_c and fixed_k say (a ResNet's stem and first stage) */
    const int c = fixed_c ? fixed_c : pb->c, groups = fixed_c ? (3 * fixed_c + 3) / 4 : pb->groups;
    const int k = fixed_k ? fixed_k : pb->k;
    const int8_t *u = pb->u + 64 * v;
    const uint8_t *rows = img + (int64_t) oy * pb->wp + (int64_t) x0 * c;
    if (fixed_c == 16 && fixed_k == 16) {
        /* each input column's 4 channels broadcast once and used by the 3 taps (pixels) that read them, for both
           output rows: 160 broadcasts for 576 multiply-adds, where one per tap took 384 */
        for (int cg = 0; cg < 4; cg++) {
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const uint8_t *row = rows + (int64_t) r * pb->wp + 4 * cg;
                __m512i w0[3], w1[3];
#pragma GCC unroll 3
                for (int t = 0; t < 3; t++) { /* group 4 t + cg of kernel rows r and r - 1 */
                    w0[t] = r < 3 ? _mm512_loadu_si512((const void *) (u + ((int64_t) r * 12 + 4 * t + cg) * 64))
                                  : _mm512_setzero_si512();
                    w1[t] = r > 0 ? _mm512_loadu_si512((const void *) (u + ((int64_t) (r - 1) * 12 + 4 * t + cg) * 64))
                                  : _mm512_setzero_si512();
                }
#pragma GCC unroll 10
                for (int j = 0; j < CONV_BLOCK + 2; j++) {
                    const __m512i b = BROADCAST4(row + (int64_t) j * 16);
#pragma GCC unroll 3
                    for (int t = 0; t < 3; t++) {
                        const int p = j - t;
                        if (p >= 0 && p < CONV_BLOCK) {
                            if (r < 3) {
                                DPBUSD(acc0[p], b, w0[t]);
                            }
                            if (r > 0) {
                                DPBUSD(acc1[p], b, w1[t]);
                            }
                        }
                    }
                }
            }
        }
    } else
    /* the groups outside, the 4 input rows inside: one loop carries the accumulators (GCC copied them around the
       multiply-adds of a row loop that ended the first output row's) */
    for (int d = 0; d < groups; d++) {
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) { /* input row oy + r: kernel row r of output row oy, r - 1 of output row oy + 1 */
            const uint8_t *row = rows + (int64_t) r * pb->wp;
            const __m512i w0 = r < 3 ? _mm512_loadu_si512((const void *) (u + ((int64_t) r * groups + d) * k * 4))
                                     : _mm512_setzero_si512();
            const __m512i w1 = r > 0 ? _mm512_loadu_si512((const void *) (u + ((int64_t) (r - 1) * groups + d) * k * 4))
                                     : _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int p = 0; p < CONV_BLOCK; p++) {
                const __m512i b = BROADCAST4(row + (int64_t) p * c + 4 * d);
                if (r < 3) {
                    DPBUSD(acc0[p], b, w0);
                }
                if (r > 0) {
                    DPBUSD(acc1[p], b, w1);
                }
            }
        }
    }
    const __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(pb->kernel_scales + 16 * v), _mm512_set1_ps(pb->x_scale));
    const __m512 bias = pb->bias != NULL ? _mm512_loadu_ps(pb->bias + 16 * v) : _mm512_setzero_ps();
    const __m512i correction = _mm512_slli_epi32(_mm512_loadu_si512((const void *) (pb->kernel_sums + 16 * v)), 7);
    const int pixels = pb->ow - x0 < CONV_BLOCK ? pb->ow - x0 : CONV_BLOCK;
    const int64_t e0 = ((n * pb->oh + oy) * pb->ow + x0) * k + 16 * v;
    const int second = oy + 1 < pb->oh;
    const int64_t e1 = e0 + (int64_t) pb->ow * k;
    const int x_signed = formats == FORMATS_ANY ? pb->x_signed : 0;
    const int residual_format = formats == FORMATS_ANY ? pb->residual_format
                                : formats == FORMATS_U8 ? R_NONE : R_U8;
    if (k == 16 && pixels == CONV_BLOCK && act != ACT_GENERAL && pb->y_format == Y_U8
        && (residual_format == R_NONE || residual_format == R_U8)) { /* a whole block: four outputs a store */
        const __m512 y_inverse = _mm512_set1_ps(pb->y_inverse);
        const __m512 y_scale = _mm512_mul_ps(scale, y_inverse), y_bias = _mm512_mul_ps(bias, y_inverse);
        const __m512 r_step = _mm512_mul_ps(_mm512_set1_ps(pb->residual_step), y_inverse);
#pragma GCC unroll 2
        for (int p = 0; p < CONV_BLOCK; p += 4) {
            conv_finish64_u8(pb, acc0[p], acc0[p + 1], acc0[p + 2], acc0[p + 3], correction, y_scale, y_bias, r_step,
                             e0 + (int64_t) p * 16, x_signed, residual_format);
            if (second) {
                conv_finish64_u8(pb, acc1[p], acc1[p + 1], acc1[p + 2], acc1[p + 3], correction, y_scale, y_bias,
                                 r_step, e1 + (int64_t) p * 16, x_signed, residual_format);
            }
        }
        return;
    }
    /* a constant count with the test inside, so the accumulators stay in registers (indexed by constants only) */
#pragma GCC unroll 8
    for (int p = 0; p < CONV_BLOCK; p++) {
        if (p < pixels) {
            conv_finish16(pb, acc0[p], scale, bias, correction, e0 + (int64_t) p * k, act, formats);
            if (second) {
                conv_finish16(pb, acc1[p], scale, bias, correction, e1 + (int64_t) p * k, act, formats);
            }
        }
    }
}

/* Row pairs from .. to-1 over the batch (ceil(oh / 2) an image), each image mapped into img when first needed. */
VNNI_TARGET INLINE void conv_pairs_body(const problem *pb, int64_t from, int64_t to, uint8_t *img, const int act) {
    const int pairs = (pb->oh + 1) / 2;
    int64_t mapped = -1;
    for (int64_t r = from; r < to; r++) {
        int64_t n = r / pairs;
        int oy = (int) (r % pairs) * 2;
        if (n != mapped) { /* the padded rows its row pairs oy .. (this thread's last of the image) read */
            int64_t last = (n + 1) * pairs < to ? (n + 1) * pairs - 1 : to - 1;
            map_image(pb, n, img, oy, 2 * (int) (last % pairs) + 4);
            mapped = n;
        }
        for (int x0 = 0; x0 < pb->ow; x0 += CONV_BLOCK) {
            if (pb->c == 16 && pb->k == 16) {
                if (act == ACT_RELU && !pb->x_signed && pb->y_format == Y_U8 && pb->residual_format == R_NONE) {
                    conv_block(pb, img, n, oy, x0, 0, act, 16, 16, FORMATS_U8);
                } else if (act == ACT_RELU && !pb->x_signed && pb->y_format == Y_U8
                           && pb->residual_format == R_U8) {
                    conv_block(pb, img, n, oy, x0, 0, act, 16, 16, FORMATS_U8_RESIDUAL_U8);
                } else {
                    conv_block(pb, img, n, oy, x0, 0, act, 16, 16, FORMATS_ANY);
                }
                continue;
            }
            if (pb->c == 3 && pb->k == 16) { /* a stem on RGB images */
                conv_block(pb, img, n, oy, x0, 0, act, 3, 16, FORMATS_ANY);
                continue;
            }
            for (int v = 0; v < pb->k / 16; v++) {
                conv_block(pb, img, n, oy, x0, v, act, 0, 0, FORMATS_ANY);
            }
        }
    }
}

PER_ACTIVATION(conv_pairs, conv_pairs_body)

/*
 * An Int8ConvPlan pass as an op-chain step (op_chain.h): its problem, body and bytes of image scratch a thread; the
 * scratch is the one the step is run with (a chain's: the backend's scratchpad at each run), or base where it ran at
 * once on the scratchpad of the time.
 */
typedef struct {
    problem pb;
    units_body body;
    uint8_t *base;
    int64_t per_thread, units;
} conv_step;

/* Thread `thread`'s image scratch: 64-byte aligned from base, or from the run's scratch. */
static uint8_t *conv_step_scratch(const conv_step *s, float *scratch, int thread) {
    uint8_t *base = s->base != NULL ? s->base : (uint8_t *) (((intptr_t) scratch + 63) & ~(intptr_t) 63);
    return base + s->per_thread * thread;
}

/* Thread `thread`'s contiguous share of the row pairs, as run_units splits them. */
static void conv_step_run(const void *args, int thread, int team, float *scratch) {
    const conv_step *s = (const conv_step *) args;
    s->body(&s->pb, s->units * thread / team, s->units * (thread + 1) / team, conv_step_scratch(s, scratch, thread));
}

/* Row pairs from .. to-1 on thread `thread` (a chain's depth-first stretch: whole images), scratch its own. */
static void conv_step_images(const void *args, int64_t from, int64_t to, int thread, float *scratch) {
    (void) thread;
    const conv_step *s = (const conv_step *) args;
    s->body(&s->pb, from, to, (uint8_t *) scratch);
}

/*
 * y (batch, oh, ow, k) = rectify(conv(x) + bias [+ residual]) for a 3x3 stride-1 kernel: x NHWC (batch, h, w, c), 8-bit
 * values (x_bytes; signed where x_signed) of real value x_scale a step, or fp32 mapped so; the kernel as prepareInt8
 * wrote it; k a multiple of 16; the residual (batch, oh, ow, k) by residual_format, 8-bit ones residual_step a step;
 * y fp32 (y_format 0) or 8 bits mapped by y_scale; scratch: scratchBytes (0 in a chain: each run's scratchpad);
 * threads: the OpenMP team. Runs now (chain 0) or is appended to that op chain, as a step that works image by image;
 * JNI_FALSE where the chain could not grow.
 */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Int8ConvPlan_forward(
        JNIEnv *env, jclass type, jlong x, jboolean x_bytes, jfloat x_scale, jboolean x_signed, jint batch, jint h,
        jint w, jint c, jint pad_top, jint pad_left, jint oh, jint ow, jlong u, jint k, jlong bias, jboolean rectify,
        jfloat slope, jfloat cap, jlong residual, jint residual_format, jfloat residual_step, jlong y, jint y_format,
        jfloat y_scale, jlong scratch, jint threads, jlong chain) {
    (void) env;
    (void) type;
    const int groups = groups_of(3, c);
    const int8_t *prepared = (const int8_t *) (intptr_t) u;
    const float *scales = (const float *) (prepared + (int64_t) 3 * groups * k * 4);
    problem pb = {
        .x = (const void *) (intptr_t) x, .x_bytes = x_bytes ? 1 : 0, .h = h, .w = w, .c = c, .kh = 3, .kw = 3,
        .pad_top = pad_top, .pad_left = pad_left, .ph = 0, .pw = 0, .k = k, .hp = (int) conv_image_rows(oh),
        .wp = (int) conv_row_bytes(c, ow), .groups = groups, .x_inverse = 1.0f / x_scale, .x_signed = x_signed ? 1 : 0,
        .u = prepared, .kernel_scales = scales, .kernel_sums = (const int32_t *) (scales + k), .x_scale = x_scale,
        .bias = (const float *) (intptr_t) bias, .rectify = rectify, .slope = slope, .cap = cap,
        .y = (void *) (intptr_t) y, .y_format = y_format, .y_inverse = y_format == Y_F32 ? 1.0f : 1.0f / y_scale,
        .oh = oh, .ow = ow, .residual = (const void *) (intptr_t) residual, .residual_format = residual_format,
        .residual_step = residual_step};
    const int64_t pairs = (oh + 1) / 2, units = (int64_t) batch * pairs;
    osprey_step step = {conv_step_run, units < threads ? (int) units : threads, {{0}}, conv_step_images, batch, pairs,
                        {{(uintptr_t) y, (int64_t) oh * ow * k * (y_format == Y_F32 ? 4 : 1)},
                         {(uintptr_t) x, (int64_t) h * w * c * (x_bytes ? 1 : 4)},
                         {(uintptr_t) residual, (int64_t) oh * ow * k * (residual_format == R_F32 ? 4 : 1)}},
                        conv_image_bytes(c, oh, ow)};
    conv_step *s = (conv_step *) step.args.bytes;
    _Static_assert(sizeof(conv_step) <= STEP_ARGS_BYTES, "an int8 convolution's operands fit a step");
    s->pb = pb;
    s->body = body_for(rectify, slope, cap, conv_pairs_none, conv_pairs_relu, conv_pairs_general);
    s->base = scratch == 0 ? NULL : (uint8_t *) (((intptr_t) scratch + 63) & ~(intptr_t) 63);
    s->per_thread = conv_image_bytes(c, oh, ow);
    s->units = units;
    if (chain == 0) {
        osprey_run_step(&step, 0);
        return JNI_TRUE;
    }
    return osprey_chain_append(chain, &step) ? JNI_TRUE : JNI_FALSE;
}
#endif
