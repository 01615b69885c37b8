package dev.osprey.backend.cpu;

import dev.osprey.backend.BackendException;
import dev.osprey.backend.OpChain;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * A chain of passes of Osprey's own kernels ({@link PointwiseConvPlan}, {@link DepthwiseConvPlan},
 * {@link WinogradConvPlan}, {@link Int8ConvPlan}), run in order in
 * one OpenMP parallel region ({@code native/cpu/op_chain.c}): a barrier between two passes where either uses more than
 * the calling thread, instead of a fork and join of the team for each. MobileNetV2 at 32x32x3 and batch 1 runs 50 of
 * its 52 convolutions here, about 30 of them on 2 threads, and a fork and join took about 1 us on this machine's
 * cores. Each pass computes exactly what it computes alone: the same sums in the same order (and, but in a
 * depth-first stretch, the same split of the work between the threads). Owns its native memory; -Dosprey.cpu.opChains=false turns chains off (each op then runs on its own).
 *
 * <p>A stretch of passes that work image by image (int8 ResNet's stem and first stage: 7 passes) runs depth first
 * ({@link #imagesFirst}): each thread takes its images two at a time through every pass of the stretch, with no
 * barrier between them, where the passes' buffers allow it (op_chain.c). Chained, ResNet-20 in int8 inferred 1.05x
 * the images/s at batch 256 with 0.95x the batch-1 latency of the same passes run one by one
 * (int8-conv-chain-2026-12-05T2112Z.md); depth first against pass after pass, 1.01x (int8-images-first-…T2109Z.md).
 *
 * <p>Between passes the threads meet at the chain's own barrier (a dissemination barrier over one cache line per
 * thread, op_chain.c): 44-53 ns against OpenMP's 184-186 between 2 vCPUs that share a last-level cache, about 260
 * against 440 between 2 that don't; {@code -Dosprey.cpu.chainBarrier=openmp} takes OpenMP's instead, to compare, as
 * does OMP_WAIT_POLICY=passive unless the property says {@code own} ({@link #openMpBarrier}).
 */
final class CpuOpChain implements OpChain {
    /** The system property that picks the barrier between passes (see {@link #openMpBarrier}). */
    static final String BARRIER_PROPERTY = "osprey.cpu.chainBarrier";
    private final CpuBackend owner;
    /** Every tensor a pass reads or writes, once each: checked open before each run (the passes keep raw addresses). */
    private final Set<CpuTensor> captured = Collections.newSetFromMap(new IdentityHashMap<>());
    private CpuTensor[] toCheck = new CpuTensor[0];
    private long handle;
    private int ops;

    private CpuOpChain(CpuBackend owner, long handle) {
        this.owner = owner;
        this.handle = handle;
    }

    /**
     * A new chain of owner's ops, or null where chains are off or the library is not loaded (each op then runs on its
     * own).
     */
    static CpuOpChain create(CpuBackend owner) {
        if (!Boolean.parseBoolean(System.getProperty("osprey.cpu.opChains", "true"))
                || NativeCpu.unavailableReason() != null) {
            return null;
        }
        long handle = create0(openMpBarrier(), imagesFirst());
        if (handle == 0) {
            throw new BackendException("out of native memory for an op chain");
        }
        return new CpuOpChain(owner, handle);
    }

    /**
     * Whether chains made now meet at OpenMP's barrier rather than their own: -Dosprey.cpu.chainBarrier is
     * {@code auto} (the default: their own, but OpenMP's where OMP_WAIT_POLICY is passive, which asks waiting threads
     * not to spin, as the test suite does on busy machines), {@code own} or {@code openmp}. Throws
     * IllegalArgumentException for any other value.
     */
    static boolean openMpBarrier() {
        String raw = System.getProperty(BARRIER_PROPERTY, "auto");
        return switch (raw.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> "passive".equalsIgnoreCase(String.valueOf(System.getenv("OMP_WAIT_POLICY")).trim());
            case "own" -> false;
            case "openmp" -> true;
            default -> throw new IllegalArgumentException("-D" + BARRIER_PROPERTY + ": expected auto, own or openmp, "
                    + "received '" + raw + "'");
        };
    }

    /** The system property that turns depth-first stretches off (see {@link #imagesFirst}). */
    static final String IMAGES_FIRST_PROPERTY = "osprey.cpu.chainImagesFirst";

    /**
     * Whether chains made now run stretches of image-wise passes ({@link Int8ConvPlan}'s) depth first: each thread
     * takes its images a few at a time through every pass of the stretch, with no barrier between the passes, so
     * that their activations stay in its caches (op_chain.c). -Dosprey.cpu.chainImagesFirst: true (the default) or
     * false (pass after pass over the whole batch, to compare); throws IllegalArgumentException for any other value.
     */
    static boolean imagesFirst() {
        return NativeCpu.switchOn(IMAGES_FIRST_PROPERTY, true);
    }

    /** The backend whose ops it chains (and whose scratchpad its runs use). */
    CpuBackend owner() {
        return owner;
    }

    /** Records the tensors of a pass just appended (null ones skipped), to check them open before each run. */
    void captured(CpuTensor... tensors) {
        boolean added = false;
        for (CpuTensor t : tensors) {
            added |= t != null && captured.add(t);
        }
        if (added) {
            toCheck = captured.toArray(new CpuTensor[0]);
        }
    }

    /** The native chain passes are appended to; throws once closed. */
    long handle() {
        if (handle == 0) {
            throw new IllegalStateException("the op chain is closed");
        }
        return handle;
    }

    /** Counts a pass a kernel appended (appended: its native append's answer), or says why it could not be. */
    void appended(boolean appended) {
        if (!appended) {
            throw new BackendException("out of native memory for an op chain of " + ops + " ops");
        }
        ops++;
    }

    @Override
    public int ops() {
        return ops;
    }

    /**
     * Runs every pass, in order; scratch: the backend's shared scratchpad now (passes that need one use it). Throws,
     * running nothing, where a tensor a pass reads or writes was freed since it was appended.
     */
    void run(long scratch) {
        long h = handle();
        for (CpuTensor t : toCheck) {
            t.pointer(); // throws IllegalStateException for a closed tensor
        }
        run(h, scratch);
    }

    @Override
    public void close() {
        if (handle != 0) {
            free(handle);
            handle = 0;
        }
    }

    private static native long create0(boolean openMpBarrier, boolean imagesFirst);

    private static native void run(long handle, long scratch);

    private static native void free(long handle);
}
