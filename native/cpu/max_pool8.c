/*
 * Max pooling of 8-bit values (unsigned or signed), NHWC, for dev.osprey.backend.cpu.Int8MaxPoolPlan: an int8 plan's
 * pooling between two convolutions that hand 8-bit activations over. The maximum of 8-bit values is exact (their
 * mapping onto 8 bits keeps order), so this is oneDNN's result, byte for byte; taken here with 32-byte vectors of
 * channels, it costs what reading the map costs. oneDNN's int8 pooling took 0.14 ms at batch 256 on the tutorial
 * CNN's second pooling (11x11x64 maps; 9% of that model's int8 inference), on the small team the backend gives such
 * ops.
 *
 * Any window, stride and padding: a window's places in the padding are left out (as oneDNN's max pooling leaves
 * them), and one with no place in the map (possible only with padding at least a window wide, which Keras never
 * makes) is given the smallest value. The AVX2 code is compiled by function attribute; the Java side calls it only where
 * supported() says the processor has AVX2.
 */
#include <jni.h>
#if !defined(__x86_64__)
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Int8MaxPoolPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <stdint.h>
#include "avx2_ops.h"
#include "openmp.h"

typedef struct {
    const uint8_t *x;
    uint8_t *y;
    int h, w, c;
    int ph, pw;               /* the pooled map */
    int kh, kw, sh, sw;       /* window and stride */
    int pad_top, pad_left;
    int is_signed;            /* 1: signed 8-bit values, 0: unsigned */
} problem;

/* The larger of each byte pair, signed or unsigned. */
TARGET INLINE __m256i max32(__m256i a, __m256i b, int is_signed) {
    return is_signed ? _mm256_max_epi8(a, b) : _mm256_max_epu8(a, b);
}

/* Output rows from .. to-1, counted over the batch (row r: image r / ph, row r % ph). */
TARGET static void pooled_rows(const problem *pb, int64_t from, int64_t to) {
    const int c = pb->c, vectors = c / 32;
    const uint8_t lowest = pb->is_signed ? 0x80 : 0x00;
    for (int64_t r = from; r < to; r++) {
        const int64_t n = r / pb->ph;
        const int oy = (int) (r % pb->ph);
        int y0 = oy * pb->sh - pb->pad_top, y1 = y0 + pb->kh;
        y0 = y0 < 0 ? 0 : y0;
        y1 = y1 > pb->h ? pb->h : y1;
        const uint8_t *image = pb->x + n * pb->h * pb->w * c;
        for (int ox = 0; ox < pb->pw; ox++) {
            int x0 = ox * pb->sw - pb->pad_left, x1 = x0 + pb->kw;
            x0 = x0 < 0 ? 0 : x0;
            x1 = x1 > pb->w ? pb->w : x1;
            uint8_t *out = pb->y + (r * pb->pw + ox) * c;
            for (int v = 0; v < vectors; v++) {
                __m256i m = _mm256_set1_epi8((char) lowest);
                for (int yy = y0; yy < y1; yy++) {
                    for (int xx = x0; xx < x1; xx++) {
                        const uint8_t *p = image + ((int64_t) yy * pb->w + xx) * c + 32 * v;
                        m = max32(m, _mm256_loadu_si256((const __m256i *) p), pb->is_signed);
                    }
                }
                _mm256_storeu_si256((__m256i *) (out + 32 * v), m);
            }
            for (int ch = 32 * vectors; ch < c; ch++) { /* channels past the last 32 */
                int best = pb->is_signed ? -128 : 0;
                for (int yy = y0; yy < y1; yy++) {
                    for (int xx = x0; xx < x1; xx++) {
                        uint8_t b = image[((int64_t) yy * pb->w + xx) * c + ch];
                        int value = pb->is_signed ? (int) (int8_t) b : (int) b;
                        best = value > best ? value : best;
                    }
                }
                out[ch] = (uint8_t) best;
            }
        }
    }
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Int8MaxPoolPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() ? JNI_TRUE : JNI_FALSE;
}

/* y (batch, ph, pw, c) = the max pooling of x (batch, h, w, c), 8-bit values, on a team of `threads`. */
JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_Int8MaxPoolPlan_forward(
        JNIEnv *env, jclass type, jlong x, jint batch, jint h, jint w, jint c, jint ph, jint pw, jint kh, jint kw,
        jint sh, jint sw, jint pad_top, jint pad_left, jboolean is_signed, jlong y, jint threads) {
    (void) env;
    (void) type;
    problem pb = {(const uint8_t *) (intptr_t) x, (uint8_t *) (intptr_t) y, h, w, c, ph, pw, kh, kw, sh, sw,
                  pad_top, pad_left, is_signed ? 1 : 0};
    const int64_t rows = (int64_t) batch * ph;
    int team = rows < threads ? (int) rows : threads;
    if (team <= 1) {
        pooled_rows(&pb, 0, rows);
        return;
    }
#pragma omp parallel num_threads(team)
    {
        int id = omp_get_thread_num(), size = omp_get_num_threads();
        pooled_rows(&pb, rows * id / size, rows * (id + 1) / size);
    }
}
#endif
