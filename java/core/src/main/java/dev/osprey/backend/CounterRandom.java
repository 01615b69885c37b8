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

    /** Element index of seed's stream: a uniform in [0, 1) (SplitMix64's finaliser; native/dropout.cu's too). */
    public static float uniform(long seed, long index) {
        long z = seed + (index + 1) * GOLDEN;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 40) * 0x1.0p-24f;
    }

    /**
     * Inverted dropout of whole rows (stochastic depth): keeps[r] = 1 / (1 - rate) where the draw at element
     * r * stride is at least rate, else 0. That is the draw a dropout over (rows, stride) values takes for each row's
     * first value, so rows split across devices draw what one device draws (each replica's seed skipped by its first
     * row times stride, as for dropout).
     */
    public static void rowKeeps(float rate, long seed, long stride, float[] keeps) {
        float keepScale = 1f / (1f - rate);
        for (int r = 0; r < keeps.length; r++) {
            keeps[r] = uniform(seed, r * stride) >= rate ? keepScale : 0f;
        }
    }
}
