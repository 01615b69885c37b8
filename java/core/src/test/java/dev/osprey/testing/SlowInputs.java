package dev.osprey.testing;

/**
 * For fuzz tests: an input that takes seconds to refuse is a denial-of-service finding (OpenCV once spent 11 s on a
 * 427-byte PNG), but libFuzzer only reports hangs past 20 minutes. The limit leaves room for a busy machine (a
 * decode takes milliseconds); fuzz tests warm their native libraries up before the first input, and the first
 * input of a JVM is exempt anyway (under Jazzer, classes are instrumented as they load).
 */
public final class SlowInputs {
    private static final long LIMIT_NANOS = 5_000_000_000L;
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
