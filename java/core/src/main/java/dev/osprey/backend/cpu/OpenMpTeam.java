package dev.osprey.backend.cpu;

import java.io.File;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Loader;
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
 * <p>Small primitives run faster on fewer threads: at batch 1 a 2-thread fork and join costs more than the tutorial
 * CNN's first convolution does on one thread ({@link TeamSize} decides). The setting needs {@code libospreyopenmp.so},
 * built from {@code native/cpu} with the jar; without it (or without the libgomp oneDNN loads) every primitive uses the
 * whole team, as before, and {@link #unavailableReason} says why.
 */
final class OpenMpTeam {
    private static final String LIBRARY = "libospreyopenmp.so";
    private static final String UNAVAILABLE;
    private static final int DEFAULT_SIZE;
    /** Per thread, the size its primitives are being made for now (element 0); a one-element array, set in place. */
    private static final ThreadLocal<int[]> CURRENT;
    /** How many primitive runs have switched their thread's team (see {@link #enter}); read by tests. */
    static final java.util.concurrent.atomic.LongAdder SWITCHES = new java.util.concurrent.atomic.LongAdder();

    static {
        String reason = load();
        UNAVAILABLE = reason;
        DEFAULT_SIZE = reason == null ? maxThreads() : Math.max(1, CpuBackend.threads());
        CURRENT = ThreadLocal.withInitial(() -> new int[] {DEFAULT_SIZE});
        if (reason != null) {
            LoggerFactory.getLogger(OpenMpTeam.class).info("small oneDNN primitives will use every OpenMP thread: {}",
                    reason);
        }
    }

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
     * then restores it. Does nothing special where the size can't be set, or {@code threads} is the current size.
     */
    static <T> T sized(int threads, Supplier<T> make) {
        if (threads < 1) {
            throw new IllegalArgumentException("expected a team of at least 1 thread, received " + threads);
        }
        if (UNAVAILABLE != null) {
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

    private static String load() {
        String resource = Loader.getPlatform() + "/" + LIBRARY;
        if (OpenMpTeam.class.getResource(resource) == null) {
            return LIBRARY + " was not built into this jar (native/cpu/build.sh needs gcc and a JDK's jni.h)";
        }
        try {
            Loader.load(org.bytedeco.dnnl.global.dnnl.class); // loads libgomp, which bind() finds by its soname
            File file = Loader.cacheResource(OpenMpTeam.class, resource);
            System.load(file.getAbsolutePath());
            return bind();
        } catch (Exception | LinkageError e) {
            return "could not load " + LIBRARY + ": " + e;
        }
    }

    /** OpenMP's team size for the calling thread as OpenMP itself reports it (for tests); needs the library. */
    static int maxThreadsNow() {
        if (UNAVAILABLE != null) {
            throw new IllegalStateException("the team size can't be read: " + UNAVAILABLE);
        }
        return maxThreads();
    }

    /** Finds omp_set_num_threads and omp_get_max_threads in the loaded libgomp; null when found, else the reason. */
    private static native String bind();

    private static native void setMaxThreads(int threads);

    private static native int maxThreads();
}
