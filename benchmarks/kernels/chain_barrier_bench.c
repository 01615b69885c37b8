/*
 * Times the barrier between an op chain's passes (native/cpu/op_chain.c, linked in): a chain of STEPS passes on
 * THREADS threads, each pass a few dozen additions on each thread, so that a run is almost all barriers. Runs the
 * chain with its own barrier and with OpenMP's in turns, ROUNDS times each, and prints the median of each round's
 * nanoseconds per barrier, beside a run of the same passes on one thread (no barrier) to subtract.
 * Build: gcc -O2 -std=gnu11 -fopenmp -I$JAVA_HOME/include -I$JAVA_HOME/include/linux -o chain_barrier_bench \
 *          benchmarks/kernels/chain_barrier_bench.c native/cpu/op_chain.c
 * Usage: chain_barrier_bench [THREADS=2] [STEPS=200] [RUNS=2000] [ROUNDS=5]
 * Prints per round: ROUND own_ns=<per barrier> openmp_ns=<per barrier>, then RESULT with the medians.
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include "../../native/cpu/op_chain.h"

jlong Java_dev_osprey_backend_cpu_CpuOpChain_create0(JNIEnv *, jclass, jboolean);
void Java_dev_osprey_backend_cpu_CpuOpChain_run(JNIEnv *, jclass, jlong, jlong);
void Java_dev_osprey_backend_cpu_CpuOpChain_free(JNIEnv *, jclass, jlong);

static volatile float sink[64 * 16];

/* A pass's work on one thread: a short dependent chain of additions, its result kept per thread. */
static void small_work(const void *args, int thread, int team, float *scratch) {
    (void) args;
    (void) team;
    (void) scratch;
    float x = (float) thread;
    for (int k = 0; k < 50; k++) {
        x += (float) k;
    }
    sink[thread * 16] = x;
}

static jlong chain_of(int steps, int threads, jboolean openmp_barrier) {
    jlong chain = Java_dev_osprey_backend_cpu_CpuOpChain_create0(NULL, NULL, openmp_barrier);
    osprey_step step = {small_work, threads, {{0}}};
    for (int i = 0; i < steps; i++) {
        if (chain == 0 || !osprey_chain_append(chain, &step)) {
            fprintf(stderr, "out of memory for a chain of %d steps\n", steps);
            exit(1);
        }
    }
    return chain;
}

/* Seconds per run of chain, over runs runs. */
static double per_run(jlong chain, int runs) {
    double start = now();
    for (int r = 0; r < runs; r++) {
        Java_dev_osprey_backend_cpu_CpuOpChain_run(NULL, NULL, chain, 0);
    }
    return (now() - start) / runs;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, steps = argc > 2 ? atoi(argv[2]) : 200;
    int runs = argc > 3 ? atoi(argv[3]) : 2000, rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (threads < 2 || threads > 64 || steps < 2 || runs < 1 || rounds < 1) {
        fprintf(stderr, "usage: chain_barrier_bench [THREADS=2 (2-64)] [STEPS=200] [RUNS=2000] [ROUNDS=5]\n");
        return 2;
    }
    jlong own = chain_of(steps, threads, JNI_FALSE), openmp = chain_of(steps, threads, JNI_TRUE);
    jlong alone = chain_of(steps, 1, JNI_FALSE);
    double *own_ns = malloc(sizeof(double) * (size_t) rounds), *openmp_ns = malloc(sizeof(double) * (size_t) rounds);
    per_run(own, runs / 10 + 1); /* the team started, the code and lines warm */
    per_run(openmp, runs / 10 + 1);
    for (int round = 0; round < rounds; round++) {
        double base = per_run(alone, runs);
        own_ns[round] = (per_run(own, runs) - base) / (steps - 1) * 1e9;
        openmp_ns[round] = (per_run(openmp, runs) - base) / (steps - 1) * 1e9;
        printf("ROUND %d own_ns=%.0f openmp_ns=%.0f\n", round + 1, own_ns[round], openmp_ns[round]);
    }
    qsort(own_ns, (size_t) rounds, sizeof(double), by_value);
    qsort(openmp_ns, (size_t) rounds, sizeof(double), by_value);
    printf("RESULT threads=%d own_ns=%.0f openmp_ns=%.0f (medians of %d rounds, per barrier, a one-thread run "
           "subtracted)\n", threads, own_ns[rounds / 2], openmp_ns[rounds / 2], rounds);
    Java_dev_osprey_backend_cpu_CpuOpChain_free(NULL, NULL, own);
    Java_dev_osprey_backend_cpu_CpuOpChain_free(NULL, NULL, openmp);
    Java_dev_osprey_backend_cpu_CpuOpChain_free(NULL, NULL, alone);
    free(own_ns);
    free(openmp_ns);
    return 0;
}
