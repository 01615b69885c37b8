/*
 * Multiply's channel gates (squeeze-and-excitation blocks: MobileNetV3, EfficientNet, RegNetY), for
 * dev.osprey.backend.cpu.ChannelGate: each (batch, pixels, channels) value times its sample's gate for its channel, in
 * one pass. Composed from the backend's pooling, scale and multiply ops it took three passes and three calls, a
 * quarter of EfficientNet-B0's batch-1 latency.
 */
#include <jni.h>
#include <stdint.h>

#if defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__x86_64__)
/* One copy per instruction set, picked when the library loads (as finite_scan.c's loop) */
#define GATE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef GATE_CLONES
#define GATE_CLONES
#endif

/* out[p][c] = x[p][c] * gate[c] over rows pixels of channels values; out may be x. */
GATE_CLONES static void gate_rows(const float *x, const float *gate, float *out, int64_t rows, int channels) {
    for (int64_t p = 0; p < rows; p++) {
        const float *in = x + p * channels;
        float *to = out + p * channels;
        for (int c = 0; c < channels; c++) {
            to[c] = in[c] * gate[c];
        }
    }
}

/*
 * out = x times the gates: x and out (batch, pixels, channels) floats at their addresses, gate (batch, channels);
 * out may be x. threads: the OpenMP team, which splits the batch's rows of pixels.
 */
JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_ChannelGate_multiply(JNIEnv *env, jclass type, jlong x, jlong gate,
                                                                      jlong out, jint batch, jint pixels,
                                                                      jint channels, jint threads) {
    (void) env;
    (void) type;
    const float *in = (const float *) (intptr_t) x;
    const float *g = (const float *) (intptr_t) gate;
    float *to = (float *) (intptr_t) out;
    /* blocks of rows, each at least 16 KiB of values, so that a small map stays on one thread */
    const int64_t rows_per_block = channels >= 4096 ? 1 : 4096 / channels;
    const int64_t blocks_per_sample = (pixels + rows_per_block - 1) / rows_per_block;
    const int64_t blocks = (int64_t) batch * blocks_per_sample;
    const int team = blocks < threads ? (int) blocks : threads;
#pragma omp parallel for num_threads(team > 1 ? team : 1) schedule(static) if (team > 1)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t sample = b / blocks_per_sample;
        const int64_t first = (b % blocks_per_sample) * rows_per_block;
        const int64_t rows = pixels - first < rows_per_block ? pixels - first : rows_per_block;
        const int64_t at = (sample * pixels + first) * channels;
        gate_rows(in + at, g + sample * channels, to + at, rows, channels);
    }
}
