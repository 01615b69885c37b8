/*
 * Helpers the kernel benchmark harnesses share (layer_bench.c, filter_bench.c, prepare_bench.c, backward_bench.c,
 * pooled_bench.c, dense_bench.c, pointwise_bench.c, chain_barrier_bench.c).
 */
#ifndef OSPREY_BENCH_UTIL_H
#define OSPREY_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* n floats, 64-byte aligned; exits with a message where memory runs out. */
static float *floats(int64_t n) {
    float *p = aligned_alloc(64, (size_t) ((n * 4 + 63) / 64 * 64));
    if (p == NULL) {
        fprintf(stderr, "out of memory for %lld floats\n", (long long) n);
        exit(1);
    }
    return p;
}

#endif
