/*
 * Steps of Osprey's own CPU kernels, run one at a time or chained (op_chain.c, for dev.osprey.backend.cpu.CpuOpChain).
 *
 * A step is a kernel's work on fixed operands, split for a team of `threads` threads: run(args, thread, team, scratch)
 * does thread `thread`'s share when `team` threads (at most `threads`) take it. A chain runs its steps in order inside one
 * OpenMP parallel region, with a barrier between two steps wherever either has more than one thread (thread 0 alone
 * needs none: it sees its own writes), instead of forking and joining a team for each: at batch 1 a fork and join
 * costs about 1 us on this machine's cores, as much as a small layer's work.
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

typedef struct {
    step_fn run;
    int threads; /* the team the work is split for: 1 runs on the calling thread (thread 0) alone */
    union {
        unsigned char bytes[STEP_ARGS_BYTES];
        int64_t align_int;
        double align_double;
        void *align_pointer;
    } args;
} osprey_step;

/* Runs one step now: on the calling thread where it has one thread, else in a parallel region of its own. */
void osprey_run_step(const osprey_step *step, float *scratch);

/* Appends a copy of step to the chain at handle (an OpChain's); 0 where memory ran out. */
int osprey_chain_append(int64_t handle, const osprey_step *step);

#endif
