package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;

/**
 * An fp32 1x1 inference convolution over at most {@link #MAX_PIXELS} pixels in the batch, through Osprey's kernel
 * ({@code native/cpu/pointwise.c}): a matrix-vector product bound by streaming its kernel, as MobileNetV2's late
 * layers are at 32x32x3 and batch 1 (1x1 and 2x2 maps, 160 to 1,280 channels). There oneDNN's 1x1 kernel took
 * 24 us for the 160-to-960 layer, whose 0.6 MB of kernel stream in under 10 us (op profile of 2026-12-03, batch 1).
 * The kernel is prepared once into panels split over the plan's threads; each output is summed in input order, so a
 * pixel's result does not depend on the batch it came in. {@link #fits}: fp32, a 1x1 kernel of stride 1 without
 * padding, dilation or groups, the identity or a ReLU, no fused depthwise convolution or pooling, and not turned off
 * ({@link #ENABLED}).
 */
final class PointwiseConvPlan implements InferenceConv {
    /**
     * The most pixels (batch x height x width) it takes: each pixel reads the whole kernel again (from cache), which
     * pays while oneDNN's set-up outweighs the arithmetic. On MobileNetV2 at batch 1 (32x32x3, 2 AVX2 threads, on the
     * caller) the model's median latency was 0.28-0.34 ms with its 2x2-map layers here too (up to 4 pixels), 0.29-0.32
     * ms with only its 1x1-map layers, and 0.32-0.36 ms with every layer through oneDNN (6 interleaved JVMs each).
     */
    static final int MAX_PIXELS = 4;
    /** -Dosprey.cpu.smallPointwise=false runs every 1x1 convolution through oneDNN (for comparisons and debugging). */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("osprey.cpu.smallPointwise", "true"));
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the small pointwise convolution",
            PointwiseConvPlan::supported);

    private final Conv2dSpec spec;
    private final int pixels;
    private final int threads;
    private final boolean rectify;
    private final float slope;
    private final float cap;

    /**
     * Plans op, which must {@link #fits}, for the calling thread's current OpenMP team (the backend gives it the whole
     * team: its fork costs about a microsecond, and two threads stream a kernel faster than one).
     */
    PointwiseConvPlan(ConvInference op) {
        if (!fits(op)) {
            throw new IllegalArgumentException("expected an fp32 1x1 convolution of stride 1 over at most "
                    + MAX_PIXELS + " pixels, with the identity or a ReLU, as the pointwise kernel computes it, received "
                    + op);
        }
        this.spec = op.spec();
        this.pixels = (int) pixels(spec); // at most MAX_PIXELS
        this.threads = Math.max(1, Math.min(OpenMpTeam.current(), (spec.filters() + 7) / 8)); // a vector each at least
        Activation a = spec.activation();
        this.rectify = a.kind() == Activation.Kind.RELU;
        this.slope = a.alpha();
        this.cap = a.maxValue();
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
                && s.kernelH() == 1 && s.kernelW() == 1 && s.strideH() == 1 && s.strideW() == 1
                && s.dilationH() == 1 && s.dilationW() == 1 && s.groups() == 1
                && s.padTop() == 0 && s.padBottom() == 0 && s.padLeft() == 0 && s.padRight() == 0
                && (a == Activation.Kind.LINEAR || a == Activation.Kind.RELU) && pixels(s) <= MAX_PIXELS;
    }

    private static long pixels(Conv2dSpec s) {
        return (long) s.batch() * s.outH() * s.outW();
    }

    @Override
    public long preparedFloats() {
        return (long) spec.inC() * ((spec.filters() + 7) / 8 * 8); // padded to whole vectors
    }

    @Override
    public void prepare(CpuTensor keras, CpuTensor prepared) {
        prepare(keras.pointer().address(), spec.inC(), spec.filters(), threads, prepared.pointer().address());
    }

    @Override
    public void forward(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y) {
        forward(x.pointer().address(), pixels, spec.inC(), kernel.pointer().address(), spec.filters(),
                bias == null ? 0 : bias.pointer().address(), residual == null ? 0 : residual.pointer().address(),
                rectify, slope, cap, y.pointer().address(), threads);
    }

    @Override
    public String implementation() {
        return "osprey_pointwise:avx2";
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

    /** Keras' (in, units) kernel into the panels a plan of this many threads reads ({@link #preparedFloats}). */
    private static native void prepare(long keras, int in, int units, int threads, long prepared);

    /**
     * y (rows, units) = rectify(x (rows, in) times the prepared kernel + bias + residual); bias and residual may be 0
     * (none).
     */
    private static native void forward(long x, int rows, int in, long kernel, int units, long bias, long residual,
                                       boolean rectify, float slope, float cap, long y, int threads);
}
