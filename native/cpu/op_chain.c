/*
 * A chain of kernel steps (op_chain.h) run in one OpenMP parallel region, for dev.osprey.backend.cpu.CpuOpChain.
 */
#include <jni.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "op_chain.h"
#include "openmp.h"

typedef struct {
    int count, capacity;
    int team; /* the most threads any step has */
    int openmp_barrier; /* 1: OpenMP's barrier between steps; 0: the chain's own (below) */
    int images_first;   /* 1: stretches of image-wise steps run depth first (run_images_first) */
    osprey_step *steps;
    /* the depth-first stretches, planned for the steps appended so far on a team of `team` (plan_stretches) */
    int planned;            /* the step count they were planned for; -1: none planned yet */
    int *stretch_end;       /* from each step: the end of the stretch starting there, or the step + 1 */
    int64_t *stretch_share; /* from each stretch's first step: the scratchpad bytes each thread takes in it */
} chain;

/*
 * The chain's own barrier: a dissemination barrier (in round r each thread announces its arrival, then waits for the
 * thread 2^r before it, so after ceil(log2 team) rounds every thread knows every other has arrived). Each thread
 * writes only its own cache line, of one epoch per round, which counts the barriers it has passed; a waiter reads the
 * other thread's line until it holds this barrier's epoch. Between 2 threads that is one hand-over of a line each way,
 * at the same time: 44-53 ns a barrier against 184-186 for libgomp's (a counter every thread updates, then a release)
 * where the 2 vCPUs share a last-level cache, about 260 against 440 where they don't (chain_barrier_bench.c, and a
 * first probe), and MobileNetV2 at batch 1 meets about 50 of them a call. A waiter spins with a pause for a while
 * (longer than a small pass takes), then yields its CPU at every look, so that on a busy machine, or with more threads
 * than CPUs, the thread it waits for gets a CPU. (Where OMP_WAIT_POLICY is passive, CpuOpChain asks for OpenMP's.)
 */
#define BARRIER_ROUNDS 8         /* teams of up to 2^8 threads; a larger team uses OpenMP's barrier */
#define SPINS_BEFORE_YIELD 2048  /* pauses: some tens of microseconds */

typedef struct {
    long epoch[BARRIER_ROUNDS];
} __attribute__((aligned(64))) arrival;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Barrier number `epoch` (1, 2, ... within one run) of thread id of size threads; arrivals: one per thread. */
static void chain_barrier(arrival *arrivals, int id, int size, long epoch) {
    for (int r = 0, distance = 1; distance < size; r++, distance <<= 1) {
        __atomic_store_n(&arrivals[id].epoch[r], epoch, __ATOMIC_RELEASE);
        const long *other = &arrivals[(id + size - distance) % size].epoch[r];
        for (unsigned spins = 0; __atomic_load_n(other, __ATOMIC_ACQUIRE) < epoch; spins++) {
            if (spins < SPINS_BEFORE_YIELD) {
                relax();
            } else {
                sched_yield();
            }
        }
    }
}

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

/* Images a thread takes through a depth-first stretch at a time: their activations stay in its caches. */
#define IMAGES_AT_A_TIME 2

/* Whether a and b share memory laid out otherwise (another start or other bytes an image). */
static int shared_unalike(step_tensor a, step_tensor b, int64_t images) {
    return a.at != 0 && b.at != 0 && a.at < b.at + (uintptr_t) (b.stride * images)
           && b.at < a.at + (uintptr_t) (a.stride * images) && (a.at != b.at || a.stride != b.stride);
}

/*
 * The end of the stretch of image-wise steps from i that a team of size runs depth first, or i + 1 where fewer than
 * 2 steps would: steps over the same images (at least one a thread), each on the whole team. Depth first, a thread
 * runs every step of the stretch on its images, a few at a time, with no barrier between: each reads only images it
 * wrote itself. A step's output may reuse memory an earlier step of the stretch read or wrote (the plan recycles
 * buffers) only where both lay their images out alike (the same start and bytes an image): then image n of one only
 * ever meets image n of the other, in the order the steps run. Where memory is shared otherwise, the stretch ends.
 */
static int images_first_end(const chain *c, int i, int size) {
    const osprey_step *first = &c->steps[i];
    const int64_t images = first->images;
    if (first->run_images == NULL || first->threads != size || images < size) {
        return i + 1;
    }
    int end = i + 1;
    for (; end < c->count; end++) {
        const osprey_step *s = &c->steps[end];
        if (s->run_images == NULL || s->threads != size || s->images != images) {
            break;
        }
        int clash = 0; /* s's output against its own inputs, and s against each earlier step of the stretch */
        for (int t = 1; t < 3; t++) {
            clash |= shared_unalike(s->tensors[0], s->tensors[t], images);
        }
        for (int j = i; j < end; j++) {
            for (int t = 0; t < 3; t++) {
                clash |= shared_unalike(s->tensors[0], c->steps[j].tensors[t], images)
                         || (t > 0 && shared_unalike(c->steps[j].tensors[0], s->tensors[t], images));
            }
        }
        if (clash) {
            break;
        }
    }
    return end - i >= 2 ? end : i + 1;
}

/*
 * Plans the depth-first stretches of the steps appended so far, once (before a run's parallel region): each step's
 * stretch end, and for each stretch the scratchpad share of a thread. Threads run different steps of a stretch at
 * once, so each takes its own part of the scratchpad for all of them: the stretch's largest share (each step reserved
 * its bytes a thread times the team, and 64 more for the alignment). Where memory runs out, nothing runs depth first.
 */
static void plan_stretches(chain *c) {
    if (c->planned == c->count) {
        return;
    }
    free(c->stretch_end);
    free(c->stretch_share);
    c->stretch_end = malloc(sizeof(int) * (size_t) (c->count > 0 ? c->count : 1));
    c->stretch_share = malloc(sizeof(int64_t) * (size_t) (c->count > 0 ? c->count : 1));
    if (c->stretch_end == NULL || c->stretch_share == NULL) {
        free(c->stretch_end);
        free(c->stretch_share);
        c->stretch_end = NULL;
        c->stretch_share = NULL;
    } else {
        for (int i = 0; i < c->count; i++) {
            c->stretch_end[i] = c->images_first ? images_first_end(c, i, c->team) : i + 1;
            c->stretch_share[i] = 0;
            for (int j = i; j < c->stretch_end[i] && c->stretch_end[i] > i + 1; j++) {
                const int64_t share = c->steps[j].scratch_per_thread;
                c->stretch_share[i] = share > c->stretch_share[i] ? share : c->stretch_share[i];
            }
        }
    }
    c->planned = c->count;
}

/* Steps from .. to-1 (a planned stretch), thread id's share of the images, depth first, in its part of scratch. */
static void run_images_first(const chain *c, int from, int to, int id, int size, float *scratch) {
    const int64_t images = c->steps[from].images;
    const int64_t first = images * id / size, last = images * (id + 1) / size;
    float *mine = (float *) ((((intptr_t) scratch + 63) & ~(intptr_t) 63) + c->stretch_share[from] * id);
    for (int64_t n = first; n < last; n += IMAGES_AT_A_TIME) {
        const int64_t end = n + IMAGES_AT_A_TIME < last ? n + IMAGES_AT_A_TIME : last;
        for (int i = from; i < to; i++) {
            const osprey_step *s = &c->steps[i];
            s->run_images(s->args.bytes, n * s->units_per_image, end * s->units_per_image, id, mine);
        }
    }
}

static void run_chain(chain *c, float *scratch) {
    if (c->team <= 1) {
        for (int i = 0; i < c->count; i++) {
            c->steps[i].run(c->steps[i].args.bytes, 0, 1, scratch);
        }
        return;
    }
    plan_stretches(c);
    int own_barrier = !c->openmp_barrier && c->team <= (1 << BARRIER_ROUNDS);
    arrival arrivals[own_barrier ? c->team : 1]; /* this run's: each run counts its barriers from 1 */
    memset(arrivals, 0, sizeof(arrivals));
#pragma omp parallel num_threads(c->team)
    {
        int id = omp_get_thread_num(), size = omp_get_num_threads();
        long passed = 0;
        for (int i = 0; i < c->count; i++) {
            const osprey_step *s = &c->steps[i];
            /* the planned stretches hold for the team they were planned for: OpenMP may give fewer threads */
            const int end = c->stretch_end != NULL && size == c->team ? c->stretch_end[i] : i + 1;
            if (end > i + 1) {
                run_images_first(c, i, end, id, size, scratch);
                i = end - 1; /* the barrier after the stretch's last step */
            } else {
                int team = s->threads < size ? s->threads : size;
                if (id < team) {
                    s->run(s->args.bytes, id, team, scratch);
                }
            }
            if (barrier_after(c, i, size)) { /* the same for every thread: all meet it, or none */
                if (own_barrier) {
                    chain_barrier(arrivals, id, size, ++passed);
                } else {
#pragma omp barrier
                }
            }
        }
    }
}

/* openmp_barrier: JNI_TRUE for OpenMP's barrier between steps, JNI_FALSE for the chain's own. */
JNIEXPORT jlong JNICALL Java_dev_osprey_backend_cpu_CpuOpChain_create0(JNIEnv *env, jclass type,
                                                                      jboolean openmp_barrier,
                                                                      jboolean images_first) {
    (void) env;
    (void) type;
    chain *c = calloc(1, sizeof(chain));
    if (c == NULL) {
        return 0;
    }
    c->openmp_barrier = openmp_barrier == JNI_TRUE;
    c->images_first = images_first == JNI_TRUE;
    c->planned = -1;
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
    run_chain((chain *) (intptr_t) handle, (float *) (intptr_t) scratch);
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_CpuOpChain_free(JNIEnv *env, jclass type, jlong handle) {
    (void) env;
    (void) type;
    chain *c = (chain *) (intptr_t) handle;
    free(c->steps);
    free(c->stretch_end);
    free(c->stretch_share);
    free(c);
}
