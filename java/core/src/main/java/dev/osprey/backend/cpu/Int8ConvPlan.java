package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;

/**
 * An int8 inference convolution run by Osprey's kernel ({@code native/cpu/conv_pool8.c}, beside the pooled one): a
 * 3x3, stride-1 convolution to 16 channels, with a residual (fp32 or 8-bit) and any output the int8 plans ask for (fp32,
 * or 8 bits in the readers' range), of 16 channels whose 8-bit input an int8 layer hands over, or of at most
 * {@link PooledConvPlan#MAX_INPUT_CHANNELS} (a stem on the images; fp32 input mapped onto 8 bits as it is copied).
 * These are a CIFAR ResNet's stem and first stage. There oneDNN's int8 kernel runs at about 71% of the VNNI peak on
 * 16 channels (each output vector of 16 channels needs one broadcast input load per multiply-add, and loads bound it)
 * and wastes a quarter of each product on 3 (it multiplies channels in fours, and converts the images apart). The
 * kernel computes two output rows at a time, so each input row's broadcast serves both (2/3 of a load per
 * multiply-add), and multiplies a kernel row's bytes in fours as the pooled int8 kernel does, prepared as that kernel
 * prepares it (per-channel scales, as oneDNN's int8 plans map kernels). Its outputs are oneDNN's real values but for
 * the rounding of float sums (an 8-bit output may then differ by a step).
 *
 * <p>{@link #fits} is where it is used; {@code -Dosprey.cpu.int8Conv3x3=onednn} leaves these to oneDNN, to compare
 * (read each time the backend picks a convolution's plan).
 */
final class Int8ConvPlan implements ChainableConv {
    /** The property that leaves these to oneDNN ({@code onednn}; {@code osprey}, the default, takes them). */
    static final String PROPERTY = "osprey.cpu.int8Conv3x3";
    /**
     * The output channels it takes, and the input channels of an 8-bit input: the shapes it was measured on (wider
     * ones run near the peak in oneDNN).
     */
    static final int CHANNELS = 16;

    private final Conv2dSpec spec;
    private final int threads;
    private final boolean rectify;
    private final float slope;
    private final float cap;
    private final float inputScale;
    private final boolean inputSigned;
    private final boolean inputBytes; // the input holds 8-bit values (handed over), else fp32
    private final int residualFormat; // 0: none, 1: fp32, 2 or 3: unsigned or signed 8 bits (the native code's numbers)
    private final float residualStep;
    private final int outputFormat; // 0: fp32; 1 or 2: unsigned or signed 8 bits
    private final float outputScale;
    private final DnnlContext context; // its shared scratchpad holds each thread's image, padded

    /**
     * Plans op, which must {@link #fits}, for the calling thread's current OpenMP team; its scratch is context's
     * shared scratchpad (grown here), as the Winograd kernel's is: a chain that holds this pass then holds nothing
     * this plan owns, and the plan may leave the backend's plan cache while the chain lives on.
     */
    Int8ConvPlan(DnnlContext context, ConvInference op) {
        if (!shapeFits(op) || !PooledConvPlan.int8Available()) {
            throw new IllegalArgumentException("expected an int8 3x3 stride-1 convolution to " + CHANNELS
                    + " channels of " + CHANNELS + " with an 8-bit input or of at most "
                    + PooledConvPlan.MAX_INPUT_CHANNELS + ", with no activation or a ReLU and no pooling or depthwise "
                    + "convolution after it, on a processor with VNNI, received " + op);
        }
        this.spec = op.spec();
        this.threads = OpenMpTeam.current();
        Activation a = spec.activation();
        this.rectify = a.kind() == Activation.Kind.RELU;
        this.slope = a.alpha();
        this.cap = a.maxValue();
        this.inputScale = op.inputRange().scale();
        this.inputSigned = !op.inputRange().unsigned();
        this.inputBytes = op.quantizedInput();
        this.residualFormat = !op.residual() ? 0 : !op.quantizedResidual() ? 1
                : op.residualRange().unsigned() ? 2 : 3;
        this.residualStep = op.quantizedResidual() ? op.residualRange().scale() : 1f;
        this.outputFormat = !op.quantizedOutput() ? 0 : op.outputRange().unsigned() ? 1 : 2;
        this.outputScale = op.quantizedOutput() ? op.outputRange().scale() : 1f;
        this.context = context;
        context.reserveScratchpad(scratchBytes(spec.inC(), spec.outH(), spec.outW(), threads));
    }

    /** Whether this kernel takes op: the shape {@link #shapeFits}, it can run here, and the property lets it. */
    static boolean fits(ConvInference op) {
        return shapeFits(op) && PooledConvPlan.int8Available()
                && !"onednn".equals(System.getProperty(PROPERTY, "osprey"));
    }

    /**
     * int8, no pooling or depthwise convolution after it, a 3x3 kernel of stride 1 without dilation or groups, at most
     * 1 of padding a side, {@link #CHANNELS} output channels; {@link #CHANNELS} input channels handed over in 8 bits, or
     * at most {@link PooledConvPlan#MAX_INPUT_CHANNELS} either way; no activation or a ReLU (any slope and cap), all the
     * kernel applies.
     */
    static boolean shapeFits(ConvInference op) {
        Conv2dSpec s = op.spec();
        Activation.Kind a = s.activation().kind();
        return op.precision() == Precision.INT8 && op.maxPool() == null && op.depthwise() == null
                && (a == Activation.Kind.LINEAR || a == Activation.Kind.RELU)
                && s.kernelH() == 3 && s.kernelW() == 3 && s.strideH() == 1 && s.strideW() == 1
                && s.dilationH() == 1 && s.dilationW() == 1 && s.groups() == 1 && s.filters() == CHANNELS
                && (s.inC() == CHANNELS && op.quantizedInput() || s.inC() <= PooledConvPlan.MAX_INPUT_CHANNELS)
                && s.padTop() <= 1 && s.padLeft() <= 1 && s.padBottom() <= 1 && s.padRight() <= 1;
    }

    /**
     * The kernel's 8-bit rows, 3 x ceil(3 C / 4) x K x 4 bytes, then K scales, then K sums (as the pooled int8 kernel).
     */
    @Override
    public long preparedFloats() {
        long groups = (3L * spec.inC() + 3) / 4;
        return 3 * groups * spec.filters() + 2L * spec.filters(); // 4 bytes a float
    }

    @Override
    public void prepare(CpuTensor keras, CpuTensor prepared) {
        PooledConvPlan.prepareInt8(keras.pointer().address(), 3, 3, spec.inC(), spec.filters(),
                InferenceOperands.WEIGHT_LEVELS, prepared.pointer().address());
    }

    /**
     * Runs the pass now (chain 0) or appends it to the chain, as a pass that works image by image: a chain runs a
     * stretch of them depth first ({@link CpuOpChain#imagesFirst}).
     */
    @Override
    public boolean submit(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y,
                          long chain) {
        if ((residual != null) != (residualFormat != 0)) {
            throw new IllegalArgumentException("convolution " + spec + ": expected " + (residualFormat != 0
                    ? "a residual" : "no residual") + ", received " + (residual != null ? "one" : "none"));
        }
        return forward(x.pointer().address(), inputBytes, inputScale, inputSigned, spec.batch(), spec.inH(),
                spec.inW(), spec.inC(), spec.padTop(), spec.padLeft(), spec.outH(), spec.outW(),
                kernel.pointer().address(), spec.filters(), bias == null ? 0 : bias.pointer().address(), rectify,
                slope, cap, residual == null ? 0 : residual.pointer().address(), residualFormat, residualStep,
                y.pointer().address(), outputFormat, outputScale, chain == 0 ? context.scratchpad().address() : 0,
                threads, chain);
    }

    @Override
    public String implementation() {
        return "osprey_conv3x3_int8:avx512_core_vnni";
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void close() {
        // nothing of its own: its scratch is the context's
    }

    /** Bytes of the kernel's scratch on {@code threads} threads. */
    private static native long scratchBytes(int c, int oh, int ow, int threads);

    /**
     * y = rectify(conv(x) + bias [+ residual]): x 8-bit values (xBytes; signed where xSigned), xScale a step, or fp32
     * mapped so; the kernel as {@link PooledConvPlan#prepareInt8} wrote it; residual by residualFormat, 8-bit ones
     * residualStep a step; y fp32 (yFormat 0) or 8 bits mapped by yScale; scratch: scratchBytes of the scratchpad
     * now (chain 0), or 0 where the pass is appended to that chain (then each run's scratchpad); false where the chain
     * could not grow.
     */
    private static native boolean forward(long x, boolean xBytes, float xScale, boolean xSigned, int batch, int h,
                                          int w, int c, int padTop, int padLeft, int oh, int ow, long kernel, int k,
                                          long bias, boolean rectify, float slope, float cap, long residual,
                                          int residualFormat, float residualStep, long y, int yFormat, float yScale,
                                          long scratch, int threads, long chain);
}
