package dev.osprey.backend.cpu;

import java.util.function.Supplier;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive_desc;

/**
 * Where Osprey takes a oneDNN kernel other than oneDNN's first choice: oneDNN lists every kernel that can run a
 * primitive, best first by its own measure, and for three kinds of convolution a JIT kernel further down the list ran
 * faster on this project's AVX-512 machine (each kernel alone:
 * benchmarks/results/onednn-kernel-probe-2026-12-04T2150Z.md). A rule acts only where oneDNN's first choice is the
 * kernel it was measured against, on AVX-512: never on AVX2 machines nor in place of an AMX kernel, where nothing was
 * measured. Each rule has its own property; {@code onednn} keeps oneDNN's first choice, for comparisons.
 * <ul>
 *   <li><b>int8 convolutions without groups</b> ({@code -Dosprey.cpu.int8Conv=jit|onednn}): oneDNN's older JIT int8
 *   kernel ({@code jit_int8}, {@code jit_int8_1x1}) rather than its brgemm ones. Through Osprey, alone, ResNet-20's
 *   three 3x3 shapes took 0.86x, 0.89x and 0.95x the time at batch 256, and two of them 0.92x and 0.97x at batch 1
 *   (medians; conv-op-ab-2026-12-04T220523Z.md to T220623Z.md). Whole models inferred at batch 256 1.16x faster
 *   (ResNet-20, every round 1.13x or more) and 1.07x (the tutorial CNN), batch-1 latency 0.96–0.99x; MobileNetV2
 *   was level within its rounds' spread (1.04x, rounds 0.80–1.11x): int8-conv-kernels-2026-12-04T2203Z.md, medians
 *   of 4 interleaved rounds. Grouped and depthwise convolutions keep oneDNN's first choice (brdgmm: 0.75x the JIT
 *   kernel's time).</li>
 *   <li><b>Backward-data of strided convolutions</b> ({@code -Dosprey.cpu.stridedBackwardData=jit|onednn}): where
 *   oneDNN's first choice is its strided brgemm kernel ({@code brgconv_strided}), its JIT kernel ({@code jit},
 *   {@code jit_bf16}, {@code jit_1x1}). Alone, at batch 128, the JIT kernels took 0.64x and 0.75x the time on
 *   ResNet-20's two stride-2 3x3 shapes in fp32, 0.44x and 0.55x in bf16, and 0.42x on a stride-2 1x1 projection;
 *   at stride 1 the two are level and oneDNN's first choice is another kernel. ResNet-20 trained 1.01x (batch 64)
 *   and 1.02x (batch 128) faster: strided-backward-data-2026-12-04T2217Z.md, medians of 4 interleaved rounds (these
 *   convolutions were about 5% of a step in op-profile-2026-12-04T1620Z.md).</li>
 *   <li><b>fp32 depthwise convolutions, forward</b> ({@code -Dosprey.cpu.fp32Depthwise=jit|onednn}): oneDNN's JIT
 *   depthwise kernel ({@code jit_dw}) rather than its brdgmm one. Alone, on MobileNetV2's depthwise shapes at
 *   32x32x3, it took 0.65–0.87x the time at batch 256 in inference and 0.68–0.91x at batch 128 in training; level at
 *   batch 1 and on 16x16 maps of 144 channels. Whole MobileNetV2 training and batch-256 inference stayed level within
 *   the rounds' spread (most of its depthwise convolutions run fused into the pointwise one before them in
 *   inference): fp32-depthwise-2026-12-04T2225Z.md, fp32-depthwise-2026-12-04T2232Z.md and
 *   fp32-depthwise-inference-2026-12-04T2228Z.md. Their batch-1 latency was bimodal in both settings (about 0.15 or
 *   0.26 ms a JVM), so those rows say nothing about the rule. In bf16 neither kernel led; int8 has no jit_dw.</li>
 * </ul>
 */
record PreferredKernels(boolean int8Conv, boolean stridedBackwardData, boolean fp32Depthwise) {
    /** The property of the int8 rule. */
    static final String INT8_CONV = "osprey.cpu.int8Conv";
    /** The property of the strided backward-data rule. */
    static final String STRIDED_BACKWARD_DATA = "osprey.cpu.stridedBackwardData";
    /** The property of the fp32 depthwise rule. */
    static final String FP32_DEPTHWISE = "osprey.cpu.fp32Depthwise";
    /** The instruction set of every kernel the rules were measured on (avx512_core, _vnni, _bf16 in the names). */
    private static final String MEASURED_ISA = ":avx512_core";
    /** Every rule on: what the properties give where unset. */
    static final PreferredKernels ALL = new PreferredKernels(true, true, true);

    /**
     * The rules the properties turn on (jit where unset); IllegalArgumentException for a value other than jit or
     * onednn.
     */
    static PreferredKernels fromProperties() {
        return new PreferredKernels(jit(INT8_CONV), jit(STRIDED_BACKWARD_DATA), jit(FP32_DEPTHWISE));
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

    /**
     * A descriptor of the convolution describe makes, on the kernel the rules prefer: operands, the data type its
     * products read (f32, bf16, or s8/u8 for int8); groups, its groups.
     */
    convolution_forward.primitive_desc forward(memory.data_type operands, int groups,
                                               Supplier<convolution_forward.primitive_desc> describe) {
        boolean int8 = operands == memory.data_type.s8 || operands == memory.data_type.u8;
        if (int8 && groups == 1 && int8Conv) {
            return preferring("jit_int8", "brg", describe); // brg_conv_fwd, brgconv_1x1
        }
        if (operands == memory.data_type.f32 && groups > 1 && fp32Depthwise) {
            return preferring("jit_dw", "brdgmm_dw", describe);
        }
        return describe.get();
    }

    /** A descriptor of the backward-data describe makes, on the kernel the rule prefers. */
    convolution_backward_data.primitive_desc backwardData(
            Supplier<convolution_backward_data.primitive_desc> describe) {
        return stridedBackwardData ? preferring("jit", "brgconv_strided", describe) : describe.get();
    }

    /**
     * describe's descriptor moved on to oneDNN's first kernel whose name starts with prefix, where oneDNN's first
     * choice starts with replacing and is an AVX-512 kernel other than an AMX one (the only kind measured against the
     * JIT ones), and such a kernel is offered for AVX-512 too (a JIT kernel for an older instruction set was never
     * measured); else at oneDNN's first choice. A descriptor walked to the end of oneDNN's list stays on its last
     * kernel, so one that found none is closed and a fresh one returned; the caller owns the result.
     */
    static <D extends primitive_desc> D preferring(String prefix, String replacing, Supplier<D> describe) {
        D desc = describe.get();
        try {
            if (!measured(name(desc), replacing)) {
                return desc;
            }
            while (desc.next_impl()) {
                if (measured(name(desc), prefix)) {
                    return desc;
                }
            }
        } catch (RuntimeException e) {
            desc.close();
            throw e;
        }
        desc.close();
        return describe.get();
    }

    /**
     * Whether a kernel is one the rules were measured with: its name starts with prefix (the kind), for AVX-512 and not
     * AMX. A rule acts only where oneDNN's first choice is such a kernel of the kind it replaces, and takes only such a
     * kernel of the kind it prefers.
     */
    static boolean measured(String kernel, String prefix) {
        return kernel.startsWith(prefix) && kernel.contains(MEASURED_ISA) && !kernel.contains("amx");
    }

    private static String name(primitive_desc desc) {
        return desc.impl_info_str().getString();
    }
}
