package dev.osprey.testing;

/**
 * For fuzz tests: an input that takes seconds to refuse is a denial-of-service finding (OpenCV once spent 11 s on a
 * 427-byte PNG), but libFuzzer only reports hangs past 20 minutes. The first input of a JVM is exempt: it pays for
 * loading (and, under Jazzer, instrumenting) the native libraries' classes.
 */
public final class SlowInputs {
    private static final long LIMIT_NANOS = 2_000_000_000L;
    private static boolean first = true;

    private SlowInputs() {
    }

    public static synchronized void check(long startNanos) {
        long took = System.nanoTime() - startNanos;
        if (first) {
            first = false;
            return;
        }
        if (took > LIMIT_NANOS) {
            throw new AssertionError("an input took " + took / 1_000_000 + " ms (limit " + LIMIT_NANOS / 1_000_000
                    + " ms): a slow input is a denial of service");
        }
    }
}
