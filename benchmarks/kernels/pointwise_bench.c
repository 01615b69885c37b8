/*
 * Times Osprey's pointwise kernel (native/cpu/pointwise.c, linked in) on a 1x1 layer: IN inputs to UNITS outputs over
 * PIXELS pixels, ReLU6, THREADS OpenMP threads, in MODE: panels (over a kernel prepared in panels), product (the matrix
 * product over a kernel prepared in strips) or auto (as PointwiseConvPlan picks: panels for 1 or 2 pixels). Between
 * calls it reads a 12 MB buffer, so the kernel comes from L3 as it does in a model that streams 9 MB of weights per
 * image (MobileNetV2 at 32x32x3).
 * Build: gcc -O3 -fopenmp -I$JAVA_HOME/include -I$JAVA_HOME/include/linux -o pointwise_bench \
 *          benchmarks/kernels/pointwise_bench.c native/cpu/pointwise.c native/cpu/op_chain.c
 * Usage: pointwise_bench [IN=160] [UNITS=960] [PIXELS=1] [THREADS=2] [CALLS=2000] [MODE=auto] [WIDE=0]
 * (WIDE=1: the matrix product in 512-bit vectors, on a processor with AVX-512F)
 * Prints: RESULT us=<median per call> gb_per_s=<kernel bytes / median> gflop_per_s=<2 x multiply-adds / median>
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"

void Java_dev_osprey_backend_cpu_PointwiseConvPlan_prepareStrips(JNIEnv *, jclass, jlong, jint, jint, jlong);
void Java_dev_osprey_backend_cpu_PointwiseConvPlan_prepare(JNIEnv *, jclass, jlong, jint, jint, jint, jlong);
/* the last argument: an op chain to append to, 0 to run now */
jboolean Java_dev_osprey_backend_cpu_PointwiseConvPlan_forward(JNIEnv *, jclass, jlong, jint, jint, jlong, jint, jlong,
                                                               jlong, jboolean, jfloat, jfloat, jlong, jint, jint, jint,
                                                               jint, jint, jlong);
jboolean Java_dev_osprey_backend_cpu_PointwiseConvPlan_forwardRows(JNIEnv *, jclass, jlong, jint, jint, jlong, jint,
                                                                   jlong, jlong, jboolean, jfloat, jfloat, jlong, jint,
                                                                   jint, jint, jint, jint, jboolean, jlong);

static int by_value(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int in = argc > 1 ? atoi(argv[1]) : 160, units = argc > 2 ? atoi(argv[2]) : 960;
    int pixels = argc > 3 ? atoi(argv[3]) : 1, threads = argc > 4 ? atoi(argv[4]) : 2;
    int calls = argc > 5 ? atoi(argv[5]) : 2000;
    const char *mode = argc > 6 ? argv[6] : "auto";
    int wide = argc > 7 ? atoi(argv[7]) : 0;
    int known = !strcmp(mode, "auto") || !strcmp(mode, "panels") || !strcmp(mode, "product");
    if (in < 1 || units < 1 || pixels < 1 || threads < 1 || calls < 1 || !known) {
        fprintf(stderr, "usage: pointwise_bench [IN=160] [UNITS=960] [PIXELS=1] [THREADS=2] [CALLS=2000] "
                        "[MODE=auto|panels|product] [WIDE=0|1]\n");
        return 2;
    }
    if (wide && !__builtin_cpu_supports("avx512f")) {
        fprintf(stderr, "WIDE=1 needs a processor with AVX-512F, and this one has none\n");
        return 2;
    }
    int panels = !strcmp(mode, "auto") ? pixels <= 2 : !strcmp(mode, "panels");
    int64_t padded = (int64_t) in * ((units + 7) / 8 * 8);
    float *x = floats((int64_t) pixels * in), *w = floats((int64_t) in * units), *b = floats(units);
    float *prepared = floats(padded), *y = floats((int64_t) pixels * units);
    int64_t evict = 3 << 20; /* 12 MB of floats: more than L2, less than L3 */
    float *other = floats(evict);
    srand(1);
    for (int64_t i = 0; i < (int64_t) pixels * in; i++) {
        x[i] = (float) rand() / RAND_MAX;
    }
    for (int64_t i = 0; i < (int64_t) in * units; i++) {
        w[i] = (float) rand() / RAND_MAX - 0.5f;
    }
    for (int i = 0; i < units; i++) {
        b[i] = 0.01f * i;
    }
    for (int64_t i = 0; i < evict; i++) {
        other[i] = (float) i;
    }
    if (panels) {
        Java_dev_osprey_backend_cpu_PointwiseConvPlan_prepare(NULL, NULL, (jlong) (intptr_t) w, in, units, threads,
                                                              (jlong) (intptr_t) prepared);
    } else {
        Java_dev_osprey_backend_cpu_PointwiseConvPlan_prepareStrips(NULL, NULL, (jlong) (intptr_t) w, in, units,
                                                                    (jlong) (intptr_t) prepared);
    }
    double *times = malloc(sizeof(double) * (size_t) calls);
    volatile float sink = 0;
    for (int call = 0; call < calls; call++) {
        float sum = 0;
        for (int64_t i = 0; i < evict; i += 16) { /* one float per 64-byte line */
            sum += other[i];
        }
        sink += sum;
        double start = now();
        if (panels) {
            Java_dev_osprey_backend_cpu_PointwiseConvPlan_forward(NULL, NULL, (jlong) (intptr_t) x, pixels, in,
                    (jlong) (intptr_t) prepared, units, (jlong) (intptr_t) b, 0, JNI_TRUE, 0, 6,
                    (jlong) (intptr_t) y, pixels, 1, 1, 1, threads, 0); /* a map of pixels x 1, stride 1 */
        } else {
            Java_dev_osprey_backend_cpu_PointwiseConvPlan_forwardRows(NULL, NULL, (jlong) (intptr_t) x, pixels, in,
                    (jlong) (intptr_t) prepared, units, (jlong) (intptr_t) b, 0, JNI_TRUE, 0, 6, (jlong) (intptr_t) y,
                    pixels, 1, 1, 1, threads, wide ? JNI_TRUE : JNI_FALSE, 0);
        }
        times[call] = now() - start;
    }
    qsort(times, (size_t) calls, sizeof(double), by_value);
    double median = times[calls / 2];
    double bytes = 4.0 * (panels ? (double) padded : (double) in * units);
    double flops = 2.0 * pixels * in * units;
    printf("RESULT us=%.2f gb_per_s=%.1f gflop_per_s=%.1f (%s, %d x %d, %d pixels, %d threads)\n", median * 1e6,
           bytes / median / 1e9, flops / median / 1e9,
           panels ? "panels" : wide ? "matrix product, 512-bit" : "matrix product", in, units, pixels, threads);
    return sink == 12345 ? 1 : 0;
}
