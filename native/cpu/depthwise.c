/*
 * A depthwise convolution over few pixels, fp32, for dev.osprey.backend.cpu.DepthwiseConvPlan: each channel of x (NHWC)
 * convolved with its own kh x kw filter, y = rectify(sum + b [+ r]), the kernel in Keras' layout (kh, kw, channels, 1)
 * read as it is. MobileNetV2 at 32x32x3 and batch 1 has 17 of them on maps of 16x16 down to 1x1, where oneDNN spends
 * 1-6 us a call, mostly setting up, on a few thousand multiply-adds (the plan takes those of at most 64 pixels).
 *
 * For each output pixel the taps inside the input are found once; then 32 channels at a time (4 vectors of sums in
 * registers, the last channels % 8 through a mask) every tap's input and kernel vector are multiplied in, in tap
 * order (rows, then columns), and bias, residual and activation are applied as the sums are stored. Taps in the
 * padding are skipped: they would add zeros. The output pixels are split over the threads by rows. Where the processor
 * has AVX-512F, 64 channels at a time in 16-float vectors (every tail through a lane mask), the same sums in the same
 * order: the same bits.
 */
#include <jni.h>

#if !defined(__x86_64__)
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_DepthwiseConvPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return JNI_FALSE;
}
#else
#include <stdint.h>
#include "avx512_ops.h"
#include "op_chain.h"


typedef struct {
    const float *x;
    int batch, h, w, c;
    int kh, kw, sh, sw, pad_top, pad_left;
    int out_h, out_w;
    const float *k;
    const float *b; /* c floats, or 0 */
    const float *r; /* like y, or 0 */
    int rectify_on;
    float slope, cap;
    float *y;
} problem;

/*
 * Channels [channel, channel + 8 * vectors) of one output pixel, whose taps inside the input are rows [i0, i1) and
 * columns [j0, j1) of the kernel, `in` the input pixel under tap (i0, j0). vectors (1 to 4) and masked are constants where inlined; when masked,
 * the last vector's lanes are those mask holds (the channels' end), and the other vectors are whole.
 */
TARGET INLINE void pixel_channels(const problem *pb, const float *in, int i0, int i1, int j0, int j1, int channel,
                                  const int vectors, const int masked, __m256i mask, const float *r, __m256 slope,
                                  __m256 cap, float *y) {
    __m256 sums[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int64_t row = (int64_t) pb->w * pb->c;
    for (int i = i0; i < i1; i++) {
        for (int j = j0; j < j1; j++) {
            const float *xv = in + (i - i0) * row + (int64_t) (j - j0) * pb->c + channel;
            const float *kv = pb->k + ((int64_t) i * pb->kw + j) * pb->c + channel;
            for (int v = 0; v < vectors; v++) { /* unrolled: vectors is a constant */
                __m256 xs = masked && v == vectors - 1 ? _mm256_maskload_ps(xv + 8 * v, mask)
                                                       : _mm256_loadu_ps(xv + 8 * v);
                __m256 ks = masked && v == vectors - 1 ? _mm256_maskload_ps(kv + 8 * v, mask)
                                                       : _mm256_loadu_ps(kv + 8 * v);
                sums[v] = _mm256_fmadd_ps(xs, ks, sums[v]);
            }
        }
    }
    for (int v = 0; v < vectors; v++) {
        int ch = channel + 8 * v;
        __m256 a = sums[v];
        if (masked && v == vectors - 1) { /* masked moves only where needed: AMD cores run them slowly */
            if (pb->b) {
                a = _mm256_add_ps(a, _mm256_maskload_ps(pb->b + ch, mask));
            }
            if (r) {
                a = _mm256_add_ps(a, _mm256_maskload_ps(r + ch, mask));
            }
            _mm256_maskstore_ps(y + ch, mask, pb->rectify_on ? rectify(a, slope, cap) : a);
            continue;
        }
        if (pb->b) {
            a = _mm256_add_ps(a, _mm256_loadu_ps(pb->b + ch));
        }
        if (r) {
            a = _mm256_add_ps(a, _mm256_loadu_ps(r + ch));
        }
        _mm256_storeu_ps(y + ch, pb->rectify_on ? rectify(a, slope, cap) : a);
    }
}

/*
 * One output pixel's taps inside the input: rows [i0, i1) and columns [j0, j1) of the kernel; in: the input pixel under
 * tap (i0, j0) (a window wholly in the padding reads nothing: its sums stay 0); out: the pixel's first output.
 */
typedef struct {
    int i0, i1, j0, j1;
    const float *in;
    int64_t out;
} window;

INLINE window window_of(const problem *pb, int n, int oh, int ow) {
    window wd;
    int top = oh * pb->sh - pb->pad_top, left = ow * pb->sw - pb->pad_left;
    wd.i0 = top < 0 ? -top : 0;
    wd.i1 = pb->h - top < pb->kh ? pb->h - top : pb->kh;
    wd.j0 = left < 0 ? -left : 0;
    wd.j1 = pb->w - left < pb->kw ? pb->w - left : pb->kw;
    wd.in = wd.i0 < wd.i1 && wd.j0 < wd.j1
            ? pb->x + (((int64_t) n * pb->h + top + wd.i0) * pb->w + left + wd.j0) * pb->c : pb->x;
    wd.out = (((int64_t) n * pb->out_h + oh) * pb->out_w + ow) * pb->c;
    return wd;
}

/*
 * pixel_channels in 16-float vectors: channels [channel, channel + 16 * vectors) of one output pixel, the last vector's
 * lanes those `last` holds (all 16 but at the channels' end), the other vectors whole.
 */
TARGET512 INLINE void pixel_channels16(const problem *pb, const float *in, int i0, int i1, int j0, int j1,
                                       int channel, const int vectors, __mmask16 last, const float *r, __m512 slope,
                                       __m512 cap, float *y) {
    __m512 sums[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    const int64_t row = (int64_t) pb->w * pb->c;
    for (int i = i0; i < i1; i++) {
        for (int j = j0; j < j1; j++) {
            const float *xv = in + (i - i0) * row + (int64_t) (j - j0) * pb->c + channel;
            const float *kv = pb->k + ((int64_t) i * pb->kw + j) * pb->c + channel;
            for (int v = 0; v < vectors; v++) { /* unrolled: vectors is a constant */
                __mmask16 m = v == vectors - 1 ? last : (__mmask16) 0xFFFF;
                sums[v] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xv + 16 * v), _mm512_maskz_loadu_ps(m, kv + 16 * v),
                                          sums[v]);
            }
        }
    }
    for (int v = 0; v < vectors; v++) {
        int ch = channel + 16 * v;
        __mmask16 m = v == vectors - 1 ? last : (__mmask16) 0xFFFF;
        __m512 a = sums[v];
        if (pb->b) {
            a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, pb->b + ch));
        }
        if (r) {
            a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, r + ch));
        }
        _mm512_mask_storeu_ps(y + ch, m, pb->rectify_on ? rectify16(a, slope, cap) : a);
    }
}

/* rows in 16-float vectors (see pixel_channels16). */
TARGET512 static void rows16(const problem *pb, int64_t first, int64_t end) {
    const __m512 slope = _mm512_set1_ps(pb->slope), cap = _mm512_set1_ps(pb->cap);
    const int c = pb->c;
    for (int64_t row = first; row < end; row++) {
        int n = (int) (row / pb->out_h), oh = (int) (row % pb->out_h);
        for (int ow = 0; ow < pb->out_w; ow++) {
            window wd = window_of(pb, n, oh, ow);
            const float *in = wd.in;
            int i0 = wd.i0, i1 = wd.i1, j0 = wd.j0, j1 = wd.j1;
            const float *r = pb->r ? pb->r + wd.out : 0;
            float *y = pb->y + wd.out;
            int channel = 0;
            for (; channel + 64 <= c; channel += 64) {
                pixel_channels16(pb, in, i0, i1, j0, j1, channel, 4, (__mmask16) 0xFFFF, r, slope, cap, y);
            }
            int left_over = c - channel;
            if (left_over == 0) {
                continue;
            }
            int tail = left_over - (left_over - 1) / 16 * 16; /* the last vector's lanes, 1 to 16 */
            __mmask16 last = (__mmask16) (tail == 16 ? 0xFFFF : (1u << tail) - 1u);
            switch ((left_over + 15) / 16) { /* vectors left */
                case 3: pixel_channels16(pb, in, i0, i1, j0, j1, channel, 3, last, r, slope, cap, y); break;
                case 2: pixel_channels16(pb, in, i0, i1, j0, j1, channel, 2, last, r, slope, cap, y); break;
                case 1: pixel_channels16(pb, in, i0, i1, j0, j1, channel, 1, last, r, slope, cap, y); break;
                default: pixel_channels16(pb, in, i0, i1, j0, j1, channel, 4, last, r, slope, cap, y); break;
            }
        }
    }
}

/* Output rows [first, end) of the batch (row = image x out_h + output row). */
TARGET static void rows(const problem *pb, int64_t first, int64_t end) {
    const __m256 slope = _mm256_set1_ps(pb->slope), cap = _mm256_set1_ps(pb->cap);
    const int c = pb->c;
    for (int64_t row = first; row < end; row++) {
        int n = (int) (row / pb->out_h), oh = (int) (row % pb->out_h);
        for (int ow = 0; ow < pb->out_w; ow++) {
            window wd = window_of(pb, n, oh, ow);
            const float *in = wd.in;
            int i0 = wd.i0, i1 = wd.i1, j0 = wd.j0, j1 = wd.j1;
            const float *r = pb->r ? pb->r + wd.out : 0;
            float *y = pb->y + wd.out;
            int channel = 0;
            for (; channel + 32 <= c; channel += 32) {
                pixel_channels(pb, in, i0, i1, j0, j1, channel, 4, 0, _mm256_setzero_si256(), r, slope, cap, y);
            }
            int left_over = c - channel, whole = left_over % 8 == 0;
            __m256i tail = lanes_below(c, channel + (left_over - 1) / 8 * 8); /* the last vector's lanes */
            switch ((left_over + 7) / 8 * (whole ? 1 : -1)) { /* vectors left, negative when the last is partial */
                case 3: pixel_channels(pb, in, i0, i1, j0, j1, channel, 3, 0, tail, r, slope, cap, y); break;
                case 2: pixel_channels(pb, in, i0, i1, j0, j1, channel, 2, 0, tail, r, slope, cap, y); break;
                case 1: pixel_channels(pb, in, i0, i1, j0, j1, channel, 1, 0, tail, r, slope, cap, y); break;
                case -4: pixel_channels(pb, in, i0, i1, j0, j1, channel, 4, 1, tail, r, slope, cap, y); break;
                case -3: pixel_channels(pb, in, i0, i1, j0, j1, channel, 3, 1, tail, r, slope, cap, y); break;
                case -2: pixel_channels(pb, in, i0, i1, j0, j1, channel, 2, 1, tail, r, slope, cap, y); break;
                case -1: pixel_channels(pb, in, i0, i1, j0, j1, channel, 1, 1, tail, r, slope, cap, y); break;
                default: break; /* 0: none left */
            }
        }
    }
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_DepthwiseConvPlan_supported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_DepthwiseConvPlan_wideSupported(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return avx2_fma_supported() && avx512f_supported() ? JNI_TRUE : JNI_FALSE;
}

/* A forward pass as a step (op_chain.h): a contiguous range of the output rows. */
typedef struct {
    problem pb;
    int64_t rows; /* batch x out_h */
    int wide;     /* in 16-float vectors */
} depthwise_step;

TARGET static void run_depthwise(const void *args, int thread, int team, float *scratch) {
    (void) scratch;
    const depthwise_step *s = args;
    int64_t first = s->rows * thread / team, end = s->rows * (thread + 1) / team;
    if (s->wide) {
        rows16(&s->pb, first, end);
    } else {
        rows(&s->pb, first, end);
    }
}

/* Runs the pass now (chain 0), or appends it to the chain; JNI_FALSE where the chain could not grow. */
JNIEXPORT jboolean JNICALL Java_dev_osprey_backend_cpu_DepthwiseConvPlan_forward(
        JNIEnv *env, jclass type, jlong x, jint batch, jint h, jint w, jint c, jint kh, jint kw, jint sh, jint sw,
        jint pad_top, jint pad_left, jint out_h, jint out_w, jlong k, jlong b, jlong r, jboolean rectify_on,
        jfloat slope, jfloat cap, jlong y, jint threads, jboolean wide, jlong chain) {
    (void) env;
    (void) type;
    osprey_step step = {run_depthwise, threads, {{0}}};
    depthwise_step *s = (depthwise_step *) step.args.bytes;
    _Static_assert(sizeof(depthwise_step) <= STEP_ARGS_BYTES, "a depthwise step's operands fit a step");
    problem pb = {(const float *) (intptr_t) x, batch, h, w, c, kh, kw, sh, sw, pad_top, pad_left, out_h, out_w,
                  (const float *) (intptr_t) k, (const float *) (intptr_t) b, (const float *) (intptr_t) r,
                  rectify_on, slope, cap, (float *) (intptr_t) y};
    s->pb = pb;
    s->rows = (int64_t) batch * out_h;
    s->wide = wide == JNI_TRUE;
    if (s->rows < threads) {
        step.threads = (int) s->rows; /* a row each at least */
    }
    if (chain == 0) {
        osprey_run_step(&step, 0);
        return JNI_TRUE;
    }
    return osprey_chain_append(chain, &step) ? JNI_TRUE : JNI_FALSE;
}
#endif
