/*
 * Times the filter gradient of Osprey's Winograd kernel (native/cpu/winograd.c, linked in) on one convolution layer
 * and checks it, and the bias gradient, against sums in double over the whole batch. Used by
 * benchmarks/run-winograd-layers.sh.
 * Usage: filter_bench BATCH H W C K PAD THREADS M SECONDS
 * Prints: RESULT ms=<per call> gflops=<direct-equivalent GFLOP/s> max_error=<worst |error| / largest |dW|>
 *         bias_error=<worst |error| / largest |db|>
 */
#include <jni.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench_util.h"

jlong Java_dev_osprey_backend_cpu_Winograd_filterScratchFloats(JNIEnv *, jclass, jint, jint, jint, jint);
void Java_dev_osprey_backend_cpu_Winograd_filterGradient(JNIEnv *, jclass, jlong, jint, jint, jint, jint, jint, jint,
                                                        jlong, jint, jint, jint, jint, jlong, jlong, jlong, jint);

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: %s BATCH H W C K PAD THREADS M SECONDS\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), h = atoi(argv[2]), w = atoi(argv[3]), c = atoi(argv[4]), k = atoi(argv[5]);
    int pad = atoi(argv[6]), threads = atoi(argv[7]), m = atoi(argv[8]);
    double seconds = atof(argv[9]);
    int oh = h + 2 * pad - 2, ow = w + 2 * pad - 2;
    int64_t in = (int64_t) n * h * w * c, out = (int64_t) n * oh * ow * k;
    float *x = floats(in), *dy = floats(out), *dw = floats(9L * c * k), *db = floats(k);
    float *scratch = floats(Java_dev_osprey_backend_cpu_Winograd_filterScratchFloats(NULL, NULL, c, k, m, threads));
    srand(1);
    for (int64_t i = 0; i < in; i++) {
        x[i] = (float) rand() / RAND_MAX - 0.5f;
    }
    for (int64_t i = 0; i < out; i++) {
        dy[i] = ((float) rand() / RAND_MAX - 0.5f) * 0.01f;
    }
#define RUN() Java_dev_osprey_backend_cpu_Winograd_filterGradient(NULL, NULL, (jlong) (intptr_t) x, n, h, w, c, pad, \
        pad, (jlong) (intptr_t) dy, oh, ow, k, m, (jlong) (intptr_t) dw, (jlong) (intptr_t) db, \
        (jlong) (intptr_t) scratch, threads)
    RUN();
    double *want = calloc((size_t) 9 * c * k, sizeof(double)), *want_b = calloc((size_t) k, sizeof(double));
    for (int b = 0; b < n; b++) {
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                const float *g = dy + (((int64_t) b * oh + oy) * ow + ox) * k;
                for (int o = 0; o < k; o++) {
                    want_b[o] += g[o];
                }
                for (int a = 0; a < 3; a++) {
                    int yy = oy + a - pad;
                    if (yy < 0 || yy >= h) {
                        continue;
                    }
                    for (int bb = 0; bb < 3; bb++) {
                        int xx = ox + bb - pad;
                        if (xx < 0 || xx >= w) {
                            continue;
                        }
                        const float *px = x + (((int64_t) b * h + yy) * w + xx) * c;
                        double *row = want + (int64_t) (a * 3 + bb) * c * k;
                        for (int i = 0; i < c; i++) {
                            for (int o = 0; o < k; o++) {
                                row[(int64_t) i * k + o] += (double) px[i] * g[o];
                            }
                        }
                    }
                }
            }
        }
    }
    double largest = 0, worst = 0, largest_b = 0, worst_b = 0;
    for (int64_t i = 0; i < 9L * c * k; i++) {
        largest = fmax(largest, fabs(want[i]));
        worst = fmax(worst, fabs(want[i] - dw[i]));
    }
    for (int o = 0; o < k; o++) {
        largest_b = fmax(largest_b, fabs(want_b[o]));
        worst_b = fmax(worst_b, fabs(want_b[o] - db[o]));
    }
    int calls = 0;
    double start = now();
    do {
        RUN();
        calls++;
    } while (now() - start < seconds);
    double ms = (now() - start) * 1e3 / calls;
    double flops = 2.0 * 9 * c * k * (double) out / k;
    printf("RESULT ms=%.3f gflops=%.1f max_error=%.2e bias_error=%.2e\n", ms, flops / ms * 1e-6, worst / largest,
           worst_b / largest_b);
    return 0;
}
