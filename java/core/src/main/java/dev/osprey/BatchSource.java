package dev.osprey;

/**
 * Where fit gets its batches: in-memory arrays, or an image pipeline that decodes and augments on worker threads.
 * Batches come in a fixed order per epoch (seeded), so a run repeats exactly.
 */
public interface BatchSource extends AutoCloseable {
    /** One batch: count samples of x (row-major, batch first) and their labels (rows of labelRowSize floats). */
    record Batch(float[] x, float[] labels, int count) {
    }

    /** Samples per epoch. */
    int size();

    /** The shape of one sample, e.g. (28, 28, 1). */
    Shape sampleShape();

    /** Floats per label row: 1 for class numbers, the class count for one-hot rows. */
    int labelRowSize();

    /** Starts an epoch: batches of at most batchSize, shuffled by the seed when shuffle is on. */
    void startEpoch(int epoch, int batchSize, boolean shuffle, long seed);

    /** The next batch of the epoch, or null at its end. Valid until the next call. */
    Batch next();

    /** Seconds the caller spent blocked in {@link #next} this epoch, waiting for data. */
    double waitSeconds();

    @Override
    default void close() {
    }

    /** The sample order of an epoch: 0..n-1, shuffled by (seed, epoch) when asked. Every source uses this one. */
    static int[] epochOrder(int n, boolean shuffle, long seed, int epoch) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            shuffle(order, new java.util.SplittableRandom(seed * 7919 + epoch));
        }
        return order;
    }

    /** Fisher-Yates. */
    static void shuffle(int[] a, java.util.SplittableRandom random) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
}
