/*
 * The kernel and bias gradients of a depthwise convolution (one input channel per group, any multiplier), for
 * dev.osprey.backend.cpu.DepthwiseFilterGradient, over NHWC maps in place: oneDNN's depthwise backward-filter kernel
 * takes 3x3 windows only, and its general grouped kernel ran EfficientNet's 5x5 and ConvNeXt's 7x7 windows 25 to 45
 * times slower than their forward pass. The batch's output rows are split over the team; each thread sums into its
 * own copy of the gradient (kernel height x width x filters floats, in scratch the caller made once), and the copies
 * are added at the end, in thread order, so a run's sums do not depend on timing.
 */
#include <jni.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#if defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__x86_64__)
/* One copy per instruction set, picked when the library loads (as channel_gate.c's loop) */
#define DWFG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef DWFG_CLONES
#define DWFG_CLONES
#endif

/* Channels summed at a time: one 512-bit register of accumulators, kept there along the row. */
#define BLOCK 16

/*
 * acc[f] += sum over count positions of dy[p * dyStride + f] * x[p * xStride + f / m], f < filters: one kernel tap along
 * a row. With m == 1 the channels go BLOCK at a time, their sums in registers for the whole row.
 */
DWFG_CLONES static void tap_row(float *acc, const float *dy, int64_t dyStride, const float *x, int64_t xStride,
                                int count, int filters, int m) {
    if (m == 1) {
        int c0 = 0;
        for (; c0 + BLOCK <= filters; c0 += BLOCK) {
            float s[BLOCK];
            for (int j = 0; j < BLOCK; j++) s[j] = acc[c0 + j];
            for (int p = 0; p < count; p++) {
                const float *d = dy + p * dyStride + c0;
                const float *v = x + p * xStride + c0;
                for (int j = 0; j < BLOCK; j++) s[j] += d[j] * v[j];
            }
            for (int j = 0; j < BLOCK; j++) acc[c0 + j] = s[j];
        }
        for (int p = 0; p < count; p++) {
            for (int c = c0; c < filters; c++) acc[c] += dy[p * dyStride + c] * x[p * xStride + c];
        }
        return;
    }
    for (int p = 0; p < count; p++) {
        for (int f = 0; f < filters; f++) acc[f] += dy[p * dyStride + f] * x[p * xStride + f / m];
    }
}

DWFG_CLONES static void add_rows(float *sum, const float *rows, int64_t count, int width) {
    for (int64_t r = 0; r < count; r++) {
        for (int f = 0; f < width; f++) sum[f] += rows[r * width + f];
    }
}

/*
 * dKernel (kernelH, kernelW, channels, multiplier) = sum of dy * x over every output position; dBias (filters) = dy
 * summed per filter, where dBias is not 0. sums: the caller's scratch of sumsFloats floats, made once, where each
 * thread of the team sums its share (kernelH * kernelW * filters + filters floats a thread). Returns 0, or -1 where the
 * scratch is too small for the team (nothing written: the caller computes the gradients another way).
 */
JNIEXPORT jint JNICALL Java_dev_osprey_backend_cpu_DepthwiseFilterGradient_run(
        JNIEnv *env, jclass type, jlong xAddress, jlong dyAddress, jlong dKernelAddress, jlong dBiasAddress, jint batch,
        jint inH, jint inW, jint channels, jint multiplier, jint outH, jint outW, jint kernelH, jint kernelW,
        jint strideH, jint strideW, jint dilationH, jint dilationW, jint padTop, jint padLeft, jint threads,
        jlong sumsAddress, jlong sumsFloats) {
    (void) env;
    (void) type;
    const float *x = (const float *) (intptr_t) xAddress;
    const float *dy = (const float *) (intptr_t) dyAddress;
    float *dKernel = (float *) (intptr_t) dKernelAddress;
    float *dBias = (float *) (intptr_t) dBiasAddress;
    const int filters = channels * multiplier;
    const int64_t taps = (int64_t) kernelH * kernelW * filters;
    const int64_t rows = (int64_t) batch * outH;
    const int team = threads < 1 ? 1 : rows < threads ? (int) rows : threads;
    const int64_t own = taps + filters; /* a thread's kernel sums, then its bias sums */
    float *sums = (float *) (intptr_t) sumsAddress;
    if (sums == NULL || sumsFloats < (int64_t) team * own) {
        return -1;
    }
    memset(sums, 0, (size_t) team * own * sizeof(float)); /* a team smaller than asked leaves the rest zero */
#pragma omp parallel num_threads(team) if (team > 1)
    {
        const int id = omp_get_thread_num(), size = omp_get_num_threads();
        float *acc = sums + id * own;
        const int64_t first = rows * id / size, last = rows * (id + 1) / size;
        for (int64_t row = first; row < last; row++) {
            const int64_t n = row / outH;
            const int oh = (int) (row % outH);
            const float *dyRow = dy + row * outW * filters;
            for (int kh = 0; kh < kernelH; kh++) {
                const int ih = oh * strideH + kh * dilationH - padTop;
                if (ih < 0 || ih >= inH) continue;
                const float *xRow = x + (n * inH + ih) * inW * channels;
                for (int kw = 0; kw < kernelW; kw++) {
                    /* the outputs whose input column iw = ow * strideW + kw * dilationW - padLeft lies in [0, inW) */
                    const int offset = kw * dilationW - padLeft;
                    int from = offset >= 0 ? 0 : (-offset + strideW - 1) / strideW;
                    int to = inW - 1 - offset < 0 ? -1 : (inW - 1 - offset) / strideW;
                    if (to > outW - 1) to = outW - 1;
                    if (to < from) continue;
                    tap_row(acc + (int64_t) (kh * kernelW + kw) * filters, dyRow + (int64_t) from * filters,
                            filters, xRow + (int64_t) (from * strideW + offset) * channels,
                            (int64_t) strideW * channels, to - from + 1, filters, multiplier);
                }
            }
            if (dBias != NULL) add_rows(acc + taps, dyRow, outW, filters);
        }
    }
    memcpy(dKernel, sums, (size_t) taps * sizeof(float));
    if (dBias != NULL) memcpy(dBias, sums + taps, (size_t) filters * sizeof(float));
    for (int t = 1; t < team; t++) {
        add_rows(dKernel, sums + t * own, 1, (int) taps);
        if (dBias != NULL) add_rows(dBias, sums + t * own + taps, 1, filters);
    }
    return 0;
}
