package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Pool2dSpec;

/**
 * A 3x3 stride-1 fp32 convolution for inference plans through Osprey's Winograd F(m x m, 3x3) kernel, m = 2 or 4 (see
 * {@link Winograd} for when it is used and with which m, {@code native/cpu/winograd.c} for how it works). The kernel
 * is prepared once into its Winograd transform ((m+2)^2 x inC x outC floats); each call runs one native function that
 * transforms, multiplies and transforms back in cache-sized blocks of tiles, with the bias, residual and activation
 * applied as each output is written (or, with a max pooling after it, {@link MaxPoolFusion}, as each window's maximum
 * is). Its scratch is the context's shared scratchpad (ops run one at a time), grown
 * when the plan is made.
 */
final class WinogradConvPlan implements ChainableConv {
    private final DnnlContext context;
    private final Conv2dSpec spec;
    /** Outputs per tile along each axis: 2 or 4. */
    private final int m;
    /** Tiles per block: {@link Winograd#block}. */
    private final int block;
    private final int threads;
    private final boolean rectify;
    private final float slope;
    private final float cap;
    /** The max pooling after it, or null. */
    private final Pool2dSpec pool;
    /** {@link #implementation}: named once, since the backend asks for it on every call. */
    private final String implementation;

    /** Plans op, which must {@link Winograd#fits}, with m x m tiles, for the calling thread's current OpenMP team. */
    WinogradConvPlan(DnnlContext context, ConvInference op, int m) {
        if (!Winograd.fits(op)) {
            throw new IllegalArgumentException("expected a convolution the Winograd kernel computes (fp32, 3x3, "
                    + "stride 1, no dilation, one group, channels in multiples of 8, linear or ReLU, a 2x2 max pooling "
                    + "of stride 2 or none after it), received " + op);
        }
        if (m != 2 && m != 4) {
            throw new IllegalArgumentException("expected Winograd tiles of 2x2 or 4x4 outputs, received " + m + "x" + m);
        }
        this.context = context;
        this.spec = op.spec();
        this.m = m;
        this.threads = OpenMpTeam.current();
        this.block = Winograd.block(m, Winograd.tiles(m, spec.batch(), spec.outH(), spec.outW()), threads);
        Activation a = spec.activation();
        this.rectify = a.kind() == Activation.Kind.RELU;
        this.slope = a.alpha();
        this.cap = a.maxValue();
        this.pool = op.maxPool();
        this.implementation = "winograd_" + m + "x" + m + "_3x3:" + (Winograd.avx512Copy() ? "avx512" : "avx2");
        context.reserveScratchpad(Winograd.scratchFloats(block, spec.inC(), spec.filters(), m, threads)
                * Float.BYTES);
    }

    @Override
    public long preparedFloats() {
        return (long) (m + 2) * (m + 2) * spec.inC() * spec.filters();
    }

    @Override
    public void prepare(CpuTensor keras, CpuTensor prepared) {
        Winograd.prepare(keras.pointer().address(), spec.inC(), spec.filters(), m, prepared.pointer().address(),
                threads);
    }

    /** Run now, it uses the scratchpad as it is; chained, the scratchpad of each run (it moves when it grows). */
    @Override
    public boolean submit(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y,
                          long chain) {
        return Winograd.forward(x.pointer().address(), spec.batch(), spec.inH(), spec.inW(), spec.inC(),
                spec.padTop(), spec.padLeft(), spec.outH(), spec.outW(), m, kernel.pointer().address(),
                spec.filters(), bias == null ? 0 : bias.pointer().address(),
                residual == null ? 0 : residual.pointer().address(), rectify, slope, cap, y.pointer().address(),
                pool == null ? 0 : pool.outH(), pool == null ? 0 : pool.outW(),
                chain == 0 ? context.scratchpad().address() : 0, block, threads, chain, false);
    }

    /**
     * "winograd_4x4_3x3:avx512" where the kernels ran their AVX-512 copy when the plan was made, ":avx2" otherwise (2x2
     * tiles: "_2x2_").
     */
    @Override
    public String implementation() {
        return implementation;
    }

    /** Whether its threads share the output channels of every block rather than the tiles (few tiles). */
    boolean sharesOutputChannels() {
        return Winograd.sharesOutputChannels(Winograd.tiles(m, spec.batch(), spec.outH(), spec.outW()), spec.filters(),
                threads);
    }

    /** Outputs per tile along each axis: 2 or 4. */
    int tile() {
        return m;
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void close() {
        // nothing native of its own: its prepared kernel is the caller's, its scratch the context's
    }
}
