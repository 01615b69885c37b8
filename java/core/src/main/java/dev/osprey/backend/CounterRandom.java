package dev.osprey.backend;

/**
 * The counter-based generator behind dropout on every backend (HostOps.uniform, native/dropout.cu): element i of a
 * stream keyed by seed draws mix(seed + (i + 1) * GOLDEN). Since the key and the counter only add, a stream started
 * at element k is the stream of another seed: {@link #skip}. That is how a replica holding rows r.. of a batch split
 * across devices draws the very numbers one device drawing the whole batch would for those rows.
 */
public final class CounterRandom {
    /** The counter's step, 2^64 divided by the golden ratio (as in SplitMix64). */
    public static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private CounterRandom() {
    }

    /** The seed whose stream starts where seed's stream is after {@code elements} draws. */
    public static long skip(long seed, long elements) {
        return seed + elements * GOLDEN;
    }
}
