/*
 * Times the Winograd kernel transform (native/cpu/winograd.c, linked in) that a training step runs twice per layer:
 * the forward one (Winograd.prepare) and the backward-data one (prepareTransposed), on a team of THREADS.
 * Usage: prepare_bench C K M THREADS SECONDS
 * Prints: RESULT plain_us=<per call> transposed_us=<per call>
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench_util.h"

void Java_dev_osprey_backend_cpu_Winograd_prepare(JNIEnv *, jclass, jlong, jint, jint, jint, jlong, jint);
void Java_dev_osprey_backend_cpu_Winograd_prepareTransposed(JNIEnv *, jclass, jlong, jint, jint, jint, jlong, jint);

/* Microseconds per call of the plain (0) or transposed (1) transform over about `seconds`. */
static double time_transform(int transposed, const float *g, int c, int k, int m, float *u, int threads,
                             double seconds) {
    long calls = 0;
    double start = now(), elapsed;
    do {
        if (transposed) {
            Java_dev_osprey_backend_cpu_Winograd_prepareTransposed(NULL, NULL, (jlong) (intptr_t) g, c, k, m,
                                                                  (jlong) (intptr_t) u, threads);
        } else {
            Java_dev_osprey_backend_cpu_Winograd_prepare(NULL, NULL, (jlong) (intptr_t) g, c, k, m,
                                                        (jlong) (intptr_t) u, threads);
        }
        calls++;
        elapsed = now() - start;
    } while (elapsed < seconds);
    return elapsed / calls * 1e6;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s C K M THREADS SECONDS\n", argv[0]);
        return 2;
    }
    int c = atoi(argv[1]), k = atoi(argv[2]), m = atoi(argv[3]), threads = atoi(argv[4]);
    double seconds = atof(argv[5]);
    if (c <= 0 || k <= 0 || c % 8 != 0 || k % 8 != 0 || (m != 2 && m != 4) || threads <= 0 || !(seconds > 0)) {
        fprintf(stderr, "expected C and K multiples of 8, M 2 or 4, THREADS and SECONDS above 0\n");
        return 2;
    }
    float *g = floats(9L * c * k), *u = floats((int64_t) (m + 2) * (m + 2) * c * k);
    srand(1);
    for (int64_t i = 0; i < 9L * c * k; i++) {
        g[i] = (float) rand() / RAND_MAX - 0.5f;
    }
    double plain = time_transform(0, g, c, k, m, u, threads, seconds / 2);
    double transposed = time_transform(1, g, c, k, m, u, threads, seconds / 2);
    printf("RESULT plain_us=%.1f transposed_us=%.1f\n", plain, transposed);
    free(g);
    free(u);
    return 0;
}
