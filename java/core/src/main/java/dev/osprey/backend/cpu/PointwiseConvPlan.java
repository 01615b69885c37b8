package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;

/**
 * An fp32 1x1 inference convolution over few pixels, through Osprey's kernel ({@code native/cpu/pointwise.c}), in one
 * of two ways:
 * <ul>
 * <li>at most {@link #PANEL_PIXELS} pixels in the batch: a matrix-vector product bound by streaming its kernel, as
 * MobileNetV2's late layers are at 32x32x3 and batch 1 (1x1 maps, 160 to 1,280 channels). There oneDNN's 1x1
 * kernel took 24 us for the 160-to-960 layer, whose 0.6 MB of kernel stream in under 10 us (op profile of 2026-12-03,
 * batch 1). The kernel is prepared once into panels split over the plan's threads;</li>
 * <li>up to {@link #MAX_PIXELS} pixels and {@link #MAX_MULTIPLY_ADDS} multiply-adds: a matrix product in tiles of 6
 * pixels by 16 channels (MobileNetV2's 16x16 to 2x2 maps at batch 1, where oneDNN took 3-12 us a layer, much of it
 * setting up). The kernel is prepared once into strips of 16 channels, each read as one forward stream.</li>
 * </ul>
 * Each output is summed in input order either way, then the bias added: a pixel's result does not depend on the batch
 * it came in, up to these bounds. Beyond them oneDNN's brgemm 1x1 kernels sum in the same order (tested: the same
 * bits); its older jit_1x1 kernel, which some shapes get, starts from the bias, and can differ in the last bit.
 * {@link #fits}: fp32, a 1x1 kernel without padding, dilation or groups, the identity or a ReLU, no fused depthwise
 * convolution or pooling, and not turned off ({@link #ENABLED}). Any stride: each output pixel reads the input pixel
 * under it (a ResNet's projection shortcut, 1x1 of stride 2: at batch 1 oneDNN ran ResNet-20's two on one thread in
 * 7 us each, op-profile-2026-12-04T0427Z.md).
 */
final class PointwiseConvPlan implements ChainableConv {
    /**
     * The most pixels (batch x height x width) the panels take: each pixel reads the whole kernel again (from cache),
     * which pays over the matrix product's strided reads of the kernel only for one or two pixels. Alone, from L3, on 2
     * threads (benchmarks/kernels/pointwise_bench.c): 160 x 960 took 6.7 us in panels against 8.8 in the product at 1
     * pixel, 10.0 against 13.6 at 2, 13.5 against 11.9 at 3; 576 x 96 at 4 pixels 7.2 against 5.6.
     */
    static final int PANEL_PIXELS = 2;
    /**
     * The most pixels the matrix product takes. With it MobileNetV2's batch-1 median went from 0.26 to 0.243 ms (its
     * 16x16 to 4x4 maps' 1x1 layers, measured when the panels still took up to 4 pixels; 6 interleaved JVMs each, the
     * fast mode of a bimodal machine).
     */
    static final int MAX_PIXELS = 256;
    /**
     * The most multiply-adds (pixels x inputs x outputs) the matrix product takes: about 40 us on one AVX2 core, where
     * oneDNN's blocked kernels, their set-up amortized, are as fast; every layer of the built-in models at batch 256
     * is far beyond.
     */
    static final long MAX_MULTIPLY_ADDS = 1L << 22;
    /** -Dosprey.cpu.smallPointwise=false runs every 1x1 convolution through oneDNN (for comparisons and debugging). */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("osprey.cpu.smallPointwise", "true"));
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the small pointwise convolution",
            PointwiseConvPlan::supported);
    /**
     * Whether the processor has AVX-512F, where the matrix product takes 32 output channels at a time in 512-bit
     * vectors (the same bits as its 256-bit tiles). On the Zen 5 (full-width 512-bit units), alone on 2 threads with
     * the kernel from L3 (benchmarks/kernels/pointwise_bench.c), MobileNetV2's batch-1 layers took 0.61-0.85x the
     * 256-bit time: 16 x 96 at 256 pixels 2.9 against 4.8 us, 144 x 24 at 64 pixels 2.6 against 3.2, 576 x 96 at 4
     * pixels 2.0 against 3.0. The panels stay 256-bit: they stream the kernel from L3, and 512-bit ones ran level.
     */
    private static final boolean WIDE = UNAVAILABLE == null && wideSupported();

    private final Conv2dSpec spec;
    private final int pixels;
    private final boolean panels; // the matrix-vector product over a prepared kernel (else the matrix product)
    private final int threads;
    private final boolean rectify;
    private final float slope;
    private final float cap;
    private final boolean wide; // the matrix product in 512-bit vectors

    /**
     * Plans op, which must {@link #fits}, for a team of threads (the backend gives it {@link #team}). The team is fixed
     * here, not read from the calling thread, because the panels a kernel is prepared into depend on it.
     */
    PointwiseConvPlan(ConvInference op, int team) {
        this(op, team, NativeCpu.wideVectorsAllowed() && WIDE);
    }

    /** As {@link #PointwiseConvPlan(ConvInference, int)}, the product in 512-bit vectors where wide (and possible). */
    PointwiseConvPlan(ConvInference op, int team, boolean wide) {
        if (!fits(op)) {
            String why = UNAVAILABLE != null ? UNAVAILABLE : !ENABLED ? "turned off (-Dosprey.cpu.smallPointwise=false)"
                    : "expected an fp32 1x1 convolution, unpadded, undilated, of one group, with the "
                    + "identity or a ReLU and nothing fused after it, over at most " + PANEL_PIXELS + " pixels, or "
                    + MAX_PIXELS + " pixels and " + MAX_MULTIPLY_ADDS + " multiply-adds";
            throw new IllegalArgumentException("the pointwise kernel cannot compute " + op + ": " + why);
        }
        if (team < 1) {
            throw new IllegalArgumentException("expected a team of at least 1 thread, received " + team);
        }
        this.spec = op.spec();
        this.pixels = (int) pixels(spec); // at most MAX_PIXELS
        this.panels = pixels <= PANEL_PIXELS;
        this.threads = panels ? Math.min(team, (spec.filters() + 7) / 8) : team; // panels: a vector each at least
        Activation a = spec.activation();
        this.rectify = a.kind() == Activation.Kind.RELU;
        this.slope = a.alpha();
        this.cap = a.maxValue();
        this.wide = wide && WIDE && !panels;
    }

    /**
     * Whether plans made now take the 512-bit path: the kernel runs, the processor has AVX-512F, and
     * -Dosprey.cpu.wideVectors does not turn it off.
     */
    static boolean wide() {
        return NativeCpu.wideVectorsAllowed() && WIDE;
    }

    /**
     * The team for op out of a whole team: one thread where its kernel is under 64 KB and its multiply-adds under
     * 128 K, which one thread computes in 2-3 us, less than a second thread's fork and join save; else the whole team.
     * Alone, from L3 (benchmarks/kernels/pointwise_bench.c, 1 and 2 threads): 192 x 64 at 4 pixels 2.7 and 3.9 us,
     * 144 x 32 at 16 pixels 2.2 and 2.9, 384 x 64 at 4 pixels (96 KB) 5.4 and 4.3, 32 x 16 at 256 pixels (131 K
     * multiply-adds) 4.0 and 3.5. Unlike oneDNN's primitives (TeamSize), -Dosprey.cpu.minMicrosPerThread does not
     * change it.
     */
    static int team(ConvInference op, int whole) {
        Conv2dSpec s = op.spec();
        long kernelBytes = (long) s.inC() * s.filters() * Float.BYTES;
        long multiplyAdds = pixels(s) * s.inC() * s.filters();
        return kernelBytes < (64 << 10) && multiplyAdds < (128 << 10) ? 1 : whole;
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
                && s.kernelH() == 1 && s.kernelW() == 1 && s.batch() > 0 && s.outH() > 0 && s.outW() > 0
                && s.dilationH() == 1 && s.dilationW() == 1 && s.groups() == 1
                && s.padTop() == 0 && s.padBottom() == 0 && s.padLeft() == 0 && s.padRight() == 0
                && (a == Activation.Kind.LINEAR || a == Activation.Kind.RELU)
                && (pixels(s) <= PANEL_PIXELS || pixels(s) <= MAX_PIXELS
                        && pixels(s) * s.inC() * s.filters() <= MAX_MULTIPLY_ADDS);
    }

    private static long pixels(Conv2dSpec s) {
        return (long) s.batch() * s.outH() * s.outW();
    }

    /** In panels or strips, padded to whole vectors either way. */
    @Override
    public long preparedFloats() {
        return (long) spec.inC() * ((spec.filters() + 7) / 8 * 8);
    }

    @Override
    public void prepare(CpuTensor keras, CpuTensor prepared) {
        if (panels) {
            prepare(keras.pointer().address(), spec.inC(), spec.filters(), threads, prepared.pointer().address());
        } else {
            prepareStrips(keras.pointer().address(), spec.inC(), spec.filters(), prepared.pointer().address());
        }
    }

    @Override
    public boolean submit(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y,
                          long chain) {
        long b = bias == null ? 0 : bias.pointer().address();
        long r = residual == null ? 0 : residual.pointer().address();
        if (panels) {
            return forward(x.pointer().address(), pixels, spec.inC(), kernel.pointer().address(), spec.filters(), b,
                    r, rectify, slope, cap, y.pointer().address(), spec.inH(), spec.inW(), spec.strideH(),
                    spec.strideW(), threads, chain);
        }
        return forwardRows(x.pointer().address(), pixels, spec.inC(), kernel.pointer().address(), spec.filters(), b,
                r, rectify, slope, cap, y.pointer().address(), spec.inH(), spec.inW(), spec.strideH(), spec.strideW(),
                threads, wide, chain);
    }

    /**
     * "osprey_pointwise_panels:avx2", "osprey_pointwise_rows:avx512" (512-bit tiles, or 256-bit ones where the wider
     * tiles would leave a thread idle) or "osprey_pointwise_rows:avx2".
     */
    @Override
    public String implementation() {
        return panels ? "osprey_pointwise_panels:avx2" : wide ? "osprey_pointwise_rows:avx512"
                : "osprey_pointwise_rows:avx2";
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

    /** Whether it also has AVX-512F, which the matrix product's 512-bit path uses. */
    private static native boolean wideSupported();

    /** Keras' (in, units) kernel into the panels a plan of this many threads reads ({@link #preparedFloats}). */
    private static native void prepare(long keras, int in, int units, int threads, long prepared);

    /** Keras' (in, units) kernel into the column strips the matrix product reads ({@link #preparedFloats}). */
    private static native void prepareStrips(long keras, int in, int units, long prepared);

    /**
     * y (rows, units) = rectify(x times the kernel prepared in panels + bias + residual); bias and residual may be 0
     * (none). x's maps are inH x inW pixels of in channels, y's rows its pixels at the strides (all of them at 1 and
     * 1). Runs now where chain is 0, else is appended to that chain (false: it could not grow).
     */
    private static native boolean forward(long x, int rows, int in, long kernel, int units, long bias, long residual,
                                          boolean rectify, float slope, float cap, long y, int inH, int inW,
                                          int strideH, int strideW, int threads, long chain);

    /** The same with the kernel prepared in strips, any number of rows; wide: in 512-bit vectors. */
    private static native boolean forwardRows(long x, int rows, int in, long kernel, int units, long bias,
                                              long residual, boolean rectify, float slope, float cap, long y, int inH,
                                              int inW, int strideH, int strideW, int threads, boolean wide,
                                              long chain);
}
