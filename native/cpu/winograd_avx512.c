/*
 * winograd.c compiled a second time, for processors with AVX-512F and AVX-512VL: its AVX2 code as it is, given the 32
 * vector registers AVX-512VL lends 256-bit code instead of AVX2's 16, so that the transforms of a tile (36 vectors for
 * F(4x4, 3x3)) spill less to the stack. winograd.c's JNI functions take this copy where the processor has those
 * instructions (its use_avx512_copy). On an AMD EPYC (Zen 4), 2 threads, ResNet-20's 16-channel layers at batch 128 ran
 * 5-15% faster alone, a whole training step 1.05-1.11x (benchmarks/results/winograd-wide-registers-*.md;
 * -Dosprey.cpu.winogradAvx512=false keeps the AVX2 copy).
 * Other processors: nothing here (winograd.c's stub says the kernels are unavailable).
 */
#if defined(__x86_64__)
#define OSPREY_WINOGRAD_AVX512_COPY 1
#include "winograd.c"
#else
typedef int osprey_winograd_avx512_unused; /* an empty translation unit is not ISO C */
#endif
