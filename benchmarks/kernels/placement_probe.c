/*
 * Where the hypervisor has put this machine's two vCPUs right now: the time a cache line takes to go from a thread on
 * the first CPU of this process's affinity mask to a thread on the second, and back, halved (one hand-over), the
 * median of 20 samples of 20,000 round trips.
 *
 * On the shared 2-vCPU machine this is about 35 ns where the two vCPUs share a last-level cache and 140-170 ns where
 * they don't, and it changes between minutes (step-trace results, 2026-12-05). Osprey's Winograd convolutions run
 * 10-15% slower in the second placement, its batch-1 latency 1.5x, while the streaming ops (batch normalization,
 * additions) run faster. The benchmarks that compare Osprey with its peers run this before each framework's figures,
 * so a report can tell the rounds of each placement apart.
 *
 * Prints one line: PLACEMENT handover_ns=<ns>. Exits 1 where the process has fewer than 2 CPUs.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench_util.h"

#define ROUND_TRIPS 20000
#define SAMPLES 20

static _Alignas(64) atomic_long counter;
static _Alignas(64) atomic_int done;

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The other side: answers every odd value with the next one. */
static void *answer(void *cpu) {
    pin(*(int *) cpu);
    while (!atomic_load_explicit(&done, memory_order_relaxed)) {
        long v = atomic_load_explicit(&counter, memory_order_acquire);
        if (v & 1) {
            atomic_store_explicit(&counter, v + 1, memory_order_release);
        }
    }
    return NULL;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(void) {
    cpu_set_t mask;
    int cpus[2], found = 0;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) {
        return 1;
    }
    for (int c = 0; c < CPU_SETSIZE && found < 2; c++) {
        if (CPU_ISSET(c, &mask)) {
            cpus[found++] = c;
        }
    }
    if (found < 2) {
        fprintf(stderr, "placement_probe: needs 2 CPUs, this process may run on %d\n", found);
        return 1;
    }
    pin(cpus[0]);
    pthread_t other;
    pthread_create(&other, NULL, answer, &cpus[1]);
    double samples[SAMPLES];
    long value = 0;
    for (int s = 0; s < SAMPLES; s++) {
        double start = now();
        for (int i = 0; i < ROUND_TRIPS; i++, value += 2) {
            atomic_store_explicit(&counter, value + 1, memory_order_release);
            while (atomic_load_explicit(&counter, memory_order_acquire) != value + 2) {
            }
        }
        samples[s] = (now() - start) / ROUND_TRIPS / 2 * 1e9;
    }
    atomic_store(&done, 1);
    pthread_join(other, NULL);
    qsort(samples, SAMPLES, sizeof(double), by_value);
    printf("PLACEMENT handover_ns=%.1f\n", samples[SAMPLES / 2]);
    return 0;
}
