package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.DenseInference;
import dev.osprey.backend.DenseSpec;

/**
 * fp32 dense layers of inference plans at batch 1 to {@link #MAX_BATCH}, through Osprey's kernel
 * ({@code native/cpu/small_dense.c}) on the calling thread, reading Keras' (in, units) kernel as it is. oneDNN's inner
 * product spends most of such a call setting up: 7 us at batch 1 for the tutorial CNN's 576 x 64 layer, whose 37 K
 * multiply-adds take under 1 us (op-profile-2026-12-03T1208Z.md), and 6.8 us for MobileNetV2's 1280 x 10 classifier
 * (op profile of 2026-12-03, batch 1). {@link #fits}: fp32, the identity or a ReLU, the kernel available here, and not
 * turned off ({@link #ENABLED}); any number of units.
 */
final class SmallBatchDense {
    /** The largest batch it takes: beyond, oneDNN's blocked kernels (which share the work) pay off. */
    static final int MAX_BATCH = 4;
    /** -Dosprey.cpu.smallDense=false runs every dense layer through oneDNN (for comparisons and debugging). */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("osprey.cpu.smallDense", "true"));
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the small-batch dense kernel",
            SmallBatchDense::supported);

    private SmallBatchDense() {
    }

    /** Null where the kernel can run on this machine; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** Whether the kernel computes op (see the class comment). */
    static boolean fits(DenseInference op) {
        DenseSpec s = op.spec();
        Activation.Kind a = s.activation().kind();
        return ENABLED && UNAVAILABLE == null && op.precision() == Precision.FP32 && s.batch() <= MAX_BATCH
                && (a == Activation.Kind.LINEAR || a == Activation.Kind.RELU);
    }

    /** y = activation(x kernel + bias) for op, which must {@link #fits}; kernel in Keras' layout. */
    static void forward(DenseInference op, CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor y) {
        DenseSpec s = op.spec();
        Activation a = s.activation();
        forward(x.pointer().address(), s.batch(), s.inFeatures(), kernel.pointer().address(), s.units(),
                bias.pointer().address(), a.kind() == Activation.Kind.RELU, a.alpha(), a.maxValue(),
                y.pointer().address());
    }

    /** Whether the processor has the instructions the kernel uses (AVX2 and FMA on x86-64). */
    private static native boolean supported();

    private static native void forward(long x, int batch, int in, long kernel, int units, long bias, boolean rectify,
                                       float slope, float cap, long y);
}
