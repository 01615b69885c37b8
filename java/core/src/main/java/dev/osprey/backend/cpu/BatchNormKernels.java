package dev.osprey.backend.cpu;

import dev.osprey.backend.BatchNormSpec;

/**
 * Batch normalization for one {@link BatchNormSpec} in Osprey's own kernels ({@code native/cpu/batch_norm.c}), NHWC:
 * the training forward, the inference forward and the backward, each with the spec's ReLU fused, capped or not. They
 * follow the CUDA backend's algorithm, so both backends round alike, and take the ReLU's gradient from the output or,
 * where the 512-bit loops run, from a bit per element the forward keeps in the workspace. oneDNN's batch normalization
 * fuses only an uncapped ReLU: MobileNetV2's ReLU6 after it cost two more passes over every activation each way; with
 * these kernels its training steps ran 1.12x (batch 64) and 1.41x (batch 128) faster
 * (benchmarks/results/batch-norm-auto-2026-12-04T2028Z.md, medians of 4 interleaved rounds). Where oneDNN fuses all
 * there is (a plain ReLU), these kernels read y twice in the backward where oneDNN reads a bit mask, and ResNet-20's
 * steps ran level (batch-norm-kernels-2026-12-04T2017Z.md); with the gate in bits they run here by default where the
 * 512-bit loops do (benchmarks/results/batch-norm-gate-bits-2026-12-05.md). {@code -Dosprey.cpu.batchNorm=auto} is
 * that default (a capped ReLU, or a plain one with the gate in bits; oneDNN keeps the rest); {@code osprey} runs every
 * batch normalization here; {@code onednn} runs all through oneDNN, a capped ReLU as a clip of its own, as happens
 * without {@link NativeCpu}'s library.
 *
 * <p>Where the channels come in sixteens and the processor has AVX-512F the kernels take loops written out in 512-bit
 * vectors, their sums in registers (the compiler's loops, which {@code -Dosprey.cpu.wideVectors=false} keeps to
 * compare, loaded and stored them every row): the same bits, in 0.43x-0.86x the time with the data in cache and
 * 0.52x-0.98x with it coming from memory
 * (benchmarks/results/batch-norm-wide-2026-12-05.md).
 */
final class BatchNormKernels implements AutoCloseable {
    /** The system property that picks the implementation (see {@link Choice}). */
    static final String PROPERTY = "osprey.cpu.batchNorm";
    /** Elements per thread below which the kernels run on fewer threads than the team (a parallel region's cost). */
    private static final long ELEMENTS_PER_THREAD = 16_384;

    /** Which batch normalizations run here rather than through oneDNN. */
    enum Choice {
        /**
         * Those with a capped ReLU fused (oneDNN fuses only an uncapped one), and those with a plain ReLU where the
         * 512-bit loops run (their backward reads the forward's gate bits, as oneDNN's reads its mask).
         */
        AUTO,
        /** All. */
        OSPREY,
        /** None. */
        ONEDNN;

        /** Whether this choice runs the spec here, where the kernels can run; wide: as the kernels are made. */
        boolean runsHere(BatchNormSpec spec, boolean wide) {
            return this == OSPREY || this == AUTO && (spec.capped() || gatesInBits(spec, wide));
        }
    }

    private final DnnlContext context;
    private final BatchNormSpec spec;
    private final int threads;
    /** Whether the 512-bit loops may run (see the class comment): the backend's -Dosprey.cpu.wideVectors. */
    private final boolean wide;

    BatchNormKernels(DnnlContext context, BatchNormSpec spec, boolean wide) {
        this.context = context;
        this.spec = spec;
        long elements = (long) spec.rows() * spec.channels();
        this.threads = (int) Math.max(1, Math.min(OpenMpTeam.current(), elements / ELEMENTS_PER_THREAD));
        this.wide = wide;
        context.reserveScratchpad(coefficientBytes() + scratchBytes(spec.channels(), threads));
    }

    /**
     * The choice {@code -Dosprey.cpu.batchNorm} makes ({@code auto} where unset), {@link Choice#ONEDNN} where the
     * library is not loaded. Throws IllegalArgumentException for a value other than auto, osprey or onednn.
     */
    static Choice choice() {
        String value = System.getProperty(PROPERTY, "auto");
        Choice choice = switch (value) {
            case "auto" -> Choice.AUTO;
            case "osprey" -> Choice.OSPREY;
            case "onednn" -> Choice.ONEDNN;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + ": expected auto, osprey or onednn, "
                    + "received '" + value + "'");
        };
        return NativeCpu.unavailableReason() == null ? choice : Choice.ONEDNN;
    }

    /**
     * Floats of workspace the training forward fills with the ReLU's gate for the backward: one bit an element where
     * the spec fuses a ReLU and the 512-bit loops run (the backward then reads those bits instead of y, 1/32 of its
     * bytes), else 0 (the backward reads y).
     */
    long workspaceFloats() {
        return (gateBitsBytes(spec.rows(), spec.channels(), spec.relu(), wide) + Float.BYTES - 1) / Float.BYTES;
    }

    /** workspace: {@link #workspaceFloats} floats, or null where that is 0. */
    void forwardTraining(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor y, CpuTensor mean,
                         CpuTensor variance, CpuTensor workspace) {
        forward(x, null, gamma, beta, y, mean, variance, workspace);
    }

    /** The forward adding residual to the normalization before the spec's ReLU (no workspace: see the backend). */
    void forwardTrainingAdding(CpuTensor x, CpuTensor residual, CpuTensor gamma, CpuTensor beta, CpuTensor y,
                               CpuTensor mean, CpuTensor variance) {
        forward(x, residual, gamma, beta, y, mean, variance, null);
    }

    private void forward(CpuTensor x, CpuTensor residual, CpuTensor gamma, CpuTensor beta, CpuTensor y,
                         CpuTensor mean, CpuTensor variance, CpuTensor workspace) {
        long scratch = context.scratchpad().address();
        forward(x.pointer().address(), residual == null ? 0 : residual.pointer().address(), spec.rows(),
                spec.channels(), gamma.pointer().address(),
                beta.pointer().address(), spec.epsilon(), spec.relu(), spec.reluCap(), y.pointer().address(),
                workspace == null ? 0 : workspace.pointer().address(), mean.pointer().address(),
                variance.pointer().address(), scratch, scratch + coefficientBytes(), threads, wide);
    }

    void forwardInference(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor mean, CpuTensor variance,
                          CpuTensor y) {
        inference(x.pointer().address(), spec.rows(), spec.channels(), gamma.pointer().address(),
                beta.pointer().address(), mean.pointer().address(), variance.pointer().address(), spec.epsilon(),
                spec.relu(), spec.reluCap(), y.pointer().address(), context.scratchpad().address(), threads, wide);
    }

    /**
     * Where a ReLU was fused, dy is masked by its gate: the workspace's bits the forward stored, where it has them
     * ({@link #workspaceFloats} not 0), else y, the forward's output.
     */
    void backward(CpuTensor x, CpuTensor y, CpuTensor workspace, CpuTensor dy, CpuTensor gamma, CpuTensor mean,
                  CpuTensor variance, CpuTensor dx, CpuTensor dGamma, CpuTensor dBeta) {
        long scratch = context.scratchpad().address();
        backward(x.pointer().address(), y.pointer().address(), workspace == null ? 0 : workspace.pointer().address(),
                dy.pointer().address(), spec.rows(), spec.channels(),
                gamma.pointer().address(), mean.pointer().address(), variance.pointer().address(), spec.epsilon(),
                spec.relu(), spec.reluCap(), dx.pointer().address(), dGamma.pointer().address(),
                dBeta.pointer().address(), scratch, scratch + coefficientBytes(), threads, wide);
    }

    /** Holds nothing native of its own: its scratch is the context's scratchpad. */
    @Override
    public void close() {
    }

    /** Room for three per-channel coefficients, in whole 64-byte lines. */
    private long coefficientBytes() {
        return ((3L * spec.channels() * Float.BYTES) + 63) / 64 * 64;
    }

    private static native long scratchBytes(int channels, int threads);

    private static native long gateBitsBytes(long rows, int channels, boolean relu, boolean wide);

    /**
     * Whether kernels made with wide keep a ReLU's gate for spec in bits (the spec fuses a ReLU and the 512-bit loops
     * run); false where the library is not loaded.
     */
    static boolean gatesInBits(BatchNormSpec spec, boolean wide) {
        return NativeCpu.unavailableReason() == null && spec.relu() && wideRows(spec.channels(), wide);
    }

    /** Whether the 512-bit loops run for this many channels where wide allows them (the choice, and tests). */
    static native boolean wideRows(int channels, boolean wide);

    private static native void forward(long x, long residual, long rows, int channels, long gamma, long beta,
                                       float epsilon, boolean relu, float cap, long y, long bits, long mean,
                                       long variance, long coefficients, long scratch, int threads, boolean wide);

    private static native void inference(long x, long rows, int channels, long gamma, long beta, long mean,
                                         long variance, float epsilon, boolean relu, float cap, long y,
                                         long coefficients, int threads, boolean wide);

    private static native void backward(long x, long y, long bits, long dy, long rows, int channels, long gamma,
                                        long mean, long variance, float epsilon, boolean relu, float cap, long dx,
                                        long dGamma, long dBeta, long coefficients, long scratch, int threads,
                                        boolean wide);
}
