package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;

/**
 * An fp32 depthwise inference convolution over at most {@link #MAX_PIXELS} output pixels in the batch, through Osprey's
 * kernel ({@code native/cpu/depthwise.c}), which reads Keras' (kh, kw, channels, 1) kernel as it is. MobileNetV2 at
 * 32x32x3 and batch 1 runs 16 of its 17 depthwise convolutions here (the first, on a 16x16 map, has 256 pixels); oneDNN
 * took 1.2-6 us each (op profile of 2026-12-03, batch 1), mostly setting the call up. Each output is summed in tap
 * order, rows then columns, skipping taps in the padding, then the bias added: a pixel's result does not depend on the
 * batch it came in, up to the bound. Beyond it oneDNN's brdgmm depthwise kernel sums in the same order (tested: the
 * same bits); its older jit_dw kernel, which some shapes get, starts from the bias, and can differ in the last bit.
 * {@link #fits}: fp32, one filter per channel, a kernel of at most 7x7, any stride and padding, no dilation, the
 * identity or a ReLU, and not turned off ({@link #ENABLED}).
 */
final class DepthwiseConvPlan implements ChainableConv {
    /** The most output pixels (batch x height x width) it takes: beyond, oneDNN's blocked kernels pay off. */
    static final int MAX_PIXELS = 64;
    /** -Dosprey.cpu.smallDepthwise=false runs every depthwise convolution through oneDNN (for comparisons). */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("osprey.cpu.smallDepthwise", "true"));
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the small depthwise convolution",
            DepthwiseConvPlan::supported);
    /**
     * Whether the processor has AVX-512F, where the kernel takes 64 channels at a time in 512-bit vectors (the same
     * bits as its 256-bit path).
     */
    private static final boolean WIDE = UNAVAILABLE == null && wideSupported();

    private final Conv2dSpec spec;
    private final int threads;
    private final boolean rectify;
    private final float slope;
    private final float cap;
    private final boolean wide;

    /** Plans op, which must {@link #fits}, for the calling thread's current OpenMP team. */
    DepthwiseConvPlan(ConvInference op) {
        this(op, NativeCpu.wideVectorsAllowed() && WIDE);
    }

    /** As {@link #DepthwiseConvPlan(ConvInference)}, in 512-bit vectors where wide (and the processor has them). */
    DepthwiseConvPlan(ConvInference op, boolean wide) {
        if (!fits(op)) {
            String why = UNAVAILABLE != null ? UNAVAILABLE : !ENABLED ? "turned off (-Dosprey.cpu.smallDepthwise=false)"
                    : "expected an fp32 depthwise convolution (one filter per channel, a kernel of at most 7x7, no "
                    + "dilation) with the identity or a ReLU and nothing fused after it, over at most " + MAX_PIXELS
                    + " output pixels";
            throw new IllegalArgumentException("the depthwise kernel cannot compute " + op + ": " + why);
        }
        this.spec = op.spec();
        this.threads = OpenMpTeam.current();
        Activation a = spec.activation();
        this.rectify = a.kind() == Activation.Kind.RELU;
        this.slope = a.alpha();
        this.cap = a.maxValue();
        this.wide = wide && WIDE;
    }

    /**
     * Whether plans made now take the 512-bit path: the kernel runs, the processor has AVX-512F, and
     * -Dosprey.cpu.wideVectors does not turn it off.
     */
    static boolean wide() {
        return NativeCpu.wideVectorsAllowed() && WIDE;
    }

    /** Null where the kernel can run on this machine; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** Whether the kernel computes op (see the class comment), and can run here. */
    static boolean fits(ConvInference op) {
        Conv2dSpec s = op.spec();
        Activation.Kind a = s.activation().kind();
        return ENABLED && UNAVAILABLE == null && op.precision() == Precision.FP32 && op.depthwise() == null
                && op.maxPool() == null && !op.quantizedInput() && !op.quantizedOutput()
                && s.groups() == s.inC() && s.filters() == s.inC() && s.groups() > 1
                && s.kernelH() <= 7 && s.kernelW() <= 7 && s.dilationH() == 1 && s.dilationW() == 1
                && (a == Activation.Kind.LINEAR || a == Activation.Kind.RELU)
                && (long) s.batch() * s.outH() * s.outW() <= MAX_PIXELS;
    }

    @Override
    public long preparedFloats() {
        return 0; // Keras' layout, as it is
    }

    @Override
    public void prepare(CpuTensor keras, CpuTensor prepared) {
        throw new UnsupportedOperationException("the depthwise convolution reads Keras' layout: nothing to prepare");
    }

    @Override
    public boolean submit(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y,
                          long chain) {
        Conv2dSpec s = spec;
        return forward(x.pointer().address(), s.batch(), s.inH(), s.inW(), s.inC(), s.kernelH(), s.kernelW(),
                s.strideH(), s.strideW(), s.padTop(), s.padLeft(), s.outH(), s.outW(), kernel.pointer().address(),
                bias == null ? 0 : bias.pointer().address(), residual == null ? 0 : residual.pointer().address(),
                rectify, slope, cap, y.pointer().address(), threads, wide, chain);
    }

    @Override
    public String implementation() {
        return wide ? "osprey_depthwise:avx512" : "osprey_depthwise:avx2";
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void close() {
        // nothing native of its own
    }

    /** Whether the processor has the instructions the kernel uses (AVX2 and FMA on x86-64). */
    private static native boolean supported();

    /** Whether it also has AVX-512F, which the 512-bit path uses. */
    private static native boolean wideSupported();

    /**
     * y (batch, outH, outW, c) = rectify(depthwise(x (batch, h, w, c), kernel) + bias + residual); bias and residual
     * may be 0 (none); wide: in 512-bit vectors. Runs now where chain is 0, else is appended to that chain (false: it
     * could not grow).
     */
    private static native boolean forward(long x, int batch, int h, int w, int c, int kh, int kw, int strideH,
                                          int strideW, int padTop, int padLeft, int outH, int outW, long kernel,
                                          long bias, long residual, boolean rectify, float slope, float cap, long y,
                                          int threads, boolean wide, long chain);
}
