/*
 * Times both backward directions of a 'same'-padded 3x3 convolution through Osprey's Winograd kernel
 * (native/cpu/winograd.c, linked in), in one pass (Winograd.backward) against the two passes it replaces (the
 * filter gradient, then backward-data as a forward pass of dy with the transposed kernel), interleaved in rounds,
 * over SETS sets of buffers taken in turn (enough sets leave the caches cold, as in a model, where each layer's tensors
 * were written long before). Checks that both give the same bits.
 * Usage: backward_bench BATCH H W C K THREADS M SETS ROUNDS SECONDS-PER-ROUND
 * Prints: RESULT one_pass_ms=<median per call> two_passes_ms=<median> ratio=<one / two, median of rounds>
 * same_bits=<0|1>, or RESULT declined where the one pass does not take the shape (the library runs the two passes).
 * The backward-data block is 12 tiles, as Winograd.block picks it for these layers on 2 threads. Both ways store dx
 * as a training pass does (streaming where it is 2 MiB or more on the AVX-512 copy).
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"

jlong Java_dev_osprey_backend_cpu_Winograd_scratchFloats(JNIEnv *, jclass, jint, jint, jint, jint, jint);
jlong Java_dev_osprey_backend_cpu_Winograd_filterScratchFloats(JNIEnv *, jclass, jint, jint, jint, jint);
jlong Java_dev_osprey_backend_cpu_Winograd_backwardScratchFloats(JNIEnv *, jclass, jint, jint, jint, jint, jint);
void Java_dev_osprey_backend_cpu_Winograd_prepareTransposed(JNIEnv *, jclass, jlong, jint, jint, jint, jlong, jint);
jboolean Java_dev_osprey_backend_cpu_Winograd_forward(JNIEnv *, jclass, jlong, jint, jint, jint, jint, jint, jint, jint,
                                                     jint, jint, jlong, jint, jlong, jlong, jboolean, jfloat, jfloat,
                                                     jlong, jint, jint, jlong, jint, jint, jlong, jboolean);
void Java_dev_osprey_backend_cpu_Winograd_filterGradient(JNIEnv *, jclass, jlong, jint, jint, jint, jint, jint, jint,
                                                        jlong, jint, jint, jint, jint, jlong, jlong, jlong, jint);
jboolean Java_dev_osprey_backend_cpu_Winograd_backward(JNIEnv *, jclass, jlong, jint, jint, jint, jint, jint, jint,
                                                      jlong, jint, jint, jint, jint, jlong, jint, jint, jlong, jlong,
                                                      jlong, jlong, jlong, jlong, jint, jint);

#define BLOCK 12
#define P(a) ((jlong) (intptr_t) (a))

static int n, h, w, c, k, threads, m;
static float *u, *scratch, *dw, *db;

static int one_pass(const float *x, const float *dy, float *dx) {
    return Java_dev_osprey_backend_cpu_Winograd_backward(NULL, NULL, P(x), n, h, w, c, 1, 1, P(dy), h, w, k, m, P(u),
                                                         1, 1, 0, 0, P(dx), P(dw), P(db), P(scratch), BLOCK,
                                                         threads);
}

static void two_passes(const float *x, const float *dy, float *dx) {
    Java_dev_osprey_backend_cpu_Winograd_filterGradient(NULL, NULL, P(x), n, h, w, c, 1, 1, P(dy), h, w, k, m, P(dw),
                                                        P(db), P(scratch), threads);
    Java_dev_osprey_backend_cpu_Winograd_forward(NULL, NULL, P(dy), n, h, w, k, 1, 1, h, w, m, P(u), c, 0, 0, 0, 0.0f,
                                                 1.0f / 0.0f, P(dx), 0, 0, P(scratch), BLOCK, threads, 0, JNI_TRUE);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 11) {
        fprintf(stderr, "usage: %s BATCH H W C K THREADS M SETS ROUNDS SECONDS-PER-ROUND\n", argv[0]);
        return 2;
    }
    n = atoi(argv[1]), h = atoi(argv[2]), w = atoi(argv[3]), c = atoi(argv[4]), k = atoi(argv[5]);
    threads = atoi(argv[6]), m = atoi(argv[7]);
    int sets = atoi(argv[8]), rounds = atoi(argv[9]);
    double seconds = atof(argv[10]);
    if (rounds < 1 || rounds > 64 || sets < 1) {
        fprintf(stderr, "expected 1 to 64 rounds and at least 1 set\n");
        return 2;
    }
    int64_t in = (int64_t) n * h * w * c, out = (int64_t) n * h * w * k;
    float **x = malloc(sizeof(float *) * sets), **dy = malloc(sizeof(float *) * sets);
    float **dx = malloc(sizeof(float *) * sets);
    srand(1);
    for (int s = 0; s < sets; s++) {
        x[s] = floats(in), dy[s] = floats(out), dx[s] = floats(in);
        for (int64_t i = 0; i < in; i++) {
            x[s][i] = (float) rand() / RAND_MAX - 0.5f;
        }
        for (int64_t i = 0; i < out; i++) {
            dy[s][i] = ((float) rand() / RAND_MAX - 0.5f) * 0.01f;
        }
    }
    float *g = floats(9L * c * k);
    for (int64_t i = 0; i < 9L * c * k; i++) {
        g[i] = (float) rand() / RAND_MAX - 0.5f;
    }
    u = floats((int64_t) (m + 2) * (m + 2) * c * k);
    Java_dev_osprey_backend_cpu_Winograd_prepareTransposed(NULL, NULL, P(g), c, k, m, P(u), threads);
    int64_t need = Java_dev_osprey_backend_cpu_Winograd_backwardScratchFloats(NULL, NULL, c, k, m, BLOCK, threads);
    int64_t data = Java_dev_osprey_backend_cpu_Winograd_scratchFloats(NULL, NULL, BLOCK, k, c, m, threads);
    int64_t filter = Java_dev_osprey_backend_cpu_Winograd_filterScratchFloats(NULL, NULL, c, k, m, threads);
    int64_t most = need; /* one scratch for all three calls: the largest need */
    if (data > most) {
        most = data;
    }
    if (filter > most) {
        most = filter;
    }
    scratch = floats(most);
    dw = floats(9L * c * k), db = floats(k);
    float *dw2 = floats(9L * c * k), *db2 = floats(k), *dx2 = floats(in);
    /* the same bits both ways, on the first set */
    two_passes(x[0], dy[0], dx2);
    memcpy(dw2, dw, sizeof(float) * 9 * c * k);
    memcpy(db2, db, sizeof(float) * k);
    if (!one_pass(x[0], dy[0], dx[0])) {
        printf("RESULT declined\n"); /* the library runs the two passes on this shape */
        return 0;
    }
    int same = memcmp(dx[0], dx2, sizeof(float) * in) == 0 && memcmp(dw, dw2, sizeof(float) * 9 * c * k) == 0
               && memcmp(db, db2, sizeof(float) * k) == 0;
    double one[64], two[64], ratio[64];
    int at = 0;
    for (int r = 0; r < rounds; r++) {
        for (int mode = 0; mode < 2; mode++) {
            int which = (r % 2 == 0) ? mode : 1 - mode; /* who goes first alternates */
            int calls = 0;
            double start = now();
            do {
                if (which == 0) {
                    one_pass(x[at], dy[at], dx[at]);
                } else {
                    two_passes(x[at], dy[at], dx[at]);
                }
                at = (at + 1) % sets;
                calls++;
            } while (now() - start < seconds);
            double ms = (now() - start) * 1e3 / calls;
            if (which == 0) {
                one[r] = ms;
            } else {
                two[r] = ms;
            }
        }
        ratio[r] = one[r] / two[r];
    }
    qsort(one, rounds, sizeof(double), compare_doubles);
    qsort(two, rounds, sizeof(double), compare_doubles);
    qsort(ratio, rounds, sizeof(double), compare_doubles);
    printf("RESULT one_pass_ms=%.3f two_passes_ms=%.3f ratio=%.3f same_bits=%d\n", one[rounds / 2], two[rounds / 2],
           ratio[rounds / 2], same);
    return same ? 0 : 1;
}
