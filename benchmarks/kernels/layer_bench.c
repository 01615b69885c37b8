/*
 * Times Osprey's Winograd kernel (native/cpu/winograd.c, linked in) on one convolution layer and checks it against a
 * direct convolution summed in double on the first images. Used by benchmarks/run-winograd-layers.sh.
 * Usage: layer_bench BATCH H W C K PAD BLOCK THREADS M SECONDS
 * Prints: RESULT ms=<per call> gflops=<direct-equivalent GFLOP/s> max_error=<worst |error| / largest |output|>
 * Environment: SETS=n (1 to 16, default 1) times calls over n copies of x and y taken in turn, so that with enough of
 * them each call reads and writes memory as in a training step; STREAM=1 lets y be stored as a training pass stores
 * it (streaming where it is 2 MiB or more on the AVX-512 copy; default: as inference does, through the caches).
 */
#include <jni.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench_util.h"

jlong Java_dev_osprey_backend_cpu_Winograd_scratchFloats(JNIEnv *, jclass, jint, jint, jint, jint, jint);
void Java_dev_osprey_backend_cpu_Winograd_prepare(JNIEnv *, jclass, jlong, jint, jint, jint, jlong, jint);
/* the last argument: an op chain to append to, 0 to run now */
jboolean Java_dev_osprey_backend_cpu_Winograd_forward(JNIEnv *, jclass, jlong, jint, jint, jint, jint, jint, jint, jint,
                                                     jint, jint, jlong, jint, jlong, jlong, jboolean, jfloat, jfloat,
                                                     jlong, jint, jint, jlong, jint, jint, jlong, jboolean);

int main(int argc, char **argv) {
    if (argc != 11) {
        fprintf(stderr, "usage: %s BATCH H W C K PAD BLOCK THREADS M SECONDS\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), h = atoi(argv[2]), w = atoi(argv[3]), c = atoi(argv[4]), k = atoi(argv[5]);
    int pad = atoi(argv[6]), block = atoi(argv[7]), threads = atoi(argv[8]), m = atoi(argv[9]);
    double seconds = atof(argv[10]);
    const jboolean stream = getenv("STREAM") != NULL && atoi(getenv("STREAM")) == 1 ? JNI_TRUE : JNI_FALSE;
    int oh = h + 2 * pad - 2, ow = w + 2 * pad - 2;
    int64_t in = (int64_t) n * h * w * c, out = (int64_t) n * oh * ow * k;
    float *x = floats(in), *g = floats(9L * c * k), *u = floats((int64_t) (m + 2) * (m + 2) * c * k), *b = floats(k);
    float *y = floats(out);
    float *scratch = floats(Java_dev_osprey_backend_cpu_Winograd_scratchFloats(NULL, NULL, block, c, k, m, threads));
    srand(1);
    for (int64_t i = 0; i < in; i++) {
        x[i] = (float) rand() / RAND_MAX - 0.5f;
    }
    for (int64_t i = 0; i < 9L * c * k; i++) { /* He-like scale: outputs of about 1 */
        g[i] = ((float) rand() / RAND_MAX - 0.5f) * 2.0f * sqrtf(3.0f / (9.0f * c));
    }
    for (int i = 0; i < k; i++) {
        b[i] = 0.01f * i;
    }
    Java_dev_osprey_backend_cpu_Winograd_prepare(NULL, NULL, (jlong) (intptr_t) g, c, k, m, (jlong) (intptr_t) u,
                                                 threads);
#define RUN() Java_dev_osprey_backend_cpu_Winograd_forward(NULL, NULL, (jlong) (intptr_t) x, n, h, w, c, pad, pad, \
        oh, ow, m, (jlong) (intptr_t) u, k, (jlong) (intptr_t) b, 0, JNI_FALSE, 0.0f, INFINITY, (jlong) (intptr_t) y, \
        0, 0, (jlong) (intptr_t) scratch, block, threads, 0, stream)
    RUN();
    double worst = 0, largest = 0;
    for (int img = 0; img < (n < 2 ? n : 2); img++) {
        for (int i = 0; i < oh; i++) {
            for (int j = 0; j < ow; j++) {
                for (int o = 0; o < k; o++) {
                    double s = b[o];
                    for (int a = 0; a < 3; a++) {
                        for (int e = 0; e < 3; e++) {
                            int yy = i + a - pad, xx = j + e - pad;
                            if (yy < 0 || xx < 0 || yy >= h || xx >= w) {
                                continue;
                            }
                            for (int q = 0; q < c; q++) {
                                s += (double) x[(((int64_t) img * h + yy) * w + xx) * c + q]
                                        * g[((a * 3 + e) * c + q) * k + o];
                            }
                        }
                    }
                    double got = y[(((int64_t) img * oh + i) * ow + j) * k + o];
                    worst = fmax(worst, fabs(got - s));
                    largest = fmax(largest, fabs(s));
                }
            }
        }
    }
    int calls = 0;
    int sets = getenv("SETS") != NULL ? atoi(getenv("SETS")) : 1;
    if (sets < 1 || sets > 16) {
        fprintf(stderr, "SETS: expected 1 to 16, received %d\n", sets);
        return 2;
    }
    float *xs[16], *ys[16];
    for (int s = 0; s < sets; s++) {
        xs[s] = s == 0 ? x : floats(in);
        ys[s] = s == 0 ? y : floats(out);
        for (int64_t i = 0; s > 0 && i < in; i++) {
            xs[s][i] = x[i];
        }
    }
    double start = now();
    while (now() - start < seconds) {
        x = xs[calls % sets];
        y = ys[calls % sets];
        RUN();
        calls++;
    }
    double per_call = (now() - start) / calls;
    printf("RESULT ms=%.4f gflops=%.1f max_error=%.2e\n", per_call * 1e3,
           2.0 * n * oh * ow * k * c * 9 / per_call / 1e9, worst / fmax(largest, 1e-30));
    return 0;
}
