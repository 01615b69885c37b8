/*
 * Winograd convolutions F(2x2, 3x3) and F(4x4, 3x3) for inference, fp32, for dev.osprey.backend.cpu.WinogradConvPlan.
 *
 * A 3x3, stride-1 convolution computes each m x m block of outputs from the (m+2) x (m+2) block of inputs under it.
 * Winograd's minimal filtering algorithm (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016)
 * does that with (m+2)^2 products per (input channel, output channel) pair instead of 9 m^2: 16 instead of 36 for
 * m = 2 (a 2.25x cut in multiply-adds), 36 instead of 144 for m = 4 (4x):
 *
 *     Y = A' [ (G g G') . (B' d B) ] A          (. is the element-wise product; ' the transpose)
 *
 * where d is the input tile, g the 3x3 kernel, and B', G and A' small fixed matrices (below, per m). Over channels,
 * the element-wise products become (m+2)^2 independent matrix products, one per position p of the input tile:
 * M[p] (tiles x K) = V[p] (tiles x C) * U[p] (C x K). The kernel transform U = G g G' is done once, when the plan
 * prepares its weights. Per call, tiles are taken in blocks small enough that a block's transformed inputs V and
 * products M stay in the core's cache, with U beside them: transform the block's inputs, run the products, and
 * transform them back into outputs, adding the bias and residual and applying the activation before the one store.
 * The tiles are split evenly among the OpenMP team (the one oneDNN uses: see openmp_team.c), or, where they are few,
 * the output channels (share_channels). F(4x4, 3x3) does less work per
 * output in every phase, F(2x2, 3x3) rounds less (its matrices hold only 0, +-1 and 1/2) and wastes less on small
 * maps, whose edge tiles it cuts finer; the Java side picks.
 *
 * Activations are NHWC with C and K multiples of 8 (a vector of 8 floats), as the Java side checks. The AVX2 + FMA
 * code is compiled for those instructions by function attribute, and the Java side calls it only where
 * Winograd.supported() says the processor has them.
 *
 * winograd_avx512.c compiles this file a second time for processors with AVX-512F and VL: the tile transforms take 16
 * channels at a time in 512-bit vectors (winograd_lanes.h at 16 lanes), the matrix products (multiply,
 * accumulate_products) run in 512-bit micro-kernels, and the 256-bit code left (8 channels over a multiple of 16) gets
 * the 32 vector registers AVX-512VL gives it instead of 16. Processors with full-width AVX-512 units (AMD Zen 5)
 * multiply 512 bits at twice the 256-bit rate. The same operations in the same order: the same bits. Where the build
 * has both
 * (OSPREY_WINOGRAD_HAS_AVX512_COPY), the JNI entry points below take that copy on such processors (use_avx512_copy).
 */
#include <jni.h>

#if !defined(__x86_64__)
/* Other processors: not built; the Java side runs every convolution through oneDNN. */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <math.h>
#include <stdint.h>
#include "avx512_ops.h"
#include "op_chain.h"
#include "openmp.h"

#ifdef OSPREY_WINOGRAD_AVX512_COPY /* the copy winograd_avx512.c compiles: TARGET functions get AVX-512F and VL */
#undef TARGET
#if defined(__clang__)
#define TARGET __attribute__((target("avx2,fma,avx512f,avx512vl")))
#else /* the 512-bit code is written out with intrinsics; loops GCC vectorizes itself stay 256-bit, as they were */
#define TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,prefer-vector-width=256")))
#endif
#endif

/* Rows of the micro-kernel: a block holds a multiple of it. */
#define ROWS 6

/* G for m = 2 and m = 4 (rows: positions along one axis of the input tile; columns: kernel taps). */
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

/*
 * The kernel transform: g in Keras' HWIO layout (3, 3, C, K) into U[(m+2)^2][C][K]; or, transposed, the kernel of the
 * backward-data convolution (taps flipped, C and K swapped: dx = dy correlated with g[2-a][2-b][c][k] over k) into
 * U[(m+2)^2][K][C]. Each tap g[a][b] is a C x K matrix, and U's position (i, j) is sum over a, b of
 * G[i][a] G[j][b] g[a][b], so the transform runs 8 channel pairs at a time, in vectors: the 9 taps in, the (m+2) x 3
 * half-transform G g, then the (m+2)^2 positions (G g) G' out. Training transforms every layer's kernel twice a step
 * (forward and backward-data); done per pair in double, that was 4% of a ResNet-20 step at batch 64, with the other
 * thread idle, so it is vectorized and the team shares it (prepare_kernel).
 */
TARGET INLINE void transform_pairs(const __m256 tap[3][3], const __m256 gi[6][3], const int span, float *u,
                                   int64_t position_stride) {
    __m256 half[6][3];
    for (int i = 0; i < span; i++) {
        for (int b = 0; b < 3; b++) {
            half[i][b] = _mm256_fmadd_ps(gi[i][2], tap[2][b],
                                         _mm256_fmadd_ps(gi[i][1], tap[1][b], _mm256_mul_ps(gi[i][0], tap[0][b])));
        }
    }
    for (int i = 0; i < span; i++) {
        for (int j = 0; j < span; j++) {
            __m256 v = _mm256_fmadd_ps(gi[j][2], half[i][2],
                                       _mm256_fmadd_ps(gi[j][1], half[i][1], _mm256_mul_ps(gi[j][0], half[i][0])));
            _mm256_storeu_ps(u + (i * span + j) * position_stride, v);
        }
    }
}

/* The rows of 8 x 8 floats at src (stride ld) into dst's 8 rows of 8 (contiguous), transposed. */
TARGET INLINE void transpose8(const float *src, int64_t ld, float *dst) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) {
        r[i] = _mm256_loadu_ps(src + i * ld);
    }
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * 8, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * 8, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

/* G's entries, broadcast: gi[i][a] = G[i][a] for m x m tiles. */
TARGET INLINE void broadcast_g(int m, __m256 gi[6][3]) {
    const double (*G)[3] = m == 2 ? G2 : G4;
    for (int i = 0; i < m + 2; i++) {
        for (int a = 0; a < 3; a++) {
            gi[i][a] = _mm256_set1_ps((float) G[i][a]);
        }
    }
}

/* U[p][c][k] for input channels c_from .. c_to-1: the 8 pairs in a vector share c and run along k. */
TARGET static void prepare_plain(const float *g, int c_in, int k_out, int m, float *u, int c_from, int c_to) {
    const int64_t pairs = (int64_t) c_in * k_out;
    __m256 gi[6][3];
    broadcast_g(m, gi);
    for (int64_t at = (int64_t) c_from * k_out; at < (int64_t) c_to * k_out; at += 8) {
        __m256 tap[3][3];
        for (int a = 0; a < 3; a++) {
            for (int b = 0; b < 3; b++) {
                tap[a][b] = _mm256_loadu_ps(g + (int64_t) (a * 3 + b) * pairs + at);
            }
        }
        transform_pairs(tap, gi, m + 2, u + at, pairs);
    }
}

/*
 * U[p][k][c] (taps flipped) for output channels k_from .. k_to-1 (multiples of 8): each 8 x 8 block of (c, k) pairs is
 * read tap by tap, transposed on the stack and transformed 8 c at a time, so that every store is a whole vector
 * (storing lane by lane, 8 cache lines apart, took 2.5x the plain transform's time at 64 x 64 channels). Each pair's
 * value comes from the same operations in the same order as in the plain transform.
 */
TARGET static void prepare_transposed(const float *g, int c_in, int k_out, int m, float *u, int k_from, int k_to) {
    const int64_t pairs = (int64_t) c_in * k_out;
    __m256 gi[6][3];
    broadcast_g(m, gi);
    for (int k = k_from; k < k_to; k += 8) {
        for (int c = 0; c < c_in; c += 8) {
            float block[9][8][8] __attribute__((aligned(32))); /* [tap][k][c] */
            for (int t = 0; t < 9; t++) {
                transpose8(g + t * pairs + (int64_t) c * k_out + k, k_out, block[t][0]);
            }
            for (int kk = 0; kk < 8; kk++) {
                __m256 tap[3][3];
                for (int a = 0; a < 3; a++) {
                    for (int b = 0; b < 3; b++) {
                        tap[a][b] = _mm256_load_ps(block[(2 - a) * 3 + (2 - b)][kk]);
                    }
                }
                transform_pairs(tap, gi, m + 2, u + (int64_t) (k + kk) * c_in + c, pairs);
            }
        }
    }
}

/*
 * U from g on `threads` threads where the kernel is large enough for that to pay (from 32 x 32 channels, whose
 * transform takes some 10 microseconds alone): each thread a share of the rows of U's matrices, in eights (plain: of
 * the input channels; transposed: of the output channels), so that no two threads write one cache line.
 */
TARGET static void prepare_kernel(const float *g, int c_in, int k_out, int m, int transposed, float *u, int threads) {
    const int rows = transposed ? k_out : c_in, eights = rows / 8;
    const int team = threads < eights ? threads : eights;
    if (team <= 1 || (int64_t) c_in * k_out < 32 * 32) {
        if (transposed) {
            prepare_transposed(g, c_in, k_out, m, u, 0, k_out);
        } else {
            prepare_plain(g, c_in, k_out, m, u, 0, c_in);
        }
        return;
    }
#pragma omp parallel num_threads(team)
    {
        int id = omp_get_thread_num(), size = omp_get_num_threads();
        int from = eights * id / size * 8, to = eights * (id + 1) / size * 8;
        if (transposed) {
            prepare_transposed(g, c_in, k_out, m, u, from, to);
        } else {
            prepare_plain(g, c_in, k_out, m, u, from, to);
        }
    }
}

typedef struct {
    const float *x;
    int h, w, c;          /* input height, width, channels */
    int pad_top, pad_left;
    int oh, ow, k;        /* output height, width, channels */
    int m, span;          /* outputs per tile along each axis (2 or 4), inputs under them (m + 2) */
    int tiles_h, tiles_w; /* m x m output tiles down and across one image */
    const float *u, *bias, *residual;
    float *y;
    int ph, pw;           /* 0: y holds the outputs; both > 0 (and no residual): their 2x2 max pooling of stride 2 */
    const float *dy;      /* the filter gradient's output gradient: NHWC, oh x ow x k */
    const float *gate;    /* backward-data: a ReLU's output, like y, whose gradient to apply to y (with a residual) */
    int rectify;          /* 0: the identity; else Keras' ReLU: slope * x below 0, x up to cap, cap above it */
    float slope, cap;
    int stream;           /* 1: y's stores bypass the caches (streaming_stores); run_tiles fences them at its end */
} problem;

/* A tile's place: its image and its top-left output; advanced tile by tile (no division per tile). */
typedef struct {
    int64_t n;
    int oy, ox;
} cursor;

static cursor cursor_at(const problem *pb, int64_t t) {
    int64_t per_image = (int64_t) pb->tiles_h * pb->tiles_w;
    int r = (int) (t % per_image);
    cursor at = {t / per_image, (r / pb->tiles_w) * pb->m, (r % pb->tiles_w) * pb->m};
    return at;
}

static void cursor_next(const problem *pb, cursor *at) {
    at->ox += pb->m;
    if (at->ox >= pb->tiles_w * pb->m) {
        at->ox = 0;
        at->oy += pb->m;
        if (at->oy >= pb->tiles_h * pb->m) {
            at->oy = 0;
            at->n++;
        }
    }
}

/* The activations the output transform is compiled for, so that the common ones cost one or two instructions. */
enum { ACT_NONE, ACT_RELU, ACT_GENERAL };

/* with_residual's values: no residual, a residual added, a residual added and then a ReLU's gradient (pb->gate). */
enum { RESIDUAL_NONE, RESIDUAL_ADDED, RESIDUAL_GATED };

/*
 * A ReLU's gradient from its output, as oneDNN's ReLU backward computes it (the backend's own pass, tested bit for
 * bit): g * 0 where the output is at most 0 (so -0 from a negative g, NaN from an infinite one), else g, a NaN output
 * included.
 */
TARGET INLINE __m256 gate8(__m256 output, __m256 g) {
    __m256 open = _mm256_cmp_ps(output, _mm256_setzero_ps(), _CMP_NLE_UQ);
    return _mm256_blendv_ps(_mm256_mul_ps(g, _mm256_setzero_ps()), g, open);
}
#ifdef OSPREY_WINOGRAD_AVX512_COPY
TARGET INLINE __m512 gate16(__m512 output, __m512 g) {
    __mmask16 open = _mm512_cmp_ps_mask(output, _mm512_setzero_ps(), _CMP_NLE_UQ);
    return _mm512_mask_blend_ps(open, _mm512_mul_ps(g, _mm512_setzero_ps()), g);
}
#endif

/* The vector code of winograd_lanes.h: 8 lanes (AVX2), and in the AVX-512 copy 16 lanes too (it undefines these). */
#define LANES 8
#define LANES_NAME(name) name##_8
#define VEC __m256
#define V_LOADU _mm256_loadu_ps
#define V_STOREU _mm256_storeu_ps
#define V_STREAM _mm256_stream_ps
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_FMADD _mm256_fmadd_ps
#define V_FNMADD _mm256_fnmadd_ps
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_MAX _mm256_max_ps
#define V_RECTIFY rectify
#define V_MAX4 max4
#define V_GATE gate8
#include "winograd_lanes.h"
#ifdef OSPREY_WINOGRAD_AVX512_COPY
#define LANES 16
#define LANES_NAME(name) name##_16
#define VEC __m512
#define V_LOADU _mm512_loadu_ps
#define V_STOREU _mm512_storeu_ps
#define V_STREAM _mm512_stream_ps
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_FMADD _mm512_fmadd_ps
#define V_FNMADD _mm512_fnmadd_ps
#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps
#define V_MAX _mm512_max_ps
#define V_RECTIFY rectify16
#define V_MAX4 max4_16
#define V_GATE gate16
#include "winograd_lanes.h"
#endif

/*
 * V[row][p][c..] for the tiles first .. first+rows-1, into v: per tile, its (m+2)^2 positions of C channels one after
 * the other, so that the transform writes, and the products read back, contiguous memory.
 */
TARGET INLINE void transform_inputs_span(const problem *pb, int64_t first, int rows, float *v, const int span) {
    const int c_in = pb->c, positions = span * span;
    cursor at = cursor_at(pb, first);
    for (int row = 0; row < rows; row++, cursor_next(pb, &at)) {
        int y0 = at.oy - pb->pad_top;
        int x0 = at.ox - pb->pad_left;
        const float *image = pb->x + at.n * pb->h * pb->w * c_in;
        int inside = y0 >= 0 && x0 >= 0 && y0 + span <= pb->h && x0 + span <= pb->w;
        float *tile = v + (int64_t) row * positions * c_in;
        int c = 0;
#ifdef OSPREY_WINOGRAD_AVX512_COPY
        for (; c + 16 <= c_in; c += 16) {
            input_slice_16(pb, image, y0, x0, inside, c, tile, span);
        }
#endif
        for (; c < c_in; c += 8) {
            input_slice_8(pb, image, y0, x0, inside, c, tile, span);
        }
    }
}

/*
 * Asks for the inputs of tiles first .. first+rows-1 to be brought into the L2 cache, so that they arrive while the
 * block before them is being multiplied: each tile's columns not under the tile before it (the first tile of a row of
 * tiles, all of them), every 64-byte line of each pixel's channels.
 */
static void prefetch_inputs(const problem *pb, int64_t first, int rows) {
    const int c_in = pb->c;
    cursor at = cursor_at(pb, first);
    for (int row = 0; row < rows; row++, cursor_next(pb, &at)) {
        int y0 = at.oy - pb->pad_top;
        int x0 = at.ox - pb->pad_left;
        const float *image = pb->x + at.n * pb->h * pb->w * c_in;
        for (int i = 0; i < pb->span; i++) {
            int yy = y0 + i;
            if (yy < 0 || yy >= pb->h) {
                continue;
            }
            for (int j = at.ox == 0 ? 0 : 2; j < pb->span; j++) {
                int xx = x0 + j;
                if (xx < 0 || xx >= pb->w) {
                    continue;
                }
                const char *pixel = (const char *) (image + ((int64_t) yy * pb->w + xx) * c_in);
                for (int line = 0; line < c_in * 4; line += 64) {
                    __builtin_prefetch(pixel + line, 0, 2);
                }
            }
        }
    }
}

/*
 * m (rows x 16 floats, stride ldm) = v (rows x depth, stride ldv) * u (depth x 16, stride ldu) for 1 to 6 rows (a
 * constant where this is inlined, so that only its rows' code is left): the micro-kernel, its sums in registers
 * (named variables: the compiler keeps an array of them in memory). Each row's sums are taken in the same order
 * whatever the row count, so a tile's products do not depend on how many tiles share its call.
 */
TARGET INLINE void micro16_rows(const float *v, int ldv, const float *u, int ldu, int depth, float *m, int ldm,
                                const int rows) {
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0;
    __m256 a3 = a0, b3 = a0, a4 = a0, b4 = a0, a5 = a0, b5 = a0;
    const float *v0 = v, *v1 = v + ldv, *v2 = v1 + ldv, *v3 = v2 + ldv, *v4 = v3 + ldv, *v5 = v4 + ldv;
    for (int c = 0; c < depth; c++) {
        __m256 u0 = _mm256_loadu_ps(u), u1 = _mm256_loadu_ps(u + 8);
        __m256 x;
        x = _mm256_broadcast_ss(v0 + c); a0 = _mm256_fmadd_ps(x, u0, a0); b0 = _mm256_fmadd_ps(x, u1, b0);
        if (rows > 1) { x = _mm256_broadcast_ss(v1 + c); a1 = _mm256_fmadd_ps(x, u0, a1); b1 = _mm256_fmadd_ps(x, u1, b1); }
        if (rows > 2) { x = _mm256_broadcast_ss(v2 + c); a2 = _mm256_fmadd_ps(x, u0, a2); b2 = _mm256_fmadd_ps(x, u1, b2); }
        if (rows > 3) { x = _mm256_broadcast_ss(v3 + c); a3 = _mm256_fmadd_ps(x, u0, a3); b3 = _mm256_fmadd_ps(x, u1, b3); }
        if (rows > 4) { x = _mm256_broadcast_ss(v4 + c); a4 = _mm256_fmadd_ps(x, u0, a4); b4 = _mm256_fmadd_ps(x, u1, b4); }
        if (rows > 5) { x = _mm256_broadcast_ss(v5 + c); a5 = _mm256_fmadd_ps(x, u0, a5); b5 = _mm256_fmadd_ps(x, u1, b5); }
        u += ldu;
    }
    _mm256_storeu_ps(m, a0); _mm256_storeu_ps(m + 8, b0);
    if (rows > 1) { m += ldm; _mm256_storeu_ps(m, a1); _mm256_storeu_ps(m + 8, b1); }
    if (rows > 2) { m += ldm; _mm256_storeu_ps(m, a2); _mm256_storeu_ps(m + 8, b2); }
    if (rows > 3) { m += ldm; _mm256_storeu_ps(m, a3); _mm256_storeu_ps(m + 8, b3); }
    if (rows > 4) { m += ldm; _mm256_storeu_ps(m, a4); _mm256_storeu_ps(m + 8, b4); }
    if (rows > 5) { m += ldm; _mm256_storeu_ps(m, a5); _mm256_storeu_ps(m + 8, b5); }
}

/* As micro16_rows, 8 columns wide (the last 8 of K when K is not a multiple of 16). */
TARGET INLINE void micro8_rows(const float *v, int ldv, const float *u, int ldu, int depth, float *m, int ldm,
                               const int rows) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    const float *v0 = v, *v1 = v + ldv, *v2 = v1 + ldv, *v3 = v2 + ldv, *v4 = v3 + ldv, *v5 = v4 + ldv;
    for (int c = 0; c < depth; c++) {
        __m256 u0 = _mm256_loadu_ps(u);
        a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(v0 + c), u0, a0);
        if (rows > 1) { a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(v1 + c), u0, a1); }
        if (rows > 2) { a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(v2 + c), u0, a2); }
        if (rows > 3) { a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(v3 + c), u0, a3); }
        if (rows > 4) { a4 = _mm256_fmadd_ps(_mm256_broadcast_ss(v4 + c), u0, a4); }
        if (rows > 5) { a5 = _mm256_fmadd_ps(_mm256_broadcast_ss(v5 + c), u0, a5); }
        u += ldu;
    }
    _mm256_storeu_ps(m, a0);
    if (rows > 1) { m += ldm; _mm256_storeu_ps(m, a1); }
    if (rows > 2) { m += ldm; _mm256_storeu_ps(m, a2); }
    if (rows > 3) { m += ldm; _mm256_storeu_ps(m, a3); }
    if (rows > 4) { m += ldm; _mm256_storeu_ps(m, a4); }
    if (rows > 5) { m += ldm; _mm256_storeu_ps(m, a5); }
}

typedef void (*micro_fn)(const float *, int, const float *, int, int, float *, int);
#define OSPREY_MICRO(width, rows) \
    TARGET static void micro##width##_##rows(const float *v, int ldv, const float *u, int ldu, int depth, float *m, \
                                             int ldm) { \
        micro##width##_rows(v, ldv, u, ldu, depth, m, ldm, rows); \
    }
OSPREY_MICRO(16, 1) OSPREY_MICRO(16, 2) OSPREY_MICRO(16, 3) OSPREY_MICRO(16, 4) OSPREY_MICRO(16, 5) OSPREY_MICRO(16, 6)
OSPREY_MICRO(8, 1) OSPREY_MICRO(8, 2) OSPREY_MICRO(8, 3) OSPREY_MICRO(8, 4) OSPREY_MICRO(8, 5) OSPREY_MICRO(8, 6)
#undef OSPREY_MICRO
/* The micro-kernels by row count (index 1 .. ROWS). */
static const micro_fn MICRO16[ROWS + 1] = {NULL, micro16_1, micro16_2, micro16_3, micro16_4, micro16_5, micro16_6};
static const micro_fn MICRO8[ROWS + 1] = {NULL, micro8_1, micro8_2, micro8_3, micro8_4, micro8_5, micro8_6};

#ifdef OSPREY_WINOGRAD_AVX512_COPY
/*
 * The AVX-512 copy's micro-kernels for full 16-float columns: 512-bit vectors, so that a processor that multiplies 512
 * bits at a time (AMD Zen 5: 2 x 512-bit FMA a cycle, twice the 256-bit rate; measured here 270 against 137 GFLOP/s a
 * core) runs the products at its full rate. Each sum takes the same products in the same order as micro16_rows, so the
 * two copies still give the same bits. An FMA's result is ready 4 cycles later and 2 issue a cycle, so 8 or more
 * independent sums keep the units busy: 12 rows of 16 columns (one vector each) where K leaves 16 columns, 6 rows of
 * 32 (two each) where it leaves 32 or more.
 */
#define WIDE_ROWS 12
TARGET INLINE void wide16_rows(const float *v, int ldv, const float *u, int ldu, int depth, float *m, int ldm,
                               const int rows) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0;
    __m512 s6 = s0, s7 = s0, s8 = s0, s9 = s0, s10 = s0, s11 = s0;
    const int64_t l = ldv;
    for (int c = 0; c < depth; c++) {
        const __m512 w = _mm512_loadu_ps(u);
        const float *x = v + c;
#define OSPREY_ROW(i) if (rows > i) { s##i = _mm512_fmadd_ps(_mm512_set1_ps(x[i * l]), w, s##i); }
        OSPREY_ROW(0) OSPREY_ROW(1) OSPREY_ROW(2) OSPREY_ROW(3) OSPREY_ROW(4) OSPREY_ROW(5)
        OSPREY_ROW(6) OSPREY_ROW(7) OSPREY_ROW(8) OSPREY_ROW(9) OSPREY_ROW(10) OSPREY_ROW(11)
#undef OSPREY_ROW
        u += ldu;
    }
#define OSPREY_STORE(i) if (rows > i) { _mm512_storeu_ps(m + (int64_t) i * ldm, s##i); }
    OSPREY_STORE(0) OSPREY_STORE(1) OSPREY_STORE(2) OSPREY_STORE(3) OSPREY_STORE(4) OSPREY_STORE(5)
    OSPREY_STORE(6) OSPREY_STORE(7) OSPREY_STORE(8) OSPREY_STORE(9) OSPREY_STORE(10) OSPREY_STORE(11)
#undef OSPREY_STORE
}

/* As wide16_rows, 32 columns (two vectors) for 1 to 6 rows. */
TARGET INLINE void wide32_rows(const float *v, int ldv, const float *u, int ldu, int depth, float *m, int ldm,
                               const int rows) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    const int64_t l = ldv;
    for (int c = 0; c < depth; c++) {
        const __m512 w0 = _mm512_loadu_ps(u), w1 = _mm512_loadu_ps(u + 16);
        const float *x = v + c;
        __m512 e;
#define OSPREY_ROW(i) \
    if (rows > i) { e = _mm512_set1_ps(x[i * l]); a##i = _mm512_fmadd_ps(e, w0, a##i); b##i = _mm512_fmadd_ps(e, w1, b##i); }
        OSPREY_ROW(0) OSPREY_ROW(1) OSPREY_ROW(2) OSPREY_ROW(3) OSPREY_ROW(4) OSPREY_ROW(5)
#undef OSPREY_ROW
        u += ldu;
    }
#define OSPREY_STORE(i) \
    if (rows > i) { _mm512_storeu_ps(m + (int64_t) i * ldm, a##i); _mm512_storeu_ps(m + (int64_t) i * ldm + 16, b##i); }
    OSPREY_STORE(0) OSPREY_STORE(1) OSPREY_STORE(2) OSPREY_STORE(3) OSPREY_STORE(4) OSPREY_STORE(5)
#undef OSPREY_STORE
}

#define OSPREY_WIDE(width, rows) \
    TARGET static void wide##width##_##rows(const float *v, int ldv, const float *u, int ldu, int depth, float *m, \
                                            int ldm) { \
        wide##width##_rows(v, ldv, u, ldu, depth, m, ldm, rows); \
    }
OSPREY_WIDE(16, 1) OSPREY_WIDE(16, 2) OSPREY_WIDE(16, 3) OSPREY_WIDE(16, 4) OSPREY_WIDE(16, 5) OSPREY_WIDE(16, 6)
OSPREY_WIDE(16, 7) OSPREY_WIDE(16, 8) OSPREY_WIDE(16, 9) OSPREY_WIDE(16, 10) OSPREY_WIDE(16, 11) OSPREY_WIDE(16, 12)
OSPREY_WIDE(32, 1) OSPREY_WIDE(32, 2) OSPREY_WIDE(32, 3) OSPREY_WIDE(32, 4) OSPREY_WIDE(32, 5) OSPREY_WIDE(32, 6)
#undef OSPREY_WIDE
static const micro_fn WIDE16[WIDE_ROWS + 1] = {NULL, wide16_1, wide16_2, wide16_3, wide16_4, wide16_5, wide16_6,
                                               wide16_7, wide16_8, wide16_9, wide16_10, wide16_11, wide16_12};
static const micro_fn WIDE32[ROWS + 1] = {NULL, wide32_1, wide32_2, wide32_3, wide32_4, wide32_5, wide32_6};

/*
 * multiply's body in the AVX-512 copy, for one position: columns 32 at a time (6 rows a call), then 16 (12 rows a
 * call), then the last 8 (micro8_rows, 6 rows a call).
 */
TARGET INLINE void multiply_position_wide(int rows, const float *vp, int ldv, const float *up, int k_out, int c_in,
                                          float *mp, int ldm, int k_from, int k_to) {
    int k = k_from;
    for (; k + 32 <= k_to; k += 32) {
        for (int r = 0; r < rows; r += ROWS) {
            const int n = rows - r < ROWS ? rows - r : ROWS;
            WIDE32[n](vp + (int64_t) r * ldv, ldv, up + k, k_out, c_in, mp + (int64_t) r * ldm + k, ldm);
        }
    }
    for (; k + 16 <= k_to; k += 16) {
        for (int r = 0; r < rows; r += WIDE_ROWS) {
            const int n = rows - r < WIDE_ROWS ? rows - r : WIDE_ROWS;
            WIDE16[n](vp + (int64_t) r * ldv, ldv, up + k, k_out, c_in, mp + (int64_t) r * ldm + k, ldm);
        }
    }
    if (k < k_to) {
        for (int r = 0; r < rows; r += ROWS) {
            const int n = rows - r < ROWS ? rows - r : ROWS;
            MICRO8[n](vp + (int64_t) r * ldv, ldv, up + k, k_out, c_in, mp + (int64_t) r * ldm + k, ldm);
        }
    }
}
#endif

/*
 * M[p] = V[p] U[p] for the block's rows, every position p, output channels k_from .. k_to-1 (multiples of 8). Rows
 * are taken 6 at a time (in the AVX-512 copy 12 where 16 columns are left), and the last few of a short block by a
 * micro-kernel of that many rows.
 */
TARGET static void multiply(const problem *pb, int rows, const float *v, float *m, int k_from, int k_to) {
    const int c_in = pb->c, k_out = pb->k, positions = pb->span * pb->span;
    const int ldv = positions * c_in, ldm = positions * k_out; /* from one tile's row to the next */
    for (int p = 0; p < positions; p++) {
        const float *vp = v + (int64_t) p * c_in;
        const float *up = pb->u + (int64_t) p * c_in * k_out;
        float *mp = m + (int64_t) p * k_out;
#ifdef OSPREY_WINOGRAD_AVX512_COPY
        multiply_position_wide(rows, vp, ldv, up, k_out, c_in, mp, ldm, k_from, k_to);
#else
        for (int r = 0; r < rows; r += ROWS) {
            const int n = rows - r < ROWS ? rows - r : ROWS;
            const micro_fn wide = MICRO16[n];
            int k = k_from;
            for (; k + 16 <= k_to; k += 16) {
                wide(vp + (int64_t) r * ldv, ldv, up + k, k_out, c_in, mp + (int64_t) r * ldm + k, ldm);
            }
            if (k < k_to) {
                MICRO8[n](vp + (int64_t) r * ldv, ldv, up + k, k_out, c_in, mp + (int64_t) r * ldm + k, ldm);
            }
        }
#endif
    }
}

/*
 * Y = A' M A for the block's tiles and output channels k_from .. k_to-1, plus bias and residual, activated, into the
 * output's NHWC positions; act and with_residual are constants where this is inlined.
 */
TARGET INLINE void transform_outputs_span(const problem *pb, int64_t first, int rows, const float *m, int k_from,
                                          int k_to, const int span, const int act, const int with_residual) {
    const int k_out = pb->k, positions = span * span, size = span - 2;
    cursor tile = cursor_at(pb, first);
    for (int row = 0; row < rows; row++, cursor_next(pb, &tile)) {
        int64_t at = ((tile.n * pb->oh + tile.oy) * pb->ow + tile.ox) * k_out; /* the tile's top-left output */
        int down = pb->oh - tile.oy < size ? pb->oh - tile.oy : size;     /* outputs of the tile inside the map */
        int across = pb->ow - tile.ox < size ? pb->ow - tile.ox : size;
        const float *tile_m = m + (int64_t) row * positions * k_out;
        int k = k_from;
#ifdef OSPREY_WINOGRAD_AVX512_COPY
        for (; k + 16 <= k_to; k += 16) {
            output_slice_16(pb, &tile, tile_m, at, k, down, across, size, act, with_residual);
        }
#endif
        for (; k < k_to; k += 8) {
            output_slice_8(pb, &tile, tile_m, at, k, down, across, size, act, with_residual);
        }
    }
}

/* Floats of scratch one thread needs for blocks of block tiles of m x m outputs. */
static int64_t scratch_per_thread(int block, int c_in, int k_out, int m) {
    return (int64_t) (m + 2) * (m + 2) * block * (c_in + k_out);
}

/* The transforms compiled once per tile size, so that their loops over the tile unroll into straight-line code. */
TARGET static void transform_inputs(const problem *pb, int64_t first, int rows, float *v) {
    if (pb->span == 4) {
        transform_inputs_span(pb, first, rows, v, 4);
    } else {
        transform_inputs_span(pb, first, rows, v, 6);
    }
}

/* The output transform compiled per tile size, activation and residual (each known per call). */
#define OSPREY_OUTPUTS(span, act, res) \
    TARGET static void transform_outputs_##span##_##act##_##res(const problem *pb, int64_t first, int rows, \
                                                               const float *m, int k_from, int k_to) { \
        transform_outputs_span(pb, first, rows, m, k_from, k_to, span, act, res); \
    }
#define OSPREY_OUTPUTS_SPAN(span) \
    OSPREY_OUTPUTS(span, ACT_NONE, 0) OSPREY_OUTPUTS(span, ACT_NONE, 1) OSPREY_OUTPUTS(span, ACT_RELU, 0) \
    OSPREY_OUTPUTS(span, ACT_RELU, 1) OSPREY_OUTPUTS(span, ACT_GENERAL, 0) OSPREY_OUTPUTS(span, ACT_GENERAL, 1) \
    OSPREY_OUTPUTS(span, ACT_NONE, 2)
OSPREY_OUTPUTS_SPAN(4)
OSPREY_OUTPUTS_SPAN(6)
#undef OSPREY_OUTPUTS_SPAN
#undef OSPREY_OUTPUTS

typedef void (*outputs_fn)(const problem *, int64_t, int, const float *, int, int);
static const outputs_fn OUTPUTS[2][3][2] = {
    {{transform_outputs_4_ACT_NONE_0, transform_outputs_4_ACT_NONE_1},
     {transform_outputs_4_ACT_RELU_0, transform_outputs_4_ACT_RELU_1},
     {transform_outputs_4_ACT_GENERAL_0, transform_outputs_4_ACT_GENERAL_1}},
    {{transform_outputs_6_ACT_NONE_0, transform_outputs_6_ACT_NONE_1},
     {transform_outputs_6_ACT_RELU_0, transform_outputs_6_ACT_RELU_1},
     {transform_outputs_6_ACT_GENERAL_0, transform_outputs_6_ACT_GENERAL_1}}};

/* A gate comes with a residual and no activation (backward-data's sum of gradients); the caller sees to that. */
TARGET static void transform_outputs(const problem *pb, int64_t first, int rows, const float *m, int k_from, int k_to) {
    if (pb->gate != NULL) {
        (pb->span == 4 ? transform_outputs_4_ACT_NONE_2 : transform_outputs_6_ACT_NONE_2)(pb, first, rows, m, k_from,
                                                                                          k_to);
        return;
    }
    int act = !pb->rectify ? ACT_NONE : pb->slope == 0 && pb->cap == INFINITY ? ACT_RELU : ACT_GENERAL;
    OUTPUTS[pb->span == 4 ? 0 : 1][act][pb->residual != NULL](pb, first, rows, m, k_from, k_to);
}

/*
 * Tiles from .. to-1, in blocks of at most block tiles, one after the other, with this thread's scratch: every block's
 * inputs, and its outputs in channels k_from .. k_to-1.
 */
TARGET static void run_tiles(const problem *pb, int64_t from, int64_t to, int block, int k_from, int k_to,
                             float *scratch) {
    float *v = scratch;
    float *m = v + (int64_t) pb->span * pb->span * block * pb->c;
    for (int64_t first = from; first < to; first += block) {
        int rows = (int) (to - first < block ? to - first : block);
        transform_inputs(pb, first, rows, v);
        int64_t next = first + rows;
        if (next < to) {
            prefetch_inputs(pb, next, (int) (to - next < block ? to - next : block));
        }
        multiply(pb, rows, v, m, k_from, k_to);
        transform_outputs(pb, first, rows, m, k_from, k_to);
    }
    if (pb->stream) {
        _mm_sfence(); /* this thread's streaming stores, visible before the team's barrier */
    }
}

/*
 * A forward pass as a step (op_chain.h). The team shares it one of two ways: an even, contiguous run of tiles per
 * thread (neighbouring tiles share input rows; a run's last block may end in a short micro-kernel row), or, where
 * there are too few tiles for that to keep every thread as busy (batch 1: ResNet-20's 8x8 maps are 4 tiles, one
 * micro-kernel row), a share of the output channels per thread, each thread transforming every block's inputs.
 * Either way each output is computed by the same operations in the same order, so the results are the same bits.
 */
typedef struct {
    problem pb;
    int64_t tiles;
    int block;
    int by_channels; /* 1: threads share the output channels, 0: the tiles */
} forward_step;

TARGET static void run_forward(const void *args, int thread, int team, float *scratch) {
    const forward_step *s = args;
    const int64_t per_thread = scratch_per_thread(s->block, s->pb.c, s->pb.k, s->pb.m);
    if (s->by_channels) { /* in units of 16 channels (whole 64-byte lines of y, the micro-kernel's full width) */
        const int units = s->pb.k / 16;
        const int k_from = units * thread / team * 16;
        const int k_to = thread + 1 == team ? s->pb.k : units * (thread + 1) / team * 16; /* the last: any 8 left */
        run_tiles(&s->pb, 0, s->tiles, s->block, k_from, k_to, scratch + thread * per_thread);
        return;
    }
    run_tiles(&s->pb, s->tiles * thread / team, s->tiles * (thread + 1) / team, s->block, 0, s->pb.k,
              scratch + thread * per_thread);
}

/*
 * Whether `team` threads should share the output channels rather than the tiles: when all the tiles fit one
 * micro-kernel row of 6 (splitting them would leave each thread a shorter row, reading all of U for it), and every
 * thread gets 16 channels or more (the micro-kernel's full width). On 2 AVX2 threads at batch 1 (benchmarks/
 * run-winograd-ab.sh): ResNet-20's 8x8 maps of 64 channels (4 tiles) ran in 0.71x the time sharing channels than
 * on one thread (results/winograd-ab-2026-12-04T0331Z.md) and in 0.81x of what splitting them 2 + 2 took (…T0847Z.md); the
 * tutorial CNN's 11x11 maps of 64 channels (9 tiles) ran in 0.84x the time split 4 + 5 than sharing channels
 * (…T0846Z.md).
 */
static int share_channels(int64_t tiles, int k_out, int team) {
    return team >= 2 && k_out >= 16 * team && tiles <= ROWS;
}

/* The forward pass as a step for `threads` threads (fewer where there is not enough work to share). */
static osprey_step forward_step_of(const problem *pb, int64_t batch, int block, int threads) {
    osprey_step step = {run_forward, threads, {{0}}};
    forward_step *s = (forward_step *) step.args.bytes;
    _Static_assert(sizeof(forward_step) <= STEP_ARGS_BYTES, "a Winograd step's operands fit a step");
    s->pb = *pb;
    s->tiles = batch * pb->tiles_h * pb->tiles_w;
    s->block = block;
    s->by_channels = share_channels(s->tiles, pb->k, threads);
    /*
     * Sharing tiles, each thread takes a row's worth of them at least, so that its read of all of U pays for itself;
     * a single row runs on the calling thread alone (no parallel region, which costs microseconds at batch 1).
     */
    const int64_t rows = (s->tiles + ROWS - 1) / ROWS;
    if (!s->by_channels && rows < threads) {
        step.threads = rows < 1 ? 1 : (int) rows;
    }
    return step;
}

TARGET static void forward(const problem *pb, int64_t batch, int block, float *scratch, int threads) {
    osprey_step step = forward_step_of(pb, batch, block, threads);
    osprey_run_step(&step, scratch);
}

/*
 * ---- The filter gradient ----
 *
 * Differentiating Y = A' [U . V] A with U = G g G' through every tile gives the kernel's gradient as
 *
 *     dg = G' [ sum over tiles of V . Z ] G,   V = B' d B (the input tile, transformed as in the forward pass),
 *                                              Z = A dY A' (the tile's m x m output gradients, spread to (m+2)^2)
 *
 * so, per position p of the tile and over channels, one matrix product reducing over tiles:
 * dU[p] (C x K) += V[p]' (C x tiles) * Z[p] (tiles x K), and at the end G' dU G per channel pair. Each thread sums
 * its blocks' products into its own dU; then, past a barrier, each transforms a share of the channels' sums of all
 * the threads' dU into dW. Output gradients past the map's edge (an edge tile's outputs the forward pass never
 * stored) are zeros: they contribute nothing. The bias gradient, the sum of dY, is taken on the way.
 */

/*
 * Z[row][p][k..] = A dY A' for the tiles first .. first+rows-1, from pb->dy; adds each output gradient inside the map
 * to bias_sum (K floats) where bias_sum is not null. The AVX-512 copy takes 16 channels at a time (gradient_slice_16,
 * winograd_lanes.h), then any 8 left; the same sums either way.
 */
TARGET INLINE void transform_gradients_span(const problem *pb, int64_t first, int rows, float *z, float *bias_sum,
                                            const int span) {
    const int k_out = pb->k, positions = span * span, size = span - 2;
    cursor tile = cursor_at(pb, first);
    for (int row = 0; row < rows; row++, cursor_next(pb, &tile)) {
        int64_t at = ((tile.n * pb->oh + tile.oy) * pb->ow + tile.ox) * k_out;
        int down = pb->oh - tile.oy < size ? pb->oh - tile.oy : size;
        int across = pb->ow - tile.ox < size ? pb->ow - tile.ox : size;
        float *tile_z = z + (int64_t) row * positions * k_out;
        int k = 0;
#ifdef OSPREY_WINOGRAD_AVX512_COPY
        for (; k + 16 <= k_out; k += 16) {
            gradient_slice_16(pb, at, down, across, span, k, tile_z, bias_sum);
        }
#endif
        for (; k < k_out; k += 8) {
            gradient_slice_8(pb, at, down, across, span, k, tile_z, bias_sum);
        }
    }
}

TARGET static void transform_gradients(const problem *pb, int64_t first, int rows, float *z, float *bias_sum) {
    if (pb->span == 4) {
        transform_gradients_span(pb, first, rows, z, bias_sum, 4);
    } else {
        transform_gradients_span(pb, first, rows, z, bias_sum, 6);
    }
}

/*
 * du (nc rows x wide floats, stride ldu) += v' z over depth tiles: v holds nc channels of each tile (stride ldv from
 * one tile to the next), z wide channels (stride ldz). nc (2, 4 or 6) and wide (8 or 16) are constants where this is
 * inlined, so the sums not used fall away and the rest stay in registers.
 */
TARGET INLINE void accumulate_tile(const int nc, const int wide, const float *v, int ldv, const float *z, int ldz,
                                   int depth, float *du, int ldu) {
    __m256 a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5;
    a0 = a1 = a2 = a3 = a4 = a5 = b0 = b1 = b2 = b3 = b4 = b5 = _mm256_setzero_ps();
#define OSPREY_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define OSPREY_LOAD(i) if (nc > i) { a##i = _mm256_loadu_ps(du + i * ldu); if (wide == 16) b##i = _mm256_loadu_ps(du + i * ldu + 8); }
    OSPREY_ROWS(OSPREY_LOAD)
    for (int r = 0; r < depth; r++) {
        __m256 z0 = _mm256_loadu_ps(z), z1 = wide == 16 ? _mm256_loadu_ps(z + 8) : z0;
        __m256 x;
#define OSPREY_FMA(i) if (nc > i) { x = _mm256_broadcast_ss(v + i); a##i = _mm256_fmadd_ps(x, z0, a##i); if (wide == 16) b##i = _mm256_fmadd_ps(x, z1, b##i); }
        OSPREY_ROWS(OSPREY_FMA)
        v += ldv;
        z += ldz;
    }
#define OSPREY_STORE(i) if (nc > i) { _mm256_storeu_ps(du + i * ldu, a##i); if (wide == 16) _mm256_storeu_ps(du + i * ldu + 8, b##i); }
    OSPREY_ROWS(OSPREY_STORE)
#undef OSPREY_STORE
#undef OSPREY_FMA
#undef OSPREY_LOAD
#undef OSPREY_ROWS
}

#define OSPREY_ACCUMULATE(nc, wide) \
    TARGET static void accumulate_##nc##x##wide(const float *v, int ldv, const float *z, int ldz, int depth, \
                                                float *du, int ldu) { \
        accumulate_tile(nc, wide, v, ldv, z, ldz, depth, du, ldu); \
    }
OSPREY_ACCUMULATE(6, 16)
OSPREY_ACCUMULATE(4, 16)
OSPREY_ACCUMULATE(2, 16)
OSPREY_ACCUMULATE(6, 8)
OSPREY_ACCUMULATE(4, 8)
OSPREY_ACCUMULATE(2, 8)
#undef OSPREY_ACCUMULATE

/* The instances by rows of channels (2, 4, 6) and columns (8, 16). */
typedef void (*accumulate_fn)(const float *, int, const float *, int, int, float *, int);
static const accumulate_fn ACCUMULATE[3][2] = {
    {accumulate_2x8, accumulate_2x16}, {accumulate_4x8, accumulate_4x16}, {accumulate_6x8, accumulate_6x16}};

#ifdef OSPREY_WINOGRAD_AVX512_COPY
/*
 * The AVX-512 copy's accumulate_tile for full 16-float columns, in 512-bit vectors (see wide16_rows): nc channels (up
 * to 12) of one vector of 16 columns each, or up to 6 of two vectors (32 columns). Each element of du takes the same
 * products in the same order as in accumulate_tile: the same bits.
 */
TARGET INLINE void accumulate_wide(const int nc, const int vectors, const float *v, int ldv, const float *z, int ldz,
                                   int depth, float *du, int ldu) {
    __m512 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm512_setzero_ps();
    /* with two vectors, channel i's sums are a<i> (columns 0-15) and a<i+6> (16-31) */
#define OSPREY_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define OSPREY_SIX(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define OSPREY_LOAD1(i) if (vectors == 1 && nc > i) { a##i = _mm512_loadu_ps(du + i * ldu); }
#define OSPREY_LOAD2(i) \
    if (vectors == 2 && nc > i) { a##i = _mm512_loadu_ps(du + i * ldu); OSPREY_HIGH(i) = _mm512_loadu_ps(du + i * ldu + 16); }
#define OSPREY_HIGH(i) OSPREY_HIGH_##i
#define OSPREY_HIGH_0 a6
#define OSPREY_HIGH_1 a7
#define OSPREY_HIGH_2 a8
#define OSPREY_HIGH_3 a9
#define OSPREY_HIGH_4 a10
#define OSPREY_HIGH_5 a11
    OSPREY_ALL(OSPREY_LOAD1)
    OSPREY_SIX(OSPREY_LOAD2)
    for (int r = 0; r < depth; r++) {
        const __m512 z0 = _mm512_loadu_ps(z), z1 = vectors == 2 ? _mm512_loadu_ps(z + 16) : z0;
#define OSPREY_FMA1(i) if (vectors == 1 && nc > i) { a##i = _mm512_fmadd_ps(_mm512_set1_ps(v[i]), z0, a##i); }
#define OSPREY_FMA2(i) \
    if (vectors == 2 && nc > i) { \
        const __m512 x = _mm512_set1_ps(v[i]); \
        a##i = _mm512_fmadd_ps(x, z0, a##i); \
        OSPREY_HIGH(i) = _mm512_fmadd_ps(x, z1, OSPREY_HIGH(i)); \
    }
        OSPREY_ALL(OSPREY_FMA1)
        OSPREY_SIX(OSPREY_FMA2)
        v += ldv;
        z += ldz;
    }
#define OSPREY_STORE1(i) if (vectors == 1 && nc > i) { _mm512_storeu_ps(du + i * ldu, a##i); }
#define OSPREY_STORE2(i) \
    if (vectors == 2 && nc > i) { _mm512_storeu_ps(du + i * ldu, a##i); _mm512_storeu_ps(du + i * ldu + 16, OSPREY_HIGH(i)); }
    OSPREY_ALL(OSPREY_STORE1)
    OSPREY_SIX(OSPREY_STORE2)
#undef OSPREY_STORE2
#undef OSPREY_STORE1
#undef OSPREY_FMA2
#undef OSPREY_FMA1
#undef OSPREY_HIGH_5
#undef OSPREY_HIGH_4
#undef OSPREY_HIGH_3
#undef OSPREY_HIGH_2
#undef OSPREY_HIGH_1
#undef OSPREY_HIGH_0
#undef OSPREY_HIGH
#undef OSPREY_LOAD2
#undef OSPREY_LOAD1
#undef OSPREY_SIX
#undef OSPREY_ALL
}

#define OSPREY_ACCUMULATE_WIDE(nc, vectors) \
    TARGET static void accumulate_wide_##nc##x##vectors(const float *v, int ldv, const float *z, int ldz, int depth, \
                                                       float *du, int ldu) { \
        accumulate_wide(nc, vectors, v, ldv, z, ldz, depth, du, ldu); \
    }
OSPREY_ACCUMULATE_WIDE(12, 1)
OSPREY_ACCUMULATE_WIDE(8, 1)
OSPREY_ACCUMULATE_WIDE(4, 1)
OSPREY_ACCUMULATE_WIDE(6, 2)
OSPREY_ACCUMULATE_WIDE(4, 2)
OSPREY_ACCUMULATE_WIDE(2, 2)
#undef OSPREY_ACCUMULATE_WIDE

/*
 * accumulate_products' body in the AVX-512 copy, for one position: columns 32 at a time (channels 6 at a time, then 4
 * or 2), then 16 (channels 12 at a time, then 8 or 4: C is a multiple of 8), then the last 8 (accumulate_tile).
 */
TARGET INLINE void accumulate_position_wide(int rows, const float *vp, int ldv, const float *zp, int ldz, float *up,
                                            int c_in, int k_out) {
    int k = 0;
    for (; k + 32 <= k_out; k += 32) {
        for (int c = 0; c < c_in; c += 6) {
            const int nc = c_in - c < 6 ? c_in - c : 6;
            const accumulate_fn f = nc == 6 ? accumulate_wide_6x2 : nc == 4 ? accumulate_wide_4x2 : accumulate_wide_2x2;
            f(vp + c, ldv, zp + k, ldz, rows, up + (int64_t) c * k_out + k, k_out);
        }
    }
    for (; k + 16 <= k_out; k += 16) {
        for (int c = 0; c < c_in; c += 12) {
            const int nc = c_in - c < 12 ? c_in - c : 12;
            const accumulate_fn f = nc == 12 ? accumulate_wide_12x1 : nc == 8 ? accumulate_wide_8x1 : accumulate_wide_4x1;
            f(vp + c, ldv, zp + k, ldz, rows, up + (int64_t) c * k_out + k, k_out);
        }
    }
    if (k < k_out) {
        for (int c = 0; c < c_in; c += 6) {
            const int nc = c_in - c < 6 ? c_in - c : 6;
            ACCUMULATE[nc / 2 - 1][0](vp + c, ldv, zp + k, ldz, rows, up + (int64_t) c * k_out + k, k_out);
        }
    }
}
#endif

/*
 * dU[p] += V[p]' Z[p] over the block's rows, every position p (C is a multiple of 8: channels go 6 at a time, then 2
 * or 4; in the AVX-512 copy 12 at a time, then 8 or 4, where 16 columns are left).
 */
TARGET static void accumulate_products(const problem *pb, int rows, const float *v, const float *z, float *du) {
    const int c_in = pb->c, k_out = pb->k, positions = pb->span * pb->span;
    const int ldv = positions * c_in, ldz = positions * k_out;
    for (int p = 0; p < positions; p++) {
        const float *vp = v + (int64_t) p * c_in;
        const float *zp = z + (int64_t) p * k_out;
        float *up = du + (int64_t) p * c_in * k_out;
#ifdef OSPREY_WINOGRAD_AVX512_COPY
        accumulate_position_wide(rows, vp, ldv, zp, ldz, up, c_in, k_out);
#else
        for (int c = 0; c < c_in; c += 6) {
            const int nc = c_in - c < 6 ? c_in - c : 6; /* 6, 4 or 2 */
            for (int k = 0; k < k_out; k += 16) {
                int wide = k + 16 <= k_out ? 1 : 0; /* 16 columns, or the last 8 */
                ACCUMULATE[nc / 2 - 1][wide](vp + c, ldv, zp + k, ldz, rows, up + (int64_t) c * k_out + k, k_out);
            }
        }
#endif
    }
}

/*
 * Tiles per block of the filter gradient: a multiple of ROWS whose V and Z blocks take about 192 KB (the L2 cache), but
 * 24 at least. Each block also reads and writes the thread's dU, (m+2)^2 x C x K floats, one position at a time (16 KB
 * per position at 64 x 64 channels, 64 KB at 128 x 128; the bound on channels on the Java side keeps it in cache), so
 * a short block spends more time moving dU than multiplying: on 2 threads at batch 128 (benchmarks/kernels/
 * filter_bench.c), 24 tiles instead of the 6 that 192 KB gave took 0.85x the time at 64 x 64 channels (8x8 maps) and
 * 0.83x at 128 x 128 (28x28, batch 32); 12, 18, 30 and 36 were slower than 24. At 16 x 16 the 42 tiles of 192 KB ran as
 * fast as 24, 60 or 96.
 */
#define FILTER_BLOCK_MIN 24
static int filter_block(int c_in, int k_out, int m) {
    int64_t per_tile = (int64_t) (m + 2) * (m + 2) * (c_in + k_out) * (int64_t) sizeof(float);
    int64_t block = (192 * 1024 / per_tile) / ROWS * ROWS;
    return block < FILTER_BLOCK_MIN ? FILTER_BLOCK_MIN : block > 16 * ROWS ? 16 * ROWS : (int) block;
}

/* Floats of scratch one thread needs: its block's V and Z, its dU and its bias sums. */
static int64_t filter_scratch_per_thread(int c_in, int k_out, int m) {
    int64_t positions = (int64_t) (m + 2) * (m + 2);
    return positions * filter_block(c_in, k_out, m) * (c_in + k_out) + positions * c_in * k_out + k_out;
}

/*
 * Backward-data alongside the filter gradient (see backward): the problem (dy in, dx out, the transposed kernel), its
 * block of tiles and each thread's scratch for it, data_floats apart from `scratch` on. Null where the filter gradient
 * runs alone.
 */
typedef struct {
    const problem *pb;
    int block;
    float *scratch;
    int64_t data_floats;
} backward_data;

/*
 * The thread's share of the work: dU and bias sums of blocks from .. to-1, into its (zeroed) part of the scratch; and
 * where data is not null, backward-data of each block's tiles just before its sums, with thread `thread`'s scratch.
 */
TARGET static void filter_blocks(const problem *pb, int64_t tiles, int block, int64_t from, int64_t to, float *part,
                                 int with_bias, const backward_data *data, int thread) {
    const int64_t positions = (int64_t) pb->span * pb->span;
    float *du = part, *bias_sum = du + positions * pb->c * pb->k;
    float *v = bias_sum + pb->k, *z = v + positions * block * pb->c;
    for (int64_t i = 0; i < positions * pb->c * pb->k + pb->k; i++) {
        part[i] = 0;
    }
    for (int64_t b = from; b < to; b++) {
        int64_t first = b * block;
        int rows = (int) (tiles - first < block ? tiles - first : block);
        if (data != NULL) {
            run_tiles(data->pb, first, first + rows, data->block, 0, data->pb->k,
                      data->scratch + thread * data->data_floats);
        }
        transform_inputs(pb, first, rows, v);
        transform_gradients(pb, first, rows, z, with_bias ? bias_sum : NULL);
        accumulate_products(pb, rows, v, z, du);
    }
}

/*
 * dW[a][b][c][k] = sum over i, j of G[i][a] G[j][b] dU[i*span+j][c][k] for channels c from .. to-1, dU the sum of the
 * team's parts (each part_floats apart), into dw (Keras' HWIO layout).
 */
TARGET static void finish_filter(const problem *pb, const float *parts, int64_t part_floats, int team, int from, int to,
                                 float *dw) {
    const int span = pb->span, positions = span * span, c_in = pb->c, k_out = pb->k;
    const double (*G)[3] = pb->m == 2 ? G2 : G4;
    __m256 g[6][3];
    for (int i = 0; i < span; i++) {
        for (int a = 0; a < 3; a++) {
            g[i][a] = _mm256_set1_ps((float) G[i][a]);
        }
    }
    for (int c = from; c < to; c++) {
        for (int k = 0; k < k_out; k += 8) {
            __m256 s[36], t[18];
            for (int p = 0; p < positions; p++) {
                int64_t at = ((int64_t) p * c_in + c) * k_out + k;
                __m256 sum = _mm256_loadu_ps(parts + at);
                for (int other = 1; other < team; other++) {
                    sum = _mm256_add_ps(sum, _mm256_loadu_ps(parts + other * part_floats + at));
                }
                s[p] = sum;
            }
            for (int a = 0; a < 3; a++) { /* G' S: 3 rows of span */
                for (int j = 0; j < span; j++) {
                    __m256 sum = _mm256_setzero_ps();
                    for (int i = 0; i < span; i++) {
                        sum = _mm256_fmadd_ps(g[i][a], s[i * span + j], sum);
                    }
                    t[a * span + j] = sum;
                }
            }
            for (int a = 0; a < 3; a++) { /* (G' S) G */
                for (int b = 0; b < 3; b++) {
                    __m256 sum = _mm256_setzero_ps();
                    for (int j = 0; j < span; j++) {
                        sum = _mm256_fmadd_ps(g[j][b], t[a * span + j], sum);
                    }
                    _mm256_storeu_ps(dw + ((int64_t) (a * 3 + b) * c_in + c) * k_out + k, sum);
                }
            }
        }
    }
}

/* The bias gradient: the sum of the team's bias sums. */
static void finish_bias(const problem *pb, const float *parts, int64_t part_floats, int team, float *db) {
    const int64_t offset = (int64_t) pb->span * pb->span * pb->c * pb->k;
    for (int k = 0; k < pb->k; k++) {
        float sum = 0;
        for (int t = 0; t < team; t++) {
            sum += parts[t * part_floats + offset + k];
        }
        db[k] = sum;
    }
}

/* The filter gradient's block of tiles for `threads` threads. */
static int filter_block_for(const problem *pb, int64_t tiles, int threads) {
    /* no longer than a thread's even share of the tiles (in whole micro-kernel rows): small batches still split */
    const int64_t share = threads > 1 ? (tiles + threads - 1) / threads : tiles;
    const int64_t share_rows = (share + ROWS - 1) / ROWS * ROWS;
    const int most = filter_block(pb->c, pb->k, pb->m);
    return share_rows < most ? (int) share_rows : most;
}

/*
 * The filter gradient into dw (and db where not null), with backward-data alongside where data is not null (its
 * scratch follows the team's filter parts: see backward). Scratch: `threads` filter parts first, side by side, as
 * finish_filter reads them.
 */
TARGET static void gradients(const problem *pb, int64_t batch, float *scratch, int threads, float *dw, float *db,
                             const backward_data *data) {
    const int64_t tiles = batch * pb->tiles_h * pb->tiles_w;
    const int block = filter_block_for(pb, tiles, threads);
    const int64_t blocks = (tiles + block - 1) / block;
    const int64_t part_floats = filter_scratch_per_thread(pb->c, pb->k, pb->m);
    int team = blocks < threads ? (int) blocks : threads;
    if (team <= 1) {
        filter_blocks(pb, tiles, block, 0, blocks, scratch, db != NULL, data, 0);
        finish_filter(pb, scratch, part_floats, 1, 0, pb->c, dw);
        if (db != NULL) {
            finish_bias(pb, scratch, part_floats, 1, db);
        }
        return;
    }
#pragma omp parallel num_threads(team)
    {
        int id = omp_get_thread_num();
        int size = omp_get_num_threads();
        filter_blocks(pb, tiles, block, blocks * id / size, blocks * (id + 1) / size, scratch + id * part_floats,
                      db != NULL, data, id);
#pragma omp barrier
        finish_filter(pb, scratch, part_floats, size, (int) ((int64_t) pb->c * id / size),
                      (int) ((int64_t) pb->c * (id + 1) / size), dw);
        if (db != NULL && id == 0) {
            finish_bias(pb, scratch, part_floats, size, db);
        }
    }
}

TARGET static void filter_gradient(const problem *pb, int64_t batch, float *scratch, int threads, float *dw,
                                   float *db) {
    gradients(pb, batch, scratch, threads, dw, db, NULL);
}

/*
 * ---- Both backward directions in one pass ----
 *
 * A 3x3 convolution padded so that dx and dy are the same size (ResNet's 'same' layers) tiles dx for backward-data
 * and dy for the filter gradient alike: tile t of one covers the same pixels as tile t of the other, and backward-data
 * reads the dy under it (a 6x6 window), which holds the filter gradient's 4x4 of dy. Run one after the other on each
 * block of tiles, the filter gradient finds that dy in the cache instead of reading it from memory a second time: at
 * ResNet-20's first stage (batch 128) dy is 8 MiB a layer. On 2 threads of an AMD EPYC (Zen 4) that one pass took
 * 0.88-0.93x the two passes' time there and 0.98x at 32 x 32 channels, whose smaller tensors stay in the L3 cache
 * (benchmarks/kernels/backward_bench.c). Each direction's work is what its own pass does, in the same order: the
 * filter gradient's blocks are split among the team as its own pass splits them, and each dx tile is computed alone,
 * so the results are the bits of the two passes.
 */

/*
 * The most bytes the transformed kernel and a thread's filter-gradient sums, which the two directions take turns with,
 * may take together: half the 1 MiB L2 cache of the machine it was measured on. Past that, taking turns pushes them out
 * of the cache and the one pass ran slower than the two (4x4 tiles): 1.02x at 64 x 64 channels (ResNet-20's third
 * stage), 1.06x at 128 x 128, 1.34x at 256 x 256 (benchmarks/results/winograd-layers-2026-12-05T0926Z.md). With 2x2
 * tiles, whose kernel takes 16 instead of 36 positions, the rule lets in up to 32 x 64 channels: level there (0.999x,
 * 16x16 maps, batch 128), 0.91x at 16 x 16 channels and 0.94x at 32 x 32.
 */
#define TOGETHER_BYTES (512 * 1024)

/*
 * Whether backward runs the two problems together: dx and dy are the same size (so they tile alike), the kernel and
 * the sums fit TOGETHER_BYTES (up to 32 x 32 channels with 4x4 tiles), and the tiles are many enough for the team to
 * share them, as backward-data's own pass would (not share_channels).
 */
static int backward_takes(const problem *data, const problem *filter, int64_t batch, int threads) {
    const int64_t kernel_bytes = (int64_t) filter->span * filter->span * filter->c * filter->k
                                 * (int64_t) sizeof(float);
    return data->oh == filter->oh && data->ow == filter->ow && 2 * kernel_bytes <= TOGETHER_BYTES
           && !share_channels(batch * filter->tiles_h * filter->tiles_w, data->k, threads);
}

/*
 * Backward-data (data: dy in, dx plus its residual out, the transposed kernel, in blocks of data_block) and the filter
 * gradient (filter: x and dy in) together, where backward_takes them; else 0, and nothing is done: the caller runs the
 * two passes. Scratch: `threads` filter parts first, then each thread's backward-data scratch.
 */
TARGET static int backward(const problem *data, const problem *filter, int64_t batch, int data_block,
                           float *scratch, int threads, float *dw, float *db) {
    if (!backward_takes(data, filter, batch, threads)) {
        return 0;
    }
    float *data_scratch = scratch + filter_scratch_per_thread(filter->c, filter->k, filter->m) * threads;
    const backward_data alongside = {data, data_block, data_scratch,
                                     scratch_per_thread(data_block, data->c, data->k, data->m)};
    gradients(filter, batch, scratch, threads, dw, db, &alongside);
    return 1;
}

#ifdef OSPREY_WINOGRAD_AVX512_COPY
/* This copy's entry points, for the JNI functions of the other (below). */
#define OSPREY_HIDDEN __attribute__((visibility("hidden")))
OSPREY_HIDDEN void osprey_winograd_avx512_prepare(const float *g, int c_in, int k_out, int m, int transposed,
                                                  float *u, int threads) {
    prepare_kernel(g, c_in, k_out, m, transposed, u, threads);
}

OSPREY_HIDDEN void osprey_winograd_avx512_forward(const problem *pb, int64_t batch, int block, float *scratch,
                                                  int threads) {
    forward(pb, batch, block, scratch, threads);
}

OSPREY_HIDDEN osprey_step osprey_winograd_avx512_forward_step(const problem *pb, int64_t batch, int block,
                                                              int threads) {
    return forward_step_of(pb, batch, block, threads);
}

OSPREY_HIDDEN void osprey_winograd_avx512_filter_gradient(const problem *pb, int64_t batch, float *scratch,
                                                          int threads, float *dw, float *db) {
    filter_gradient(pb, batch, scratch, threads, dw, db);
}

OSPREY_HIDDEN int osprey_winograd_avx512_backward(const problem *data, const problem *filter, int64_t batch,
                                                  int data_block, float *scratch, int threads, float *dw, float *db) {
    return backward(data, filter, batch, data_block, scratch, threads, dw, db);
}
#else
#ifdef OSPREY_WINOGRAD_HAS_AVX512_COPY
void osprey_winograd_avx512_prepare(const float *g, int c_in, int k_out, int m, int transposed, float *u,
                                    int threads);
void osprey_winograd_avx512_forward(const problem *pb, int64_t batch, int block, float *scratch, int threads);
osprey_step osprey_winograd_avx512_forward_step(const problem *pb, int64_t batch, int block, int threads);
void osprey_winograd_avx512_filter_gradient(const problem *pb, int64_t batch, float *scratch, int threads, float *dw,
                                            float *db);
int osprey_winograd_avx512_backward(const problem *data, const problem *filter, int64_t batch, int data_block,
                                    float *scratch, int threads, float *dw, float *db);

/* Whether the processor (and its OS) has AVX-512F and VL: found once, the same answer every time. */
static int avx512_present(void) {
    static int present = -1; /* -1: not yet asked; threads that race here all store the same answer */
    int p = __atomic_load_n(&present, __ATOMIC_RELAXED);
    if (p < 0) {
        __builtin_cpu_init();
        p = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? 1 : 0;
        __atomic_store_n(&present, p, __ATOMIC_RELAXED);
    }
    return p;
}

/* Whether the Java side allows the AVX-512VL copy (Winograd.useAvx512Copy); only it writes this. */
static int avx512_allowed = 1;

/* Whether the entry points take winograd_avx512.c's copy: allowed, and the processor has it. One read of each. */
static int use_avx512_copy(void) {
    return __atomic_load_n(&avx512_allowed, __ATOMIC_RELAXED) && avx512_present();
}
#define AVX512_OR(call_avx512, call) (use_avx512_copy() ? (call_avx512) : (call))
/* The same where the caller has read use_avx512_copy() once already (avx512), to decide other things by it too. */
#define AVX512_IF(avx512, call_avx512, call) ((avx512) ? (call_avx512) : (call))
#else
static int use_avx512_copy(void) {
    return 0;
}
#define AVX512_OR(call_avx512, call) (call)
#define AVX512_IF(avx512, call_avx512, call) ((void) (avx512), (call))
#endif

/* Whether the Java side allows streaming stores (Winograd.useStreamingStores); only it writes this. */
static int streaming_allowed = 1;

/*
 * A training pass's outputs from this many bytes on are stored past the caches (where allowed and the caller asks):
 * a batch's maps, which leave the caches before their reader comes, so storing them through the caches first reads
 * every line in (a write miss) for nothing. ResNet-20 at batch 128 (maps of 2 to 8 MiB): the convolutions' forwards
 * about 2.3 ms and backwards 1.3 ms less a step, its batch normalizations (which then read them from memory) 0.9 ms
 * more, 3-4% off the step (benchmarks/results/streaming-stores-2026-12-05.md). Inference does not ask: its slices are
 * sized for the next layer to read them from the caches, and streaming them cost 0.82x the images/s at batch 256.
 */
#define STREAMING_MIN_BYTES (2L << 20)

/*
 * Whether y's stores stream: allowed, y large (above), the AVX-512 copy running (avx512: the caller's one read of
 * use_avx512_copy, which also picks the copy), and every store a whole 64-byte line (K a multiple of 16, y on a line).
 * No pooled outputs. The AVX2 copy never streams: it stores a tile's 8-channel halves of each line apart, and it is
 * untimed with streaming.
 */
static int streaming_stores(const problem *pb, int64_t batch, int avx512) {
    int64_t bytes = batch * pb->oh * pb->ow * pb->k * (int64_t) sizeof(float);
    return avx512 && __atomic_load_n(&streaming_allowed, __ATOMIC_RELAXED) && bytes >= STREAMING_MIN_BYTES
           && pb->ph == 0 && pb->k % 16 == 0 && (intptr_t) pb->y % 64 == 0;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_Winograd_scratchFloats(JNIEnv *env, jclass type, jint block,
                                                                           jint c_in, jint k_out, jint m, jint threads) {
    (void) env;
    (void) type;
    return scratch_per_thread(block, c_in, k_out, m) * threads;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_sharesOutputChannels(JNIEnv *env, jclass type,
                                                                                   jlong tiles, jint k_out,
                                                                                   jint threads) {
    (void) env;
    (void) type;
    return share_channels(tiles, k_out, threads) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_Winograd_prepare(JNIEnv *env, jclass type, jlong keras, jint c_in,
                                                                    jint k_out, jint m, jlong prepared, jint threads) {
    (void) env;
    (void) type;
    AVX512_OR(osprey_winograd_avx512_prepare((const float *) (intptr_t) keras, c_in, k_out, m, 0,
                                             (float *) (intptr_t) prepared, threads),
              prepare_kernel((const float *) (intptr_t) keras, c_in, k_out, m, 0, (float *) (intptr_t) prepared,
                             threads));
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_Winograd_prepareTransposed(JNIEnv *env, jclass type, jlong keras,
                                                                              jint c_in, jint k_out, jint m,
                                                                              jlong prepared, jint threads) {
    (void) env;
    (void) type;
    AVX512_OR(osprey_winograd_avx512_prepare((const float *) (intptr_t) keras, c_in, k_out, m, 1,
                                             (float *) (intptr_t) prepared, threads),
              prepare_kernel((const float *) (intptr_t) keras, c_in, k_out, m, 1, (float *) (intptr_t) prepared,
                             threads));
}

/* Runs the pass now (chain 0, with this scratch) or appends it to the chain (JNI_FALSE: it could not grow). */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_forward(
        JNIEnv *env, jclass type, jlong x, jint batch, jint h, jint w, jint c_in, jint pad_top, jint pad_left,
        jint oh, jint ow, jint m, jlong u, jint k_out, jlong bias, jlong residual, jboolean rectify, jfloat slope,
        jfloat cap, jlong y, jint ph, jint pw, jlong scratch, jint block, jint threads, jlong chain, jboolean stream) {
    (void) env;
    (void) type;
    problem pb = {
        .x = (const float *) (intptr_t) x, .h = h, .w = w, .c = c_in, .pad_top = pad_top, .pad_left = pad_left,
        .oh = oh, .ow = ow, .k = k_out, .m = m, .span = m + 2, .tiles_h = (oh + m - 1) / m,
        .tiles_w = (ow + m - 1) / m,
        .u = (const float *) (intptr_t) u, .bias = (const float *) (intptr_t) bias,
        .residual = (const float *) (intptr_t) residual, .y = (float *) (intptr_t) y,
        .ph = ph > 0 && pw > 0 ? ph : 0, .pw = ph > 0 && pw > 0 ? pw : 0, /* pooled only with both: no residual then */
        .rectify = rectify,
        .slope = slope, .cap = cap,
    };
    const int avx512 = use_avx512_copy();
    pb.stream = stream && streaming_stores(&pb, batch, avx512);
    if (chain == 0) {
        AVX512_IF(avx512, osprey_winograd_avx512_forward(&pb, batch, block, (float *) (intptr_t) scratch, threads),
                  forward(&pb, batch, block, (float *) (intptr_t) scratch, threads));
        return JNI_TRUE;
    }
    osprey_step step = AVX512_IF(avx512, osprey_winograd_avx512_forward_step(&pb, batch, block, threads),
                                 forward_step_of(&pb, batch, block, threads));
    return osprey_chain_append(chain, &step) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_Winograd_filterScratchFloats(JNIEnv *env, jclass type, jint c_in,
                                                                                 jint k_out, jint m, jint threads) {
    (void) env;
    (void) type;
    return filter_scratch_per_thread(c_in, k_out, m) * threads;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_Winograd_filterGradient(
        JNIEnv *env, jclass type, jlong x, jint batch, jint h, jint w, jint c_in, jint pad_top, jint pad_left,
        jlong dy, jint oh, jint ow, jint k_out, jint m, jlong dw, jlong db, jlong scratch, jint threads) {
    (void) env;
    (void) type;
    problem pb = {
        .x = (const float *) (intptr_t) x, .h = h, .w = w, .c = c_in, .pad_top = pad_top, .pad_left = pad_left,
        .oh = oh, .ow = ow, .k = k_out, .m = m, .span = m + 2, .tiles_h = (oh + m - 1) / m,
        .tiles_w = (ow + m - 1) / m, .dy = (const float *) (intptr_t) dy,
    };
    AVX512_OR(osprey_winograd_avx512_filter_gradient(&pb, batch, (float *) (intptr_t) scratch, threads,
                                                 (float *) (intptr_t) dw, (float *) (intptr_t) db),
            filter_gradient(&pb, batch, (float *) (intptr_t) scratch, threads, (float *) (intptr_t) dw,
                            (float *) (intptr_t) db));
}

JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_Winograd_backwardScratchFloats(JNIEnv *env, jclass type,
                                                                                   jint c_in, jint k_out, jint m,
                                                                                   jint data_block, jint threads) {
    (void) env;
    (void) type;
    /* per thread: a filter-gradient part, then backward-data's scratch (see backward) */
    return (filter_scratch_per_thread(c_in, k_out, m) + scratch_per_thread(data_block, k_out, c_in, m)) * threads;
}

/*
 * The filter gradient's problem (x, dy in) and backward-data's (dy in, dx plus addend out, the transposed kernel) of
 * one convolution, as backward takes them; pointers may be 0 where only the geometry is asked about.
 */
static void backward_problems(jlong x, jint h, jint w, jint c_in, jint pad_top, jint pad_left, jlong dy, jint oh,
                              jint ow, jint k_out, jint m, jlong u_transposed, jint data_pad_top, jint data_pad_left,
                              jlong addend, jlong gate, jlong dx, problem *filter, problem *data) {
    problem f = {
        .x = (const float *) (intptr_t) x, .h = h, .w = w, .c = c_in, .pad_top = pad_top, .pad_left = pad_left,
        .oh = oh, .ow = ow, .k = k_out, .m = m, .span = m + 2, .tiles_h = (oh + m - 1) / m,
        .tiles_w = (ow + m - 1) / m, .dy = (const float *) (intptr_t) dy,
    };
    problem d = {
        .x = (const float *) (intptr_t) dy, .h = oh, .w = ow, .c = k_out, .pad_top = data_pad_top,
        .pad_left = data_pad_left, .oh = h, .ow = w, .k = c_in, .m = m, .span = m + 2, .tiles_h = (h + m - 1) / m,
        .tiles_w = (w + m - 1) / m, .u = (const float *) (intptr_t) u_transposed,
        .residual = (const float *) (intptr_t) addend, .y = (float *) (intptr_t) dx, .rectify = 0, .slope = 0,
        .cap = INFINITY, .gate = addend != 0 ? (const float *) (intptr_t) gate : NULL,
    };
    *filter = f;
    *data = d;
}

/* Whether backward runs both directions of this convolution in one pass on `threads` threads (else it declines). */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_backwardTakes(
        JNIEnv *env, jclass type, jint batch, jint h, jint w, jint c_in, jint pad_top, jint pad_left, jint oh, jint ow,
        jint k_out, jint m, jint data_pad_top, jint data_pad_left, jint threads) {
    (void) env;
    (void) type;
    problem filter, data;
    backward_problems(0, h, w, c_in, pad_top, pad_left, 0, oh, ow, k_out, m, 0, data_pad_top, data_pad_left, 0, 0, 0,
                      &filter, &data);
    return backward_takes(&data, &filter, batch, threads) ? JNI_TRUE : JNI_FALSE;
}

/*
 * Backward-data into dx (plus addend where not 0, then the gradient of the ReLU whose output gate is, where gate is
 * not 0 either) and the filter gradient into dw (and db where not 0) in one pass; JNI_FALSE where backward does not
 * take the convolution (nothing done: run the two passes).
 */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_backward(
        JNIEnv *env, jclass type, jlong x, jint batch, jint h, jint w, jint c_in, jint pad_top, jint pad_left,
        jlong dy, jint oh, jint ow, jint k_out, jint m, jlong u_transposed, jint data_pad_top, jint data_pad_left,
        jlong addend, jlong gate, jlong dx, jlong dw, jlong db, jlong scratch, jint data_block, jint threads) {
    (void) env;
    (void) type;
    problem filter, data;
    backward_problems(x, h, w, c_in, pad_top, pad_left, dy, oh, ow, k_out, m, u_transposed, data_pad_top,
                      data_pad_left, addend, gate, dx, &filter, &data);
    const int avx512 = use_avx512_copy();
    data.stream = streaming_stores(&data, batch, avx512);
    int done = AVX512_IF(avx512, osprey_winograd_avx512_backward(&data, &filter, batch, data_block,
                                                         (float *) (intptr_t) scratch, threads,
                                                         (float *) (intptr_t) dw, (float *) (intptr_t) db),
                         backward(&data, &filter, batch, data_block, (float *) (intptr_t) scratch, threads,
                                  (float *) (intptr_t) dw, (float *) (intptr_t) db));
    return done ? JNI_TRUE : JNI_FALSE;
}

/* Allows (or not) the AVX-512VL copy; returns whether the entry points now take it. */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_useAvx512Copy(JNIEnv *env, jclass type,
                                                                               jboolean allowed) {
    (void) env;
    (void) type;
#ifdef OSPREY_WINOGRAD_HAS_AVX512_COPY
    __atomic_store_n(&avx512_allowed, allowed ? 1 : 0, __ATOMIC_RELAXED);
#else
    (void) allowed;
#endif
    return use_avx512_copy() ? JNI_TRUE : JNI_FALSE;
}

/* Whether an output of this geometry at y would be stored streaming now (for tests). */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_streamsOutput(JNIEnv *env, jclass type, jlong y,
                                                                           jint batch, jint oh, jint ow, jint k_out) {
    (void) env;
    (void) type;
    problem pb = {.y = (float *) (intptr_t) y, .oh = oh, .ow = ow, .k = k_out};
    return streaming_stores(&pb, batch, use_avx512_copy()) ? JNI_TRUE : JNI_FALSE;
}

/* Allows (or not) streaming stores of large outputs (streaming_stores). */
JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_Winograd_useStreamingStores(JNIEnv *env, jclass type,
                                                                                jboolean allowed) {
    (void) env;
    (void) type;
    __atomic_store_n(&streaming_allowed, allowed ? 1 : 0, __ATOMIC_RELAXED);
}

/* Whether the entry points take the AVX-512VL copy. */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_Winograd_avx512Copy(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return use_avx512_copy() ? JNI_TRUE : JNI_FALSE;
}
#endif /* OSPREY_WINOGRAD_AVX512_COPY */
#endif
