/*
 * Steps of Osprey's own CPU kernels, run one at a time or chained (op_chain.c, for dev.osprey.backend.cpu.CpuOpChain).
 *
 * A step is a kernel's work on fixed operands, split for a team of `threads` threads: run(args, thread, team, scratch)
 * does thread `thread`'s share when `team` threads (at most `threads`) take it. A chain runs its steps in order inside one
 * OpenMP parallel region, with a barrier between two steps wherever either has more than one thread (thread 0 alone
 * needs none: it sees its own writes), instead of forking and joining a team for each: at batch 1 a fork and join
 * costs about 1 us on this machine's cores, as much as a small layer's work. A stretch of steps that work image by
 * image runs depth first, without barriers inside it (op_chain.c, run_images_first).
 */
#ifndef OSPREY_OP_CHAIN_H
#define OSPREY_OP_CHAIN_H

#include <stdint.h>

/* The most bytes of operands a step keeps (its kernel's problem description). */
#define STEP_ARGS_BYTES 256

/*
 * Thread `thread`'s share of a step when `team` threads take it; scratch: the backend's shared scratchpad at the time
 * of the run (a step that needs one reads it here, never keeps it: the scratchpad moves when it grows).
 */
typedef void (*step_fn)(const void *args, int thread, int team, float *scratch);

/*
 * A step that works image by image (its output's image n read only from its inputs' images n): units from .. to-1
 * (units_per_image of them an image) on thread `thread` of a team of the step's size; scratch: that thread's own
 * scratch_per_thread bytes (64-byte aligned), not the whole scratchpad.
 */
typedef void (*step_images_fn)(const void *args, int64_t from, int64_t to, int thread, float *scratch);

/* A tensor an image-wise step reads or writes: image n at at + n * stride bytes (at 0: none). */
typedef struct {
    uintptr_t at;
    int64_t stride;
} step_tensor;

typedef struct {
    step_fn run;
    int threads; /* the team the work is split for: 1 runs on the calling thread (thread 0) alone */
    union {
        unsigned char bytes[STEP_ARGS_BYTES];
        int64_t align_int;
        double align_double;
        void *align_pointer;
    } args;
    /*
     * Optional (zero for other steps): run_images, with the images, the units of each, the tensors (output first,
     * then up to 2 inputs) and the scratch of a step that works image by image. A chain runs a stretch of such steps over the same
     * images depth first (op_chain.c, run_images_first).
     */
    step_images_fn run_images;
    int64_t images, units_per_image;
    step_tensor tensors[3];
    int64_t scratch_per_thread; /* bytes of the run's scratchpad each thread uses (a multiple of 64) */
} osprey_step;

/* Runs one step now: on the calling thread where it has one thread, else in a parallel region of its own. */
void osprey_run_step(const osprey_step *step, float *scratch);

/* Appends a copy of step to the chain at handle (an OpChain's); 0 where memory ran out. */
int osprey_chain_append(int64_t handle, const osprey_step *step);

#endif
