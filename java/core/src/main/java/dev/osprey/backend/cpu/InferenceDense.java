package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.DenseInference;
import dev.osprey.backend.DenseSpec;

/**
 * fp32 dense layers of inference plans, at every batch size, through Osprey's kernel ({@code native/cpu/dense.c}),
 * reading Keras' (in, units) kernel as it is. Each output sums its products in input order and adds the bias last,
 * at any batch and on any team, so an image's answer does not depend on the batch it came in, which serving promises
 * bit for bit; oneDNN's inner product sums in an order that depends on the batch and the ISA (on AVX-512 its batch-8
 * answers differed from its batch-1 ones in the last bits). At batch 1 oneDNN's inner product also spends most of a
 * call setting up: 7 us for the tutorial CNN's 576 x 64 layer, whose 37 K multiply-adds take under 1 us
 * (op-profile-2026-12-03T1208Z.md). At batch 256 the kernel takes that layer in 113-130 us on 2 threads, oneDNN in
 * 120 (dense-kernel-2026-12-04T1520Z.md); a large layer at a large batch runs at about half oneDNN's rate (4096 x 4096
 * at batch 64: 22-42 ms, about 90 GFLOP/s against 202). {@link #fits}: fp32, the identity or a ReLU, the
 * kernel available here, and not turned off ({@link #ENABLED}); any number of units.
 */
final class InferenceDense {
    /** -Dosprey.cpu.denseKernel=false runs every dense layer through oneDNN (for comparisons and debugging). */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("osprey.cpu.denseKernel", "true"));
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the inference dense kernel",
            InferenceDense::supported);

    private InferenceDense() {
    }

    /** Null where the kernel can run on this machine; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** Whether the kernel computes op (see the class comment). */
    static boolean fits(DenseInference op) {
        DenseSpec s = op.spec();
        Activation.Kind a = s.activation().kind();
        return ENABLED && UNAVAILABLE == null && op.precision() == Precision.FP32
                && (a == Activation.Kind.LINEAR || a == Activation.Kind.RELU);
    }

    /**
     * y = activation(x kernel + bias) for op, which must {@link #fits}, kernel in Keras' layout; threads split the
     * images (1: on the calling thread).
     */
    static void forward(DenseInference op, CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor y, int threads) {
        DenseSpec s = op.spec();
        Activation a = s.activation();
        forward(x.pointer().address(), s.batch(), s.inFeatures(), kernel.pointer().address(), s.units(),
                bias.pointer().address(), a.kind() == Activation.Kind.RELU, a.alpha(), a.maxValue(),
                y.pointer().address(), threads);
    }

    /** Whether the processor has the instructions the kernel uses (AVX2 and FMA on x86-64). */
    private static native boolean supported();

    private static native void forward(long x, int batch, int in, long kernel, int units, long bias, boolean rectify,
                                       float slope, float cap, long y, int threads);
}
