package dev.osprey.backend.cpu;

import java.util.function.Supplier;
import org.bytedeco.dnnl.convolution_forward;

/**
 * Which of oneDNN's kernels runs an int8 convolution without groups. oneDNN offers its brgemm kernel first; its older
 * JIT kernel ({@code jit_int8}, {@code jit_int8_1x1}), offered after it, is faster on AVX512-VNNI. Alone, ResNet-20's
 * three 3x3 shapes took 0.86x, 0.89x and 0.95x the time at batch 256 and 0.91x and 0.97x at batch 1
 * (benchmarks/results/conv-op-ab-2026-12-04T2205*Z.md, T2206*Z.md); whole models inferred at batch 256 1.16x faster
 * (ResNet-20), 1.07x (the tutorial CNN) and 1.04x (MobileNetV2), with batch-1 latency level or better
 * (int8-conv-kernels-2026-12-04T2203Z.md; medians of 4 interleaved rounds). Depthwise and other grouped convolutions
 * keep oneDNN's first choice: its brdgmm kernel ran depthwise ones 1.4x faster than the JIT one.
 * {@code -Dosprey.cpu.int8Conv=jit} (the default) prefers the JIT kernel where oneDNN offers it for the op and its
 * post-ops; {@code onednn} keeps oneDNN's first choice.
 */
enum Int8ConvKernel {
    /** oneDNN's JIT int8 kernel where it offers one, else its first choice. */
    JIT,
    /** oneDNN's first choice. */
    ONEDNN;

    /** The system property that picks the kernel. */
    static final String PROPERTY = "osprey.cpu.int8Conv";
    /** The start of the JIT kernels' implementation names (jit_int8:ISA, jit_int8_1x1:ISA). */
    private static final String JIT_PREFIX = "jit_int8";

    /** The choice {@code -Dosprey.cpu.int8Conv} makes (jit where unset); IllegalArgumentException for another value. */
    static Int8ConvKernel fromProperty() {
        String value = System.getProperty(PROPERTY, "jit");
        return switch (value) {
            case "jit" -> JIT;
            case "onednn" -> ONEDNN;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + ": expected jit or onednn, received '"
                    + value + "'");
        };
    }

    /**
     * A descriptor of the int8 convolution make describes, set to the kernel this choice prefers where it applies
     * (groups: the convolution's); the caller owns it. Walking oneDNN's list consumes a descriptor, so one that found
     * no JIT kernel is closed and a fresh one, at oneDNN's first choice, returned.
     */
    convolution_forward.primitive_desc choose(int groups, Supplier<convolution_forward.primitive_desc> make) {
        convolution_forward.primitive_desc desc = make.get();
        if (this == ONEDNN || groups != 1 || isJit(desc)) {
            return desc;
        }
        while (desc.next_impl()) {
            if (isJit(desc)) {
                return desc;
            }
        }
        desc.close();
        return make.get();
    }

    private static boolean isJit(convolution_forward.primitive_desc desc) {
        return desc.impl_info_str().getString().startsWith(JIT_PREFIX);
    }
}
