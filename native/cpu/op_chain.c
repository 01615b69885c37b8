/*
 * A chain of kernel steps (op_chain.h) run in one OpenMP parallel region, for dev.osprey.backend.cpu.CpuOpChain.
 */
#include <jni.h>
#include <stdlib.h>
#include <string.h>
#include "op_chain.h"
#include "openmp.h"

typedef struct {
    int count, capacity;
    int team; /* the most threads any step has */
    osprey_step *steps;
} chain;

void osprey_run_step(const osprey_step *step, float *scratch) {
    if (step->threads <= 1) {
        step->run(step->args.bytes, 0, 1, scratch);
        return;
    }
#pragma omp parallel num_threads(step->threads)
    {
        step->run(step->args.bytes, omp_get_thread_num(), omp_get_num_threads(), scratch);
    }
}

int osprey_chain_append(int64_t handle, const osprey_step *step) {
    chain *c = (chain *) (intptr_t) handle;
    if (c->count == c->capacity) {
        int capacity = c->capacity * 2;
        osprey_step *grown = realloc(c->steps, sizeof(osprey_step) * (size_t) capacity);
        if (grown == NULL) {
            return 0;
        }
        c->steps = grown;
        c->capacity = capacity;
    }
    c->steps[c->count++] = *step;
    if (step->threads > c->team) {
        c->team = step->threads;
    }
    return 1;
}

/* Whether threads other than 0 must wait between steps i and i + 1 (either runs on more than thread 0). */
static int barrier_after(const chain *c, int i, int size) {
    return i + 1 < c->count && size > 1 && (c->steps[i].threads > 1 || c->steps[i + 1].threads > 1);
}

static void run_chain(const chain *c, float *scratch) {
    if (c->team <= 1) {
        for (int i = 0; i < c->count; i++) {
            c->steps[i].run(c->steps[i].args.bytes, 0, 1, scratch);
        }
        return;
    }
#pragma omp parallel num_threads(c->team)
    {
        int id = omp_get_thread_num(), size = omp_get_num_threads();
        for (int i = 0; i < c->count; i++) {
            const osprey_step *s = &c->steps[i];
            int team = s->threads < size ? s->threads : size;
            if (id < team) {
                s->run(s->args.bytes, id, team, scratch);
            }
            if (barrier_after(c, i, size)) { /* the same for every thread: all meet it, or none */
#pragma omp barrier
            }
        }
    }
}

JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_CpuOpChain_create0(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    chain *c = calloc(1, sizeof(chain));
    if (c == NULL) {
        return 0;
    }
    c->capacity = 16;
    c->steps = malloc(sizeof(osprey_step) * (size_t) c->capacity);
    if (c->steps == NULL) {
        free(c);
        return 0;
    }
    return (jlong) (intptr_t) c;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_CpuOpChain_run(JNIEnv *env, jclass type, jlong handle,
                                                                  jlong scratch) {
    (void) env;
    (void) type;
    run_chain((const chain *) (intptr_t) handle, (float *) (intptr_t) scratch);
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_CpuOpChain_free(JNIEnv *env, jclass type, jlong handle) {
    (void) env;
    (void) type;
    chain *c = (chain *) (intptr_t) handle;
    free(c->steps);
    free(c);
}
