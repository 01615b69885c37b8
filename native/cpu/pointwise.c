/*
 * A 1x1 convolution over few pixels, fp32, for dev.osprey.backend.cpu.PointwiseConvPlan: y = rectify(x W + b [+ r])
 * for rows = batch x height x width output pixels (NHWC: each pixel a row of in channels), W (in, units) as Keras keeps
 * a 1x1 kernel; at stride 1 the rows of x are y's, with a stride each row of y reads the pixel of x under it
 * (input_row). Two ways:
 *
 * - A few rows (forward): a matrix-vector product bound by streaming W (MobileNetV2's late layers at 32x32x3 and
 *   batch 1: 1x1 maps, up to 1.6 MB of kernel each), where oneDNN's 1x1 kernel reached 15-70 GB/s and spent 3 us or
 *   more setting up each call. W is prepared once into panels: the columns are split evenly over the threads, each
 *   thread's share into panels of at most 64 (8 vectors), and a panel's in x width floats are stored row after row,
 *   so each thread reads its part of W as one forward stream. For each row of x a panel's sums stay in registers;
 *   the prepared panels are padded with zeros to whole vectors.
 * - More rows (forwardRows): a matrix product over W prepared in strips of 16 columns, in tiles of 6 rows (below);
 *   where the processor has AVX-512F, tiles of 32 columns in 512-bit vectors, which give the same bits.
 *
 * Either way each output is one sum over the inputs in input order with FMA (the same order whatever the rows,
 * threads, panels or tiles), then bias, residual and activation are applied as it is stored. The columns past the
 * last whole vector (units % 8 in 8-float vectors, up to 15 in the 512-bit tiles' 16-float ones) are read and written
 * through a mask, never past the end of W, b, r or y.
 */
#include <jni.h>

#if !defined(__x86_64__)
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PointwiseConvPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include "avx512_ops.h"
#include "op_chain.h"


/* The most vectors of 8 columns in a panel: their sums, a broadcast input and a loaded vector fill the registers. */
#define PANEL_VECTORS 8

/* Columns [8 * first, 8 * end) of a thread's share of `vectors` vectors, when `threads` threads split them. */
static void thread_share(int vectors, int threads, int thread, int *first, int *end) {
    *first = (int) ((int64_t) vectors * thread / threads);
    *end = (int) ((int64_t) vectors * (thread + 1) / threads);
}

/* The count of panels of a share of n vectors: as few as hold it, then as even as they can be. */
static int panels_of(int n) {
    return (n + PANEL_VECTORS - 1) / PANEL_VECTORS;
}

/* Vectors [first, end) of panel j of the share [begin, begin + n) split into `panels` panels. */
static void panel_bounds(int begin, int n, int panels, int j, int *first, int *end) {
    *first = begin + n * j / panels;
    *end = begin + n * (j + 1) / panels;
}

/*
 * Columns [c, c + 8) of one row of y: rectify(sum + b + r), b and r (either may be 0) at the same columns. The last
 * units % 8 columns through masked moves, which AMD cores run slowly: only there.
 */
TARGET INLINE void store_sums(__m256 a, int c, int units, const float *b, const float *r, int rectify_on,
                              __m256 slope, __m256 cap, float *y) {
    if (units - c < 8) {
        __m256i mask = lanes_below(units, c);
        if (b) {
            a = _mm256_add_ps(a, _mm256_maskload_ps(b + c, mask));
        }
        if (r) {
            a = _mm256_add_ps(a, _mm256_maskload_ps(r + c, mask));
        }
        _mm256_maskstore_ps(y + c, mask, rectify_on ? rectify(a, slope, cap) : a);
        return;
    }
    if (b) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(b + c));
    }
    if (r) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(r + c));
    }
    _mm256_storeu_ps(y + c, rectify_on ? rectify(a, slope, cap) : a);
}

/*
 * One row of y over one panel of `vectors` vectors (a constant where inlined, so unused sums fall away and the rest
 * stay in registers): sums over the in inputs, then bias and residual (either may be 0) and activation as they are
 * stored.
 */
TARGET INLINE void panel_row(const float *x, int in, const float *w, const int vectors, int units, int column,
                             const float *b, const float *r, int rectify_on, __m256 slope, __m256 cap, float *y) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    const int width = 8 * vectors;
    for (int i = 0; i < in; i++, w += width) {
        __m256 xi = _mm256_broadcast_ss(x + i);
        s0 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w), s0);
        if (vectors > 1) s1 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 8), s1);
        if (vectors > 2) s2 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 16), s2);
        if (vectors > 3) s3 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 24), s3);
        if (vectors > 4) s4 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 32), s4);
        if (vectors > 5) s5 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 40), s5);
        if (vectors > 6) s6 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 48), s6);
        if (vectors > 7) s7 = _mm256_fmadd_ps(xi, _mm256_loadu_ps(w + 56), s7);
    }
    __m256 sums[PANEL_VECTORS] = {s0, s1, s2, s3, s4, s5, s6, s7};
    for (int v = 0; v < vectors; v++) {
        store_sums(sums[v], column + 8 * v, units, b, r, rectify_on, slope, cap, y);
    }
}

typedef struct {
    const float *x;
    int rows;
    int in;
    int units;
    const float *b; /* units floats, or 0 */
    const float *r; /* rows x units, or 0 */
    int rectify_on;
    float slope;
    float cap;
    float *y;
    /* strided (a 1x1 convolution of stride 2, as a ResNet's projection shortcut): 0 where y's rows are x's */
    int strided;
    int in_h, in_w, out_h, out_w, stride_h, stride_w;
} problem;

/* The row of x (an input pixel) under row q of y (an output pixel): row q itself unless strided. */
INLINE const float *input_row(const problem *pb, int64_t q) {
    if (!pb->strided) {
        return pb->x + q * pb->in;
    }
    const int64_t per_image = (int64_t) pb->out_h * pb->out_w;
    const int64_t n = q / per_image;
    const int at = (int) (q % per_image), oy = at / pb->out_w, ox = at % pb->out_w;
    return pb->x + ((n * pb->in_h + (int64_t) oy * pb->stride_h) * pb->in_w + (int64_t) ox * pb->stride_w) * pb->in;
}

/* Every row of y over panel [first, end) of the prepared kernel w. */
TARGET static void panel(const problem *pb, const float *w, int first, int end) {
    const __m256 slope = _mm256_set1_ps(pb->slope), cap = _mm256_set1_ps(pb->cap);
    const float *panel_w = w + (int64_t) pb->in * 8 * first;
    for (int row = 0; row < pb->rows; row++) {
        const float *x = input_row(pb, row);
        const float *r = pb->r ? pb->r + (int64_t) row * pb->units : 0;
        float *y = pb->y + (int64_t) row * pb->units;
        int column = 8 * first;
        /* each width its own inlined instance: the sums of the panel's vectors alone are kept */
        switch (end - first) {
#define PANEL_CASE(n) case n: panel_row(x, pb->in, panel_w, n, pb->units, column, pb->b, r, pb->rectify_on, slope, \
                                        cap, y); break;
            PANEL_CASE(1) PANEL_CASE(2) PANEL_CASE(3) PANEL_CASE(4)
            PANEL_CASE(5) PANEL_CASE(6) PANEL_CASE(7) PANEL_CASE(8)
#undef PANEL_CASE
            default: break;
        }
    }
}

/* A thread's share: its panels one after the other. */
TARGET static void share(const problem *pb, const float *w, int threads, int thread) {
    int vectors = (pb->units + 7) / 8, begin, end;
    thread_share(vectors, threads, thread, &begin, &end);
    int n = end - begin, panels = panels_of(n);
    for (int j = 0; j < panels; j++) {
        int first, last;
        panel_bounds(begin, n, panels, j, &first, &last);
        panel(pb, w, first, last);
    }
}

/* W (in, units) in Keras' layout into the panels the forward pass of a `threads`-thread plan reads. */
static void prepare(const float *keras, int in, int units, int threads, float *prepared) {
    int vectors = (units + 7) / 8;
    for (int t = 0; t < threads; t++) {
        int begin, end;
        thread_share(vectors, threads, t, &begin, &end);
        int n = end - begin, panels = panels_of(n);
        for (int j = 0; j < panels; j++) {
            int first, last;
            panel_bounds(begin, n, panels, j, &first, &last);
            int width = 8 * (last - first), column = 8 * first;
            int copied = units - column < width ? units - column : width;
            float *out = prepared + (int64_t) in * 8 * first;
            for (int i = 0; i < in; i++, out += width) {
                memcpy(out, keras + (int64_t) i * units + column, sizeof(float) * (size_t) copied);
                memset(out + copied, 0, sizeof(float) * (size_t) (width - copied));
            }
        }
    }
}

/*
 * ---- More pixels: a matrix product over W prepared in strips ----
 *
 * Tiles of up to TILE_ROWS rows of y by 16 columns (2 vectors; 8, or the masked tail, at the end), their sums in
 * registers, each summed in input order as the panels are, so a pixel's result does not depend on which of the two
 * computed it. W's 16 columns of a tile are read for every input once and reused by its rows. W is prepared once into
 * strips of 16 columns, each stored contiguously, so that a tile reads its strip as one forward stream (read in Keras'
 * layout, a strip was in lines 4 x units bytes apart, which streamed the 2x2 maps' kernels at 15-22 GB/s inside
 * MobileNetV2 against the panels' 70-90), and the last strip is padded, so only its stores are masked.
 */
#define TILE_ROWS 6

/*
 * W (in, units) in Keras' layout into the strips the product reads: strip after strip of 16 columns (8 for a last strip
 * of at most 8), each in x width floats stored row after row, padded with zeros to whole vectors; in x units rounded
 * up to 8 floats in all.
 */
static void prepare_strips(const float *keras, int in, int units, float *prepared) {
    for (int column = 0; column < units; column += 16) {
        int width = units - column > 8 ? 16 : 8;
        int copied = units - column < width ? units - column : width;
        float *out = prepared + (int64_t) in * column;
        for (int i = 0; i < in; i++, out += width) {
            memcpy(out, keras + (int64_t) i * units + column, sizeof(float) * (size_t) copied);
            memset(out + copied, 0, sizeof(float) * (size_t) (width - copied));
        }
    }
}

/* y rows [row, row + rows) x columns [column, column + 8 * vectors), rows and vectors constants where inlined. */
TARGET INLINE void rows_tile(const problem *pb, const float *w, int64_t row, int column, const int rows,
                             const int vectors, __m256 slope, __m256 cap) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    const int in = pb->in, units = pb->units;
    const float *x0 = input_row(pb, row); /* each row's inputs (rows past the tile's last are never read) */
    const float *x1 = rows > 1 ? input_row(pb, row + 1) : x0, *x2 = rows > 2 ? input_row(pb, row + 2) : x0;
    const float *x3 = rows > 3 ? input_row(pb, row + 3) : x0, *x4 = rows > 4 ? input_row(pb, row + 4) : x0;
    const float *x5 = rows > 5 ? input_row(pb, row + 5) : x0;
    const float *ws = w + (int64_t) in * column; /* the strip: every strip before it is 16 wide */
    /* the last vector of the strip is masked where it passes the units (stores only: the strip is padded) */
    const int tail = units - column - 8 * (vectors - 1) < 8;
    const __m256i mask = lanes_below(units, column + 8 * (vectors - 1));
    for (int i = 0; i < in; i++, ws += 8 * vectors) {
        __m256 u0 = _mm256_loadu_ps(ws), u1 = vectors == 2 ? _mm256_loadu_ps(ws + 8) : _mm256_setzero_ps();
#define ROW_FMA(n)                                                              \
        if (rows > n) {                                                         \
            __m256 xi = _mm256_broadcast_ss(x##n + i);                          \
            a##n = _mm256_fmadd_ps(xi, u0, a##n);                               \
            if (vectors == 2) b##n = _mm256_fmadd_ps(xi, u1, b##n);            \
        }
        ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5)
#undef ROW_FMA
    }
    /*
     * The store, row by row on the named sums (unrolled: rows is a constant), with the bias loaded once per tile.
     * Bias, residual and activation as store_sums applies them, in the same order.
     */
    const __m256 zero = _mm256_setzero_ps();
    __m256 bias0 = zero, bias1 = zero;
    if (pb->b) {
        if (vectors == 1) {
            bias0 = tail ? _mm256_maskload_ps(pb->b + column, mask) : _mm256_loadu_ps(pb->b + column);
        } else {
            bias0 = _mm256_loadu_ps(pb->b + column);
            bias1 = tail ? _mm256_maskload_ps(pb->b + column + 8, mask) : _mm256_loadu_ps(pb->b + column + 8);
        }
    }
    const int has_bias = pb->b != 0, rectify_on = pb->rectify_on;
    const float *res = pb->r ? pb->r + row * units + column : 0;
    float *out = pb->y + row * units + column;
#define FINISH(sum, bias, offset, last)                                                                   \
        {                                                                                               \
            __m256 v = sum;                                                                             \
            int masked = (last) && tail;                                                                \
            if (has_bias) v = _mm256_add_ps(v, bias);                                                   \
            if (res) v = _mm256_add_ps(v, masked ? _mm256_maskload_ps(res + (offset), mask)             \
                                                 : _mm256_loadu_ps(res + (offset)));                    \
            if (rectify_on) v = rectify(v, slope, cap);                                                 \
            if (masked) _mm256_maskstore_ps(out + (offset), mask, v);                                   \
            else _mm256_storeu_ps(out + (offset), v);                                                   \
        }
#define ROW_STORE(n)                                                                                    \
        if (rows > n) {                                                                                 \
            FINISH(a##n, bias0, (int64_t) (n) * units, vectors == 1)                                    \
            if (vectors == 2) FINISH(b##n, bias1, (int64_t) (n) * units + 8, 1)                         \
        }
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5)
#undef ROW_STORE
#undef FINISH
}

/*
 * Tiles [first, end) of the product, numbered row tile by row tile (6 rows over every strip of 16 columns), so that a
 * thread's share is whole pixels wherever there are more than 6: the pixels it writes are those it reads in the next
 * 1x1 layer, from its own core's cache, and its rows of x stay in L1 while the strips pass. Over at most 6 pixels (the
 * 2x2 maps), the tiles are the strips, and the threads split the kernel: each streams its part once.
 */
TARGET static void rows_tiles(const problem *pb, const float *w, int64_t first, int64_t end) {
    const __m256 slope = _mm256_set1_ps(pb->slope), cap = _mm256_set1_ps(pb->cap);
    const int64_t strips = (pb->units + 15) / 16;
    for (int64_t t = first; t < end; t++) {
        int column = (int) (t % strips) * 16;
        int64_t row = t / strips * TILE_ROWS;
        int rows = pb->rows - row < TILE_ROWS ? (int) (pb->rows - row) : TILE_ROWS;
        int vectors = pb->units - column > 8 ? 2 : 1;
        /* each shape its own inlined instance: only its sums are kept, in registers */
#define TILE_CASE(n)                                                \
            case n:                                                 \
                if (vectors == 2) {                                 \
                    rows_tile(pb, w, row, column, n, 2, slope, cap); \
                } else {                                            \
                    rows_tile(pb, w, row, column, n, 1, slope, cap); \
                }                                                   \
                break;
        switch (rows) {
            TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
            default: break;
        }
#undef TILE_CASE
    }
}

/*
 * ---- The matrix product in 512-bit vectors (processors with AVX-512F) ----
 *
 * The same product over the same strips, in tiles of up to TILE_ROWS rows by 32 columns: the two strips of 16 columns
 * of a group, each one 16-float vector wide, so a tile keeps 12 sums of 16 in registers where rows_tile keeps 12 of 8.
 * Each output is still one sum over the inputs in input order with FMA, then bias, residual and activation in the same
 * order: the same bits as the 256-bit tiles. A strip of 8 columns or fewer (the last, where units % 16 is 1 to 8) is
 * rows_tile's, in an 8-float vector. A last strip of 9 to 15 columns is padded to 16 (prepare_strips), so only its
 * stores and the bias and residual it reads are masked.
 */

/* The lanes of a 16-float vector at column c that are columns before units. */
TARGET512 INLINE __mmask16 lanes16_below(int units, int c) {
    return units - c >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << (units - c)) - 1u);
}

/* y rows [row, row + rows) x columns [column, column + 16 * vectors), every strip 16 wide; constants where inlined. */
TARGET512 INLINE void wide_tile(const problem *pb, const float *w, int64_t row, int column, const int rows,
                                const int vectors, __m512 slope, __m512 cap) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    const int in = pb->in, units = pb->units;
    const float *x0 = input_row(pb, row);
    const float *x1 = rows > 1 ? input_row(pb, row + 1) : x0, *x2 = rows > 2 ? input_row(pb, row + 2) : x0;
    const float *x3 = rows > 3 ? input_row(pb, row + 3) : x0, *x4 = rows > 4 ? input_row(pb, row + 4) : x0;
    const float *x5 = rows > 5 ? input_row(pb, row + 5) : x0;
    const float *s0 = w + (int64_t) in * column, *s1 = s0 + (int64_t) in * 16; /* the group's strips */
    for (int i = 0; i < in; i++, s0 += 16, s1 += 16) {
        __m512 u0 = _mm512_loadu_ps(s0), u1 = vectors == 2 ? _mm512_loadu_ps(s1) : _mm512_setzero_ps();
#define ROW_FMA(n)                                                              \
        if (rows > n) {                                                         \
            __m512 xi = _mm512_set1_ps(x##n[i]);                                \
            a##n = _mm512_fmadd_ps(xi, u0, a##n);                               \
            if (vectors == 2) b##n = _mm512_fmadd_ps(xi, u1, b##n);            \
        }
        ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5)
#undef ROW_FMA
    }
    /* the last vector's lanes inside the units; the others are whole */
    const __mmask16 last = lanes16_below(units, column + 16 * (vectors - 1));
    const __mmask16 m0 = vectors == 1 ? last : (__mmask16) 0xFFFF, m1 = last;
    const int has_bias = pb->b != 0, rectify_on = pb->rectify_on;
    const __m512 bias0 = has_bias ? _mm512_maskz_loadu_ps(m0, pb->b + column) : _mm512_setzero_ps();
    const __m512 bias1 = has_bias && vectors == 2 ? _mm512_maskz_loadu_ps(m1, pb->b + column + 16)
                                                  : _mm512_setzero_ps();
    const float *res = pb->r ? pb->r + row * units + column : 0;
    float *out = pb->y + row * units + column;
#define FINISH(sum, bias, offset, mask)                                                                   \
        {                                                                                               \
            __m512 v = sum;                                                                             \
            if (has_bias) v = _mm512_add_ps(v, bias);                                                   \
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, res + (offset)));                 \
            if (rectify_on) v = rectify16(v, slope, cap);                                               \
            _mm512_mask_storeu_ps(out + (offset), mask, v);                                             \
        }
#define ROW_STORE(n)                                                                                    \
        if (rows > n) {                                                                                 \
            FINISH(a##n, bias0, (int64_t) (n) * units, m0)                                              \
            if (vectors == 2) FINISH(b##n, bias1, (int64_t) (n) * units + 16, m1)                       \
        }
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5)
#undef ROW_STORE
#undef FINISH
}

/* One tile of `rows` rows over a group of 32 columns at column: 16-float vectors, and rows_tile for an 8-wide strip. */
TARGET512 INLINE void wide_group(const problem *pb, const float *w, int64_t row, int column, const int rows,
                                 __m512 slope, __m512 cap, __m256 slope8, __m256 cap8) {
    int left = pb->units - column;
    if (left > 24) { /* two strips of 16 */
        wide_tile(pb, w, row, column, rows, 2, slope, cap);
    } else if (left > 16) { /* a strip of 16, then one of at most 8 */
        wide_tile(pb, w, row, column, rows, 1, slope, cap);
        rows_tile(pb, w, row, column + 16, rows, 1, slope8, cap8);
    } else if (left > 8) { /* one strip of 9 to 16 */
        wide_tile(pb, w, row, column, rows, 1, slope, cap);
    } else {
        rows_tile(pb, w, row, column, rows, 1, slope8, cap8);
    }
}

/* Tiles [first, end) of the product in 512-bit vectors, numbered as rows_tiles numbers them, by groups of 32 columns. */
TARGET512 static void wide_tiles(const problem *pb, const float *w, int64_t first, int64_t end) {
    const __m512 slope = _mm512_set1_ps(pb->slope), cap = _mm512_set1_ps(pb->cap);
    const __m256 slope8 = _mm256_set1_ps(pb->slope), cap8 = _mm256_set1_ps(pb->cap);
    const int64_t groups = (pb->units + 31) / 32;
    for (int64_t t = first; t < end; t++) {
        int column = (int) (t % groups) * 32;
        int64_t row = t / groups * TILE_ROWS;
        int rows = pb->rows - row < TILE_ROWS ? (int) (pb->rows - row) : TILE_ROWS;
        switch (rows) { /* each its own inlined instance */
            case 1: wide_group(pb, w, row, column, 1, slope, cap, slope8, cap8); break;
            case 2: wide_group(pb, w, row, column, 2, slope, cap, slope8, cap8); break;
            case 3: wide_group(pb, w, row, column, 3, slope, cap, slope8, cap8); break;
            case 4: wide_group(pb, w, row, column, 4, slope, cap, slope8, cap8); break;
            case 5: wide_group(pb, w, row, column, 5, slope, cap, slope8, cap8); break;
            case 6: wide_group(pb, w, row, column, 6, slope, cap, slope8, cap8); break;
            default: break;
        }
    }
}

/*
 * The problem of a call from Java: addresses as jlong (0: none); the input map's height and width and the strides
 * (1 and 1: y's rows are x's, whatever the map).
 */
static problem problem_of(jlong x, jint rows, jint in, jint units, jlong b, jlong r, jboolean rectify_on, jfloat slope,
                          jfloat cap, jlong y, jint in_h, jint in_w, jint stride_h, jint stride_w) {
    problem pb = {(const float *) (intptr_t) x, rows, in, units, (const float *) (intptr_t) b,
                  (const float *) (intptr_t) r, rectify_on, slope, cap, (float *) (intptr_t) y,
                  stride_h != 1 || stride_w != 1, in_h, in_w, (in_h - 1) / stride_h + 1, (in_w - 1) / stride_w + 1,
                  stride_h, stride_w};
    return pb;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PointwiseConvPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PointwiseConvPlan_wideSupported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() && avx512f_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_PointwiseConvPlan_prepare(
        JNIEnv *env, jclass type, jlong keras, jint in, jint units, jint threads, jlong prepared) {
    (void) env;
    (void) type;
    prepare((const float *) (intptr_t) keras, in, units, threads, (float *) (intptr_t) prepared);
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_PointwiseConvPlan_prepareStrips(
        JNIEnv *env, jclass type, jlong keras, jint in, jint units, jlong prepared) {
    (void) env;
    (void) type;
    prepare_strips((const float *) (intptr_t) keras, in, units, (float *) (intptr_t) prepared);
}

/* A forward pass as a step (op_chain.h): the panels' shares, or a contiguous range of the product's tiles. */
typedef struct {
    problem pb;
    const float *w; /* prepared: in panels for `threads` threads, or in strips */
    int panels;
    int wide; /* the product in 512-bit vectors */
    int threads;
    int64_t tiles; /* the product's */
} pointwise_step;

TARGET static void run_pointwise(const void *args, int thread, int team, float *scratch) {
    (void) scratch;
    const pointwise_step *s = args;
    if (s->panels) { /* the panels split the work for exactly s->threads; a smaller team takes several shares each */
        for (int t = thread; t < s->threads; t += team) {
            share(&s->pb, s->w, s->threads, t);
        }
    } else if (s->wide) {
        wide_tiles(&s->pb, s->w, s->tiles * thread / team, s->tiles * (thread + 1) / team);
    } else {
        rows_tiles(&s->pb, s->w, s->tiles * thread / team, s->tiles * (thread + 1) / team);
    }
}

/* Runs the pass now (chain 0), or appends it to the chain; JNI_FALSE where the chain could not grow. */
static jboolean submit(jlong x, jint rows, jint in, jlong w, jint units, jlong b, jlong r, jboolean rectify_on,
                       jfloat slope, jfloat cap, jlong y, jint in_h, jint in_w, jint stride_h, jint stride_w,
                       jint threads, int panels, int wide, jlong chain) {
    osprey_step step = {run_pointwise, threads, {{0}}};
    pointwise_step *s = (pointwise_step *) step.args.bytes;
    _Static_assert(sizeof(pointwise_step) <= STEP_ARGS_BYTES, "a pointwise step's operands fit a step");
    s->pb = problem_of(x, rows, in, units, b, r, rectify_on, slope, cap, y, in_h, in_w, stride_h, stride_w);
    s->w = (const float *) (intptr_t) w;
    s->panels = panels;
    s->threads = threads;
    int64_t row_tiles = (rows + TILE_ROWS - 1) / TILE_ROWS;
    int64_t strips = (int64_t) (units + 15) / 16 * row_tiles, groups = (int64_t) (units + 31) / 32 * row_tiles;
    /*
     * The 512-bit tiles cover twice the columns, so over few pixels there may be fewer of them than threads (32
     * channels at 4 pixels: one tile) where the 256-bit ones would keep every thread busy: there the 256-bit ones run.
     */
    s->wide = !panels && wide && (groups >= threads || strips <= groups);
    s->tiles = s->wide ? groups : strips;
    if (!panels && s->tiles < threads) {
        step.threads = (int) s->tiles; /* a tile each at least */
    }
    if (chain == 0) {
        osprey_run_step(&step, 0);
        return JNI_TRUE;
    }
    return osprey_chain_append(chain, &step) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PointwiseConvPlan_forward(
        JNIEnv *env, jclass type, jlong x, jint rows, jint in, jlong w, jint units, jlong b, jlong r,
        jboolean rectify_on, jfloat slope, jfloat cap, jlong y, jint in_h, jint in_w, jint stride_h, jint stride_w,
        jint threads, jlong chain) {
    (void) env;
    (void) type;
    return submit(x, rows, in, w, units, b, r, rectify_on, slope, cap, y, in_h, in_w, stride_h, stride_w, threads,
                  1, 0, chain);
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_PointwiseConvPlan_forwardRows(
        JNIEnv *env, jclass type, jlong x, jint rows, jint in, jlong w, jint units, jlong b, jlong r,
        jboolean rectify_on, jfloat slope, jfloat cap, jlong y, jint in_h, jint in_w, jint stride_h, jint stride_w,
        jint threads, jboolean wide, jlong chain) {
    (void) env;
    (void) type;
    return submit(x, rows, in, w, units, b, r, rectify_on, slope, cap, y, in_h, in_w, stride_h, stride_w, threads,
                  0, wide == JNI_TRUE, chain);
}
#endif
