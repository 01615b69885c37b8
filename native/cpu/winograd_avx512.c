/*
 * winograd.c compiled a second time, for processors with AVX-512F and AVX-512VL. Its transforms take channels 16 at a
 * time in 512-bit vectors (winograd_lanes.h at 16 lanes; any 8 left in 256 bits, with the 32 vector registers
 * AVX-512VL lends 256-bit code, so a 6x6 tile spills less to the stack), and its matrix products run in 512-bit
 * micro-kernels. On a processor with full-width AVX-512 units (AMD Zen 5: 270 against 137 GFLOP/s a core) that gave
 * ResNet-20 training 1.21-1.22x and inference 1.22x (benchmarks/results/wide-vectors-2026-12-05.md); on a Zen 4,
 * which splits a 512-bit multiply-add in two, the wider registers alone gave 1.05-1.11x
 * (winograd-wide-registers-*.md). The same operations in the same order as the AVX2 copy: the same bits.
 * winograd.c's JNI functions take this copy where the processor has those instructions (its use_avx512_copy);
 * -Dosprey.cpu.winogradAvx512=false keeps the AVX2 copy.
 * Other processors: nothing here (winograd.c's stub says the kernels are unavailable).
 */
#if defined(__x86_64__)
#define OSPREY_WINOGRAD_AVX512_COPY 1
#include "winograd.c"
#else
typedef int osprey_winograd_avx512_unused; /* an empty translation unit is not ISO C */
#endif
