package dev.osprey.backend.cpu;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import org.slf4j.LoggerFactory;

/**
 * How many OpenMP threads oneDNN uses for the primitives made and run on the calling thread.
 *
 * <p>oneDNN (OpenMP runtime) sizes a primitive's work for {@code omp_get_max_threads()} when it is made, and runs it on
 * that many threads; that value is a setting of each thread, which {@code omp_set_num_threads} changes. A primitive
 * must run with the thread count it was made for (its scratchpad and work split are sized for it). So: a plan is made
 * inside {@link #sized}, every {@link Step} records the size current when it is made ({@link #current}) and runs under
 * it, setting and restoring the calling thread's value around the primitive only where it differs.
 *
 * <p>Small primitives run faster on fewer threads: at batch 1 a 2-thread fork and join can cost more than the tutorial
 * CNN's first convolution does on one thread ({@link TeamSize} decides). The setting needs {@link NativeCpu}'s library,
 * built from {@code native/cpu} with the jar on Linux; without it every primitive uses the whole team, as before, and
 * {@link #unavailableReason} says why. A virtual thread (JDK 21, with -Dosprey.cpu.deviceThread=false) makes its plans
 * for the whole team: it may change carriers, whose setting it is, while it makes them.
 */
final class OpenMpTeam {
    /** Thread.isVirtual() where the JDK has it (21 and later); null on older ones, which have no virtual threads. */
    private static final MethodHandle IS_VIRTUAL = isVirtualHandle();
    private static final String UNAVAILABLE = load();
    private static final int DEFAULT_SIZE = UNAVAILABLE == null ? maxThreads() : Math.max(1, CpuBackend.threads());
    /**
     * Per thread, the size its primitives are being made for now (element 0, set in place): at first OpenMP's own
     * setting for that thread, read once (an embedding program may have set one).
     */
    private static final ThreadLocal<int[]> CURRENT =
            ThreadLocal.withInitial(() -> new int[] {UNAVAILABLE == null ? maxThreads() : DEFAULT_SIZE});
    /** How many primitive runs have switched their thread's team (see {@link #enter}); read by tests. */
    static final LongAdder SWITCHES = new LongAdder();

    private OpenMpTeam() {
    }

    /** Null when the team size can be set per primitive; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** The team a primitive gets unless it is made inside {@link #sized}: OMP_NUM_THREADS, else every core. */
    static int defaultSize() {
        return DEFAULT_SIZE;
    }

    /** The team size the primitives made now on this thread are sized for. */
    static int current() {
        return UNAVAILABLE != null ? DEFAULT_SIZE : CURRENT.get()[0];
    }

    /**
     * Makes something (a plan, with its primitives and steps) with the calling thread's team set to {@code threads},
     * then restores it. Does nothing special where the size can't be set, on a virtual thread, or where
     * {@code threads} is the current size.
     */
    static <T> T sized(int threads, Supplier<T> make) {
        if (threads < 1) {
            throw new IllegalArgumentException("expected a team of at least 1 thread, received " + threads);
        }
        if (UNAVAILABLE != null || isVirtual(Thread.currentThread())) {
            return make.get();
        }
        int[] current = CURRENT.get();
        int outer = current[0];
        if (threads == outer) {
            return make.get();
        }
        setMaxThreads(threads);
        current[0] = threads;
        try {
            return make.get();
        } finally {
            current[0] = outer;
            setMaxThreads(outer);
        }
    }

    /**
     * Sets the calling thread's team to {@code threads} (the size {@link #current} gave when the primitive about to run
     * was made) and returns the size to restore with {@link #leave} after it, or 0 where nothing changed.
     */
    static int enter(int threads) {
        int outer = current();
        if (threads == outer) {
            return 0;
        }
        setMaxThreads(threads);
        SWITCHES.increment();
        return outer;
    }

    /** Restores what {@link #enter} changed: {@code restore} is its result. */
    static void leave(int restore) {
        if (restore != 0) {
            setMaxThreads(restore);
        }
    }

    /** OpenMP's team size for the calling thread as OpenMP itself reports it (for tests); needs the library. */
    static int maxThreadsNow() {
        if (UNAVAILABLE != null) {
            throw new IllegalStateException("the team size can't be read: " + UNAVAILABLE);
        }
        return maxThreads();
    }

    private static String load() {
        String reason = NativeCpu.unavailableReason();
        if (reason != null) {
            return reason;
        }
        try {
            maxThreads();
            return null;
        } catch (LinkageError e) {
            reason = NativeCpu.LIBRARY + " lacks the OpenMP team functions: " + e;
            LoggerFactory.getLogger(OpenMpTeam.class).warn("small oneDNN primitives will use every OpenMP thread: {}",
                    reason);
            return reason;
        }
    }

    private static MethodHandle isVirtualHandle() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual",
                    MethodType.methodType(boolean.class));
        } catch (NoSuchMethodException | IllegalAccessException e) {
            return null;
        }
    }

    private static boolean isVirtual(Thread thread) {
        if (IS_VIRTUAL == null) {
            return false;
        }
        try {
            return (boolean) IS_VIRTUAL.invokeExact(thread);
        } catch (Throwable e) {
            throw new IllegalStateException("Thread.isVirtual failed", e);
        }
    }

    private static native void setMaxThreads(int threads);

    private static native int maxThreads();
}
