package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;

/**
 * A 3x3 stride-1 fp32 convolution of a training plan, forward, backward-data and the filter gradient through Osprey's
 * Winograd kernel where {@link Winograd#trainingTile} ({@link Winograd#filterTile} for the filter gradient) picks a
 * tile for that direction. Backward-data is itself a 3x3 stride-1 convolution: of the output gradient, with the
 * kernel's taps flipped and its channels swapped,
 * padded by 2 minus the forward padding. The kernel changes every step, so each call first transforms it, into a
 * tensor this plan owns ((m+2)^2 x inC x outC floats per direction); that is about 2-5% of the convolution's work
 * at the built-in models' shapes. The filter gradient needs no transformed kernel: it sums products of transformed
 * inputs and output gradients, then transforms that sum into the kernel's gradient. A direction the kernel does not
 * take reports tile 0, and the caller runs oneDNN's.
 */
final class WinogradTrainingConv implements AutoCloseable {
    private final DnnlContext context;
    private final Conv2dSpec spec;
    private final int threads;
    private final int forwardTile;
    private final int forwardBlock;
    private final CpuTensor forwardKernel; // null where forwardTile is 0
    private final Conv2dSpec backward;     // backward-data as a forward convolution of dy, or null
    private final int backwardTile;
    private final int backwardBlock;
    private final CpuTensor backwardKernel;
    private final int filterTile;
    private final boolean oneBackwardPass; // both backward directions in one pass of the kernel (see backward)
    private final boolean rectify;
    private final float slope;
    private final float cap;

    /** Plans spec's directions by winograd's choice, for the calling thread's current OpenMP team. */
    WinogradTrainingConv(DnnlContext context, Conv2dSpec spec, Winograd winograd) {
        this.context = context;
        this.spec = spec;
        this.threads = OpenMpTeam.current();
        boolean fp32 = spec.math() == Precision.FP32;
        forwardTile = fp32 ? winograd.trainingTile(spec) : 0;
        backward = fp32 ? backwardData(spec) : null;
        backwardTile = backward == null ? 0 : winograd.trainingTile(backward);
        forwardBlock = forwardTile == 0 ? 0
                : Winograd.block(forwardTile, Winograd.tiles(forwardTile, spec.batch(), spec.outH(), spec.outW()),
                        threads);
        filterTile = winograd.filterTile(spec);
        backwardBlock = backwardTile == 0 ? 0
                : Winograd.block(backwardTile, Winograd.tiles(backwardTile, spec.batch(), spec.inH(), spec.inW()),
                        threads);
        oneBackwardPass = FUSE_BACKWARD && backwardTile != 0 && filterTile == backwardTile
                && Winograd.backwardTakes(spec.batch(), spec.inH(), spec.inW(), spec.inC(), spec.padTop(),
                        spec.padLeft(), spec.outH(), spec.outW(), spec.filters(), filterTile, backward.padTop(),
                        backward.padLeft(), threads);
        Activation a = spec.activation();
        rectify = a.kind() == Activation.Kind.RELU;
        slope = a.alpha();
        cap = a.maxValue();
        CpuTensor f = null;
        CpuTensor b = null;
        try {
            if (forwardTile != 0) {
                f = CpuTensor.allocate(new int[] {kernelFloats(forwardTile)});
                context.reserveScratchpad(Winograd.scratchFloats(forwardBlock, spec.inC(), spec.filters(),
                        forwardTile, threads) * Float.BYTES);
            }
            if (filterTile != 0) {
                context.reserveScratchpad(Winograd.filterScratchFloats(spec.inC(), spec.filters(), filterTile,
                        threads) * Float.BYTES);
            }
            if (backwardTile != 0) {
                b = CpuTensor.allocate(new int[] {kernelFloats(backwardTile)});
                context.reserveScratchpad(Winograd.scratchFloats(backwardBlock, spec.filters(), spec.inC(),
                        backwardTile, threads) * Float.BYTES);
            }
            if (oneBackwardPass) {
                context.reserveScratchpad(Winograd.backwardScratchFloats(spec.inC(), spec.filters(), filterTile,
                        backwardBlock, threads) * Float.BYTES);
            }
        } catch (RuntimeException | Error e) {
            if (f != null) {
                f.close();
            }
            if (b != null) {
                b.close();
            }
            throw e;
        }
        forwardKernel = f;
        backwardKernel = b;
    }

    /**
     * Whether the kernel could take a direction of spec at all (fp32 math, 3x3, stride 1, undilated, one group, channels
     * in multiples of 8): a cheap test that spares every other convolution a plan.
     */
    static boolean candidate(Conv2dSpec s) {
        return s.math() == Precision.FP32 && Winograd.fitsShape(s);
    }

    /**
     * The backward-data convolution of spec as a forward one (dy in, dx out, taps flipped), or null where the kernel
     * can't take it: a geometry it does not take ({@link Winograd#fitsShape}), or padded by more than 2 on a side.
     */
    static Conv2dSpec backwardData(Conv2dSpec s) {
        if (!Winograd.fitsShape(s) || Math.max(Math.max(s.padTop(), s.padLeft()),
                Math.max(s.padBottom(), s.padRight())) > 2) {
            return null;
        }
        return new Conv2dSpec(s.batch(), s.outH(), s.outW(), s.filters(), s.inC(), 3, 3, 1, 1, 2 - s.padTop(),
                2 - s.padLeft(), 2 - s.padBottom(), 2 - s.padRight(), 1, 1, 1, false, Activation.LINEAR);
    }

    private int kernelFloats(int m) {
        return Math.toIntExact((long) (m + 2) * (m + 2) * spec.inC() * spec.filters());
    }

    /** The forward tile (2 or 4), or 0: oneDNN runs the forward convolution. */
    int forwardTile() {
        return forwardTile;
    }

    /** The backward-data tile (2 or 4), or 0: oneDNN runs it. */
    int backwardTile() {
        return backwardTile;
    }

    /** Whether {@link #backward} runs both backward directions in one pass (else it declines every call). */
    boolean oneBackwardPass() {
        return oneBackwardPass;
    }

    /** The filter gradient's tile (2 or 4), or 0: oneDNN computes it. */
    int filterTile() {
        return filterTile;
    }

    /** y = activation(conv(x) + bias), kernel in Keras' layout; only where {@link #forwardTile} is not 0. */
    void forward(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor y) {
        Winograd.prepare(kernel.pointer().address(), spec.inC(), spec.filters(), forwardTile,
                forwardKernel.pointer().address(), threads);
        Winograd.forward(x.pointer().address(), spec.batch(), spec.inH(), spec.inW(), spec.inC(), spec.padTop(),
                spec.padLeft(), spec.outH(), spec.outW(), forwardTile, forwardKernel.pointer().address(),
                spec.filters(), bias == null ? 0 : bias.pointer().address(), 0, rectify, slope, cap,
                y.pointer().address(), 0, 0, context.scratchpad().address(), forwardBlock, threads, 0, true);
    }

    /** dx = the gradient of the input, from dy and the Keras-layout kernel; only where {@link #backwardTile} is not 0. */
    void backwardData(CpuTensor dy, CpuTensor kernel, CpuTensor dx) {
        backwardData(dy, kernel, null, dx);
    }

    /** The same, plus addend (null: none), added by the output transform as it stores dx. */
    void backwardData(CpuTensor dy, CpuTensor kernel, CpuTensor addend, CpuTensor dx) {
        Winograd.prepareTransposed(kernel.pointer().address(), spec.inC(), spec.filters(), backwardTile,
                backwardKernel.pointer().address(), threads);
        Winograd.forward(dy.pointer().address(), spec.batch(), spec.outH(), spec.outW(), spec.filters(),
                backward.padTop(), backward.padLeft(), spec.inH(), spec.inW(), backwardTile,
                backwardKernel.pointer().address(), spec.inC(), 0, addend == null ? 0 : addend.pointer().address(),
                false, 0f, Float.POSITIVE_INFINITY,
                dx.pointer().address(), 0, 0, context.scratchpad().address(), backwardBlock, threads, 0, true);
    }

    /**
     * dKernel (Keras' layout) and, where not null, dBias from the input x and dy, the output gradient before the
     * activation; only where {@link #filterTile} is not 0.
     */
    void backwardFilter(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        Winograd.filterGradient(x.pointer().address(), spec.batch(), spec.inH(), spec.inW(), spec.inC(),
                spec.padTop(), spec.padLeft(), dy.pointer().address(), spec.outH(), spec.outW(), spec.filters(),
                filterTile, dKernel.pointer().address(), dBias == null ? 0 : dBias.pointer().address(),
                context.scratchpad().address(), threads);
    }

    /**
     * The filter gradient (as {@link #backwardFilter}) and dx (as {@link #backwardData}, plus addend where not null,
     * then gated by the ReLU output gate where that is not null either) in one pass of the kernel, where both
     * directions take the same tile and the kernel takes them together ({@link Winograd#backwardTakes}: dx and dy tile
     * alike, few enough channels, enough tiles); returns false, having done nothing, where it doesn't: run the two
     * calls.
     */
    boolean backward(CpuTensor x, CpuTensor dy, CpuTensor kernel, CpuTensor dKernel, CpuTensor dBias,
                     CpuTensor addend, CpuTensor gate, CpuTensor dx) {
        if (!oneBackwardPass) {
            return false;
        }
        Winograd.prepareTransposed(kernel.pointer().address(), spec.inC(), spec.filters(), backwardTile,
                backwardKernel.pointer().address(), threads);
        return Winograd.backward(x.pointer().address(), spec.batch(), spec.inH(), spec.inW(), spec.inC(),
                spec.padTop(), spec.padLeft(), dy.pointer().address(), spec.outH(), spec.outW(), spec.filters(),
                filterTile, backwardKernel.pointer().address(), backward.padTop(), backward.padLeft(),
                addend == null ? 0 : addend.pointer().address(),
                addend == null || gate == null ? 0 : gate.pointer().address(), dx.pointer().address(),
                dKernel.pointer().address(), dBias == null ? 0 : dBias.pointer().address(),
                context.scratchpad().address(), backwardBlock, threads);
    }

    /** -Dosprey.cpu.fuseConvBackward=false runs a convolution's backward directions as two passes, to compare. */
    static final boolean FUSE_BACKWARD =
            Boolean.parseBoolean(System.getProperty("osprey.cpu.fuseConvBackward", "true"));

    @Override
    public void close() {
        if (forwardKernel != null) {
            forwardKernel.close();
        }
        if (backwardKernel != null) {
            backwardKernel.close();
        }
    }
}
