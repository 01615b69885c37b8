package dev.osprey.backend.cpu;

import java.util.function.Supplier;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.primitive_desc;

/**
 * Where Osprey takes a oneDNN kernel other than oneDNN's first choice: oneDNN lists every kernel that can run a
 * primitive, best first by its own measure, and for two kinds of convolution a JIT kernel further down the list ran
 * faster here. Each rule has its own property; {@code onednn} keeps oneDNN's first choice, for comparisons.
 * <ul>
 *   <li><b>int8 convolutions without groups</b> ({@code -Dosprey.cpu.int8Conv=jit|onednn}): oneDNN's older JIT int8
 *   kernel ({@code jit_int8}, {@code jit_int8_1x1}) rather than its brgemm one. Alone, ResNet-20's three 3x3 shapes
 *   took 0.86x, 0.89x and 0.95x the time at batch 256 and 0.91x and 0.97x at batch 1
 *   (benchmarks/results/conv-op-ab-2026-12-04T2205*Z.md, T2206*Z.md); whole models inferred at batch 256 1.16x faster
 *   (ResNet-20), 1.07x (the tutorial CNN) and 1.04x (MobileNetV2), with batch-1 latency level or better
 *   (int8-conv-kernels-2026-12-04T2203Z.md; medians of 4 interleaved rounds). Grouped and depthwise convolutions keep
 *   oneDNN's first choice: its brdgmm kernel ran depthwise ones 1.4x faster than the JIT one.</li>
 *   <li><b>Backward-data of strided convolutions</b> ({@code -Dosprey.cpu.stridedBackwardData=jit|onednn}): where
 *   oneDNN's first choice is its strided brgemm kernel ({@code brgconv_strided}), its JIT kernel ({@code jit},
 *   {@code jit_bf16}, {@code jit_1x1}). Alone, at batch 128, the JIT kernels took 0.64x and 0.75x the time on
 *   ResNet-20's two stride-2 3x3 shapes in fp32, 0.44x and 0.55x in bf16, and 0.42x on a stride-2 1x1 projection;
 *   stride-1 shapes are level, so the rule leaves them alone. ResNet-20 trained 1.01x (batch 64) and 1.02x (batch
 *   128) faster, where these convolutions are 3% of a step (strided-backward-data-2026-12-04T2217Z.md, medians of 4
 *   interleaved rounds).</li>
 * </ul>
 */
final class PreferredKernels {
    /** The property of the int8 rule. */
    static final String INT8_CONV = "osprey.cpu.int8Conv";
    /** The property of the strided backward-data rule. */
    static final String STRIDED_BACKWARD_DATA = "osprey.cpu.stridedBackwardData";
    /** Every rule on: what the properties give where unset. */
    static final PreferredKernels ALL = new PreferredKernels(true, true);

    private final boolean int8Conv;
    private final boolean stridedBackwardData;

    PreferredKernels(boolean int8Conv, boolean stridedBackwardData) {
        this.int8Conv = int8Conv;
        this.stridedBackwardData = stridedBackwardData;
    }

    /** The rules the properties turn on (jit where unset); IllegalArgumentException for a value other than jit or onednn. */
    static PreferredKernels fromProperties() {
        return new PreferredKernels(jit(INT8_CONV), jit(STRIDED_BACKWARD_DATA));
    }

    private static boolean jit(String property) {
        String value = System.getProperty(property, "jit");
        return switch (value) {
            case "jit" -> true;
            case "onednn" -> false;
            default -> throw new IllegalArgumentException("-D" + property + ": expected jit or onednn, received '"
                    + value + "'");
        };
    }

    /** A descriptor of the int8 convolution describe makes (groups: its groups), on the kernel the rule prefers. */
    convolution_forward.primitive_desc int8Convolution(int groups,
                                                       Supplier<convolution_forward.primitive_desc> describe) {
        return int8Conv && groups == 1 ? preferring("jit_int8", null, describe) : describe.get();
    }

    /** A descriptor of the backward-data describe makes, on the kernel the rule prefers. */
    convolution_backward_data.primitive_desc backwardData(
            Supplier<convolution_backward_data.primitive_desc> describe) {
        return stridedBackwardData ? preferring("jit", "brgconv_strided", describe) : describe.get();
    }

    /**
     * describe's descriptor moved on to oneDNN's first kernel whose name starts with prefix, where oneDNN's first
     * choice starts with replacing (null: any) and a kernel with that prefix is offered; else at oneDNN's first choice.
     * Walking oneDNN's list consumes a descriptor: one that found no such kernel is closed and a fresh one returned.
     */
    private static <D extends primitive_desc> D preferring(String prefix, String replacing, Supplier<D> describe) {
        D desc = describe.get();
        String first = name(desc);
        if (first.startsWith(prefix) || replacing != null && !first.startsWith(replacing)) {
            return desc;
        }
        while (desc.next_impl()) {
            if (name(desc).startsWith(prefix)) {
                return desc;
            }
        }
        desc.close();
        return describe.get();
    }

    private static String name(primitive_desc desc) {
        return desc.impl_info_str().getString();
    }
}
