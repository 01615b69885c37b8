/*
 * winograd.c compiled a second time, for processors with AVX-512F and AVX-512VL: its AVX2 code as it is, given the 32
 * vector registers AVX-512VL lends 256-bit code instead of AVX2's 16, so that the transforms of a tile (36 vectors for
 * F(4x4, 3x3)) spill less to the stack. winograd.c's JNI functions take this copy where the processor has those
 * instructions (its wide_registers). On an AMD EPYC (Zen 4), 2 threads, ResNet-20's 16-channel layers at batch 128 ran
 * 5-15% faster alone, a whole training step about 2% (benchmarks/results/winograd-wide-registers-*.md).
 */
#define OSPREY_WINOGRAD_WIDE 1
#include "winograd.c"
