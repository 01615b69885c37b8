/*
 * Times Osprey's training batch normalization (native/cpu/batch_norm.c, linked in) with its 512-bit loops and with the
 * compiler's (the JNI entry points' wide flag), interleaved: the forward with a ReLU, the forward adding a residual and
 * the backward with the ReLU's gradient, on data in cache (one set of tensors, reused) and from memory (SETS sets,
 * taken in turn, 4 x SETS tensors in all); which variant goes first alternates by round. Checks that the two give the
 * same bits. As the library runs them: the 512-bit backward masks dy with the gate bits its forward stored, the
 * compiler's reads y (results before the bits: benchmarks/results/batch-norm-wide-2026-12-05.md).
 * Usage: batch_norm_bench ROWS CHANNELS THREADS REPS ROUNDS
 * Prints per round: <case> <wide ms> <compiler's ms> <ratio>
 */
#include <jni.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"

jlong Java_dev_osprey_backend_cpu_BatchNormKernels_scratchBytes(JNIEnv *, jclass, jint, jint);
void Java_dev_osprey_backend_cpu_BatchNormKernels_forward(JNIEnv *, jclass, jlong, jlong, jlong, jint, jlong, jlong,
                                                          jfloat, jboolean, jfloat, jlong, jlong, jlong, jlong, jlong,
                                                          jlong, jint, jboolean);
void Java_dev_osprey_backend_cpu_BatchNormKernels_backward(JNIEnv *, jclass, jlong, jlong, jlong, jlong, jlong, jint,
                                                           jlong, jlong, jlong, jfloat, jboolean, jfloat, jlong, jlong,
                                                           jlong, jlong, jlong, jint, jboolean);
jlong Java_dev_osprey_backend_cpu_BatchNormKernels_gateBitsBytes(JNIEnv *, jclass, jlong, jint, jboolean, jboolean);

#define SETS 8
#define A(p) ((jlong) (intptr_t) (p))

typedef struct {
    float *x, *r, *y, *dy, *dx;
    void *bits; /* the ReLU's gate as the 512-bit forward stores it (the compiler's loops read y instead) */
} tensors;

static float *per_channel, *mean, *variance, *d_gamma, *d_beta, *coefficients;
static void *scratch;

/* case 0: forward with a ReLU; 1: forward adding a residual, ReLU after; 2: backward with the ReLU's gradient. */
static void run(int what, const tensors *t, int64_t rows, int c, int threads, int wide) {
    if (what < 2) {
        Java_dev_osprey_backend_cpu_BatchNormKernels_forward(NULL, NULL, A(t->x), what == 1 ? A(t->r) : 0, rows, c,
                A(per_channel), A(per_channel), 1e-3f, JNI_TRUE, INFINITY, A(t->y), A(t->bits), A(mean), A(variance),
                A(coefficients), A(scratch), threads, (jboolean) wide);
    } else {
        Java_dev_osprey_backend_cpu_BatchNormKernels_backward(NULL, NULL, A(t->x), A(t->y), A(t->bits), A(t->dy), rows,
                c, A(per_channel), A(mean), A(variance), 1e-3f, JNI_TRUE, INFINITY, A(t->dx), A(d_gamma), A(d_beta),
                A(coefficients), A(scratch), threads, (jboolean) wide);
    }
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s ROWS CHANNELS THREADS REPS ROUNDS\n", argv[0]);
        return 2;
    }
    int64_t rows = atoll(argv[1]);
    int c = atoi(argv[2]), threads = atoi(argv[3]), reps = atoi(argv[4]), rounds = atoi(argv[5]);
    int64_t n = rows * c;
    tensors sets[SETS];
    srand(1);
    for (int s = 0; s < SETS; s++) {
        tensors *t = &sets[s];
        t->x = floats(n), t->r = floats(n), t->y = floats(n), t->dy = floats(n), t->dx = floats(n);
        for (int64_t i = 0; i < n; i++) {
            t->x[i] = (float) rand() / RAND_MAX * 4 - 1;
            t->r[i] = (float) rand() / RAND_MAX - 0.5f;
            t->dy[i] = (float) rand() / RAND_MAX - 0.5f;
        }
        memset(t->y, 0, n * 4); /* every page touched before the timing starts */
        memset(t->dx, 0, n * 4);
        jlong bits = Java_dev_osprey_backend_cpu_BatchNormKernels_gateBitsBytes(NULL, NULL, rows, c, JNI_TRUE,
                                                                                JNI_TRUE);
        t->bits = floats(bits / 4 + 16);
        memset(t->bits, 0, bits);
    }
    per_channel = floats(c), mean = floats(c), variance = floats(c), d_gamma = floats(c), d_beta = floats(c);
    coefficients = floats(3 * c);
    for (int j = 0; j < c; j++) {
        per_channel[j] = 1;
    }
    scratch = floats(Java_dev_osprey_backend_cpu_BatchNormKernels_scratchBytes(NULL, NULL, c, threads) / 4 + 16);
    /* the same bits either way */
    float *keep = floats(n);
    for (int what = 0; what < 3; what++) {
        float *out = what < 2 ? sets[0].y : sets[0].dx;
        run(what, &sets[0], rows, c, threads, 1);
        memcpy(keep, out, n * 4);
        run(what, &sets[0], rows, c, threads, 0);
        if (memcmp(keep, out, n * 4) != 0) {
            printf("MISMATCH case %d: the 512-bit loops and the compiler's differ\n", what);
            return 1;
        }
    }
    const char *names[3] = {"forward+relu", "forward+residual+relu", "backward+relu"};
    for (int round = 1; round <= rounds; round++) {
        for (int cold = 0; cold < 2; cold++) {
            for (int what = 0; what < 3; what++) {
                double ms[2];
                for (int turn = 0; turn < 2; turn++) { /* which goes first alternates by round */
                    int wide = (turn + round) % 2;
                    double t0 = now();
                    for (int k = 0; k < reps; k++) {
                        run(what, &sets[cold ? k % SETS : 0], rows, c, threads, wide);
                    }
                    ms[wide] = (now() - t0) / reps * 1e3;
                }
                printf("ROUND %d rows=%lld c=%d %s %-22s wide %.3f ms compiler's %.3f ms ratio %.2f\n", round,
                       (long long) rows, c, cold ? "memory" : "cache ", names[what], ms[1], ms[0], ms[1] / ms[0]);
            }
        }
    }
    return 0;
}
