package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Pool2dSpec;

/**
 * An fp32 inference convolution of few input channels and the 2x2, stride-2 max pooling that alone reads its output,
 * as one pass of Osprey's kernel ({@code native/cpu/conv_pool.c}): an image classifier's first layer, where oneDNN's
 * convolution and pooling, run apart, are bound by writing and reading back the full-size map. The kernel reads
 * Keras' layout as it is (nothing to prepare) and applies the bias and activation once per pooled output.
 * {@link #fits} is where it is used: at most {@link #MAX_INPUT_CHANNELS} input channels, output channels in multiples
 * of 8, stride 1, no dilation, one group, a kernel of at most 7x7, and a pooling {@link MaxPoolFusion} takes.
 *
 * <p>In int8 plans the pair runs in int8 ({@code native/cpu/conv_pool8.c}) where {@link #int8Fits}: VNNI, output
 * channels in multiples of 16. The input is mapped onto 8 bits
 * as it is read, the kernel (prepared once) onto 8 bits per output channel as oneDNN's int8 plans map theirs, and
 * the 8-bit products summed exactly; each 32-bit lane multiplies 4 consecutive bytes of a kernel row, so one input
 * channel wastes nothing. Elsewhere the pair stays fp32 ({@link CpuBackend#keepsFp32InInt8}). Either way it may hand
 * its pooled output to int8 readers as 8-bit values ({@link ConvInference#quantizedOutput}), mapped by their
 * calibrated range as it is stored, so they read a quarter of the bytes and convert nothing.
 */
final class PooledConvPlan implements InferenceConv {
    /**
     * The most input channels it takes: each input value is broadcast to the output channels, which pays where there
     * are few (the tutorial CNN's first layer, 1 channel: its convolution and pooling ran 2.0 + 1.3 ms at batch 256
     * through oneDNN on 2 AVX2 cores, op-profile-2026-12-03T1208Z.md); wider inputs are oneDNN's direct kernels'
     * ground in fp32.
     */
    static final int MAX_INPUT_CHANNELS = 4;
    /** The most output channels an 8-bit output takes (the kernel stages each pixel's fp32 values on its stack). */
    static final int MAX_QUANTIZED_CHANNELS = 1024;
    /**
     * The most input channels the int8 kernel takes past {@link #MAX_INPUT_CHANNELS} (in fours, 3x3 kernels only, at
     * most {@link #MAX_INT8_WIDE_OUTPUT_CHANNELS} output channels): it reads the whole 8-bit kernel for each pooled
     * output, 36 KiB at 64 x 64 channels, which stays in the L1 cache (72 KiB at 128 output channels, from L2). The
     * tutorial CNN's second convolution, 32 to 64 channels, and its pooling took 0.80 + 0.15 ms at batch 256 through
     * oneDNN and 0.54 ms here (benchmarks/results/int8-pooled-kernels-2026-12-05.md); wider layers were not measured.
     */
    static final int MAX_INT8_INPUT_CHANNELS = 64;
    /** The most output channels the int8 kernel takes with more than {@link #MAX_INPUT_CHANNELS} input channels. */
    static final int MAX_INT8_WIDE_OUTPUT_CHANNELS = 128;
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the pooled convolution",
            PooledConvPlan::supported);
    /**
     * Whether the processor has AVX-512F, where the kernel takes its output channels 16 at a time in 512-bit vectors
     * (processors with full-width units, like AMD's Zen 5, multiply those at twice the 256-bit rate); the same bits as
     * its 256-bit path.
     */
    private static final boolean WIDE = UNAVAILABLE == null && wideSupported();
    /** Whether the int8 kernel can run here: the library loaded, and the processor has AVX-512BW and VNNI. */
    private static final boolean INT8 = UNAVAILABLE == null && int8Supported();

    private final Conv2dSpec spec;
    private final Pool2dSpec pool;
    private final int threads;
    private final boolean rectify;
    private final float slope;
    private final float cap;
    private final boolean wide;
    private final int outputFormat; // 0: fp32; 1 or 2: unsigned or signed 8 bits (the native code's numbers)
    private final float outputScale; // the readers' real value per 8-bit step (1 for fp32)
    private final boolean int8; // products of 8-bit values (conv_pool8.c), else fp32 (conv_pool.c)
    private final float inputScale; // int8: the input's real value per 8-bit step
    private final boolean inputSigned; // int8: the input is mapped onto signed 8 bits (it was negative in calibration)
    private final boolean inputBytes; // int8: the input holds 8-bit values already (handed over by an int8 layer)
    private final CpuTensor scratch; // int8: each thread's input mapped onto 8 bits; else null

    /**
     * Plans op, whose convolution and pooling must {@link #fits} (fp32) or {@link #int8Fits} (int8), for the calling
     * thread's current OpenMP team.
     */
    PooledConvPlan(ConvInference op) {
        this(op, NativeCpu.wideVectorsAllowed() && WIDE);
    }

    /**
     * As {@link #PooledConvPlan(ConvInference)}, in 512-bit vectors where wide (and the processor has them; fp32 only).
     */
    PooledConvPlan(ConvInference op, boolean wide) {
        boolean int8 = op.precision() == Precision.INT8;
        if (op.maxPool() == null || !(int8 ? int8Fits(op.spec(), op.maxPool(), op.inputRange())
                : op.precision() == Precision.FP32 && fits(op.spec(), op.maxPool()))) {
            throw new IllegalArgumentException("expected a convolution with a 2x2 max pooling of stride 2 after it, as "
                    + "the pooled kernel computes them (fp32: at most " + MAX_INPUT_CHANNELS + " input channels; int8: "
                    + "on a processor with VNNI, output channels in multiples of 16, and past " + MAX_INPUT_CHANNELS
                    + " input channels up to " + MAX_INT8_INPUT_CHANNELS + " in fours, 3x3), received " + op);
        }
        this.spec = op.spec();
        this.pool = op.maxPool();
        this.threads = OpenMpTeam.current();
        Activation a = spec.activation();
        this.rectify = a.kind() == Activation.Kind.RELU;
        this.slope = a.alpha();
        this.cap = a.maxValue();
        this.wide = wide && WIDE;
        if (op.quantizedOutput() && spec.filters() > MAX_QUANTIZED_CHANNELS) {
            throw new IllegalArgumentException("expected at most " + MAX_QUANTIZED_CHANNELS + " output channels for "
                    + "an 8-bit pooled output, received " + op);
        }
        this.outputFormat = !op.quantizedOutput() ? 0 : op.outputRange().unsigned() ? 1 : 2;
        this.outputScale = op.quantizedOutput() ? op.outputRange().scale() : 1f;
        this.int8 = int8;
        this.inputScale = int8 ? op.inputRange().scale() : 1f;
        this.inputSigned = int8 && !op.inputRange().unsigned();
        this.inputBytes = op.quantizedInput();
        this.scratch = int8 ? CpuTensor.allocate(new int[] {Math.toIntExact((int8ScratchBytes(spec.inC(),
                spec.kernelH(), spec.kernelW(), pool.outH(), pool.outW(), threads) + Float.BYTES - 1) / Float.BYTES)})
                : null;
    }

    /**
     * Whether the int8 kernel computes conv then pool here: the geometry {@link #fits} takes but for the input
     * channels (up to {@link #MAX_INPUT_CHANNELS}; or in fours up to {@link #MAX_INT8_INPUT_CHANNELS} with a 3x3
     * kernel and at most {@link #MAX_INT8_WIDE_OUTPUT_CHANNELS} output channels), the processor has VNNI, the input was
     * calibrated (range), the output channels come in sixteens, at most {@link #MAX_QUANTIZED_CHANNELS}.
     */
    static boolean int8Fits(Conv2dSpec conv, Pool2dSpec pool, dev.osprey.backend.InputRange range) {
        int c = conv.inC();
        boolean wide = c > MAX_INPUT_CHANNELS;
        return int8Available() && range != null && geometryFits(conv, pool) && conv.filters() % 16 == 0
                && conv.filters() <= MAX_QUANTIZED_CHANNELS
                && (!wide || c % 4 == 0 && c <= MAX_INT8_INPUT_CHANNELS && conv.kernelH() == 3 && conv.kernelW() == 3
                        && conv.filters() <= MAX_INT8_WIDE_OUTPUT_CHANNELS);
    }

    /** Whether the int8 kernels of conv_pool8.c can run here: the library loaded, AVX-512BW and VNNI. */
    static boolean int8Available() {
        return INT8 && InferenceOperands.VNNI;
    }

    /** Null where the kernel can run on this machine; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /**
     * Whether plans made now take the 512-bit path: the kernel runs, the processor has AVX-512F, and
     * -Dosprey.cpu.wideVectors does not turn it off.
     */
    static boolean wide() {
        return NativeCpu.wideVectorsAllowed() && WIDE;
    }

    /** Whether the kernel computes conv then pool (see the class comment), and can run here. */
    static boolean fits(Conv2dSpec conv, Pool2dSpec pool) {
        return conv.inC() <= MAX_INPUT_CHANNELS && geometryFits(conv, pool);
    }

    /** fits but for the input channels: the library loaded, stride 1, no dilation, one group, at most 7x7. */
    private static boolean geometryFits(Conv2dSpec conv, Pool2dSpec pool) {
        return UNAVAILABLE == null && MaxPoolFusion.takes(conv, pool) && conv.filters() % 8 == 0
                && conv.strideH() == 1 && conv.strideW() == 1 && conv.dilationH() == 1 && conv.dilationW() == 1
                && conv.groups() == 1 && conv.kernelH() <= 7 && conv.kernelW() <= 7;
    }

    /**
     * fp32: 0 (Keras' layout, as it is); int8: the kernel's 8-bit rows, kh x ceil(kw C / 4) x K x 4 bytes, then K
     * scales, then K sums of each channel's 8-bit kernel.
     */
    @Override
    public long preparedFloats() {
        if (!int8) {
            return 0;
        }
        long groups = (spec.kernelW() * (long) spec.inC() + 3) / 4;
        return spec.kernelH() * groups * spec.filters() + 2L * spec.filters(); // 4 bytes a float
    }

    @Override
    public void prepare(CpuTensor keras, CpuTensor prepared) {
        if (!int8) {
            throw new UnsupportedOperationException("the fp32 pooled convolution reads Keras' layout: nothing to "
                    + "prepare");
        }
        prepareInt8(keras.pointer().address(), spec.kernelH(), spec.kernelW(), spec.inC(), spec.filters(),
                InferenceOperands.WEIGHT_LEVELS, prepared.pointer().address());
    }

    @Override
    public void forward(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y) {
        if (residual != null) {
            throw new IllegalArgumentException("the pooled convolution adds no residual, received one");
        }
        if (int8) {
            forwardInt8(x.pointer().address(), inputBytes, inputScale, inputSigned, spec.batch(), spec.inH(),
                    spec.inW(), spec.inC(),
                    spec.kernelH(), spec.kernelW(), spec.padTop(), spec.padLeft(), pool.outH(), pool.outW(),
                    kernel.pointer().address(), spec.filters(), bias == null ? 0 : bias.pointer().address(), rectify,
                    slope, cap, y.pointer().address(), outputFormat, outputScale, scratch.pointer().address(),
                    threads);
            return;
        }
        forward(x.pointer().address(), spec.batch(), spec.inH(), spec.inW(), spec.inC(), spec.kernelH(),
                spec.kernelW(), spec.padTop(), spec.padLeft(), pool.outH(), pool.outW(), kernel.pointer().address(),
                spec.filters(), bias == null ? 0 : bias.pointer().address(), rectify, slope, cap,
                y.pointer().address(), outputFormat, outputScale, threads, wide);
    }

    @Override
    public String implementation() {
        return int8 ? "osprey_conv_maxpool_int8:avx512_core_vnni"
                : wide ? "osprey_conv_maxpool:avx512" : "osprey_conv_maxpool:avx2";
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void close() {
        if (scratch != null) {
            scratch.close();
        }
    }

    /** Whether the processor has the instructions the kernel uses (AVX2 and FMA on x86-64). */
    private static native boolean supported();

    /** Whether it also has AVX-512F, for the kernel's 512-bit path. */
    private static native boolean wideSupported();

    /** Whether it has AVX-512F, BW, VL and VNNI, for the int8 kernel. */
    private static native boolean int8Supported();

    /** Bytes of the int8 kernel's scratch on {@code threads} threads. */
    private static native long int8ScratchBytes(int c, int kh, int kw, int ph, int pw, int threads);

    /**
     * The int8 kernel's prepared kernel from a Keras-layout (kh, kw, c, k) fp32 one: each output channel mapped onto
     * [-levels, levels] (see {@link #preparedFloats} for the layout).
     */
    static native void prepareInt8(long keras, int kh, int kw, int c, int k, float levels, long prepared);

    /**
     * forward in int8: x fp32, mapped onto 8 bits by xScale, or 8-bit values already (xBytes), signed where xSigned,
     * else unsigned; the kernel as prepareInt8 wrote it; k a multiple of 16; scratch: int8ScratchBytes.
     */
    private static native void forwardInt8(long x, boolean xBytes, float xScale, boolean xSigned, int batch, int h,
                                           int w, int c, int kh, int kw,
                                           int padTop, int padLeft, int ph, int pw, long kernel, int k, long bias,
                                           boolean rectify, float slope, float cap, long y, int yFormat, float yScale,
                                           long scratch, int threads);

    /**
     * y (batch, ph, pw, k) = the 2x2 stride-2 max pooling of rectify(conv(x) + bias), x NHWC (batch, h, w, c), the
     * kernel in Keras' layout (kh, kw, c, k); bias may be 0 (none); yFormat 0: fp32, 1 or 2: each value divided by
     * yScale, rounded to nearest even and saturated to unsigned or signed 8 bits (k at most
     * {@link #MAX_QUANTIZED_CHANNELS}); wide: in 512-bit vectors (where the processor has AVX-512F; else 256-bit).
     */
    private static native void forward(long x, int batch, int h, int w, int c, int kh, int kw, int padTop,
                                       int padLeft, int ph, int pw, long kernel, int k, long bias, boolean rectify,
                                       float slope, float cap, long y, int yFormat, float yScale, int threads,
                                       boolean wide);
}
