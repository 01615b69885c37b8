package dev.osprey.testing;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * For fuzz tests: an input that takes seconds to refuse is a denial-of-service finding (OpenCV once spent 11 s on a
 * 427-byte PNG), but libFuzzer only reports hangs past 20 minutes. Measured in the calling thread's CPU time, so a
 * busy machine doesn't make a quick input look slow (decoding runs on the caller's thread, native code included).
 * Fuzz tests warm their native libraries up before the first input, and the first input of a JVM is exempt anyway
 * (under Jazzer, classes are instrumented as they load).
 */
public final class SlowInputs {
    private static final long LIMIT_NANOS = 2_000_000_000L;
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static boolean first = true;

    private SlowInputs() {
    }

    /** The calling thread's CPU time now, to pass to {@link #check}. */
    public static long start() {
        return THREADS.getCurrentThreadCpuTime();
    }

    /** Fails when the calling thread has spent more than 2 s of CPU since {@code start}. */
    public static synchronized void check(long start) {
        long took = THREADS.getCurrentThreadCpuTime() - start;
        if (first) {
            first = false;
            return;
        }
        if (took > LIMIT_NANOS) {
            throw new AssertionError("an input took " + took / 1_000_000 + " ms of CPU (limit " + LIMIT_NANOS / 1_000_000
                    + " ms): a slow input is a denial of service");
        }
    }
}
