package dev.osprey;

/**
 * Where fit gets its batches: in-memory arrays, or an image pipeline that decodes and augments on worker threads.
 * Batches come in a fixed order per epoch (seeded), so a run repeats exactly.
 */
public interface BatchSource extends AutoCloseable {
    /**
     * One batch: count samples of x (row-major, batch first), their labels (rows of labelRowSize floats), and which
     * samples of the source they are (the first count entries: each row's index, 0 to size() - 1; null where a source
     * does not say), which lets {@link #sideBySide} add other inputs' rows of the same samples. Like x and labels, the
     * array is valid until the next call (sources reuse it).
     */
    record Batch(float[] x, float[] labels, int count, int[] samples) {
        /** A batch that does not say which samples it holds. */
        public Batch(float[] x, float[] labels, int count) {
            this(x, labels, count, null);
        }
    }

    /**
     * Batches for a model of several inputs: each sample of {@code first} (an image pipeline, say) with the same
     * sample's rows of {@code more} (one array per further input, in the model's input order, row i for sample i)
     * side by side, as {@link Model#fit(BatchSource, BatchSource, FitOptions)} takes them for such a model. first's
     * batches must say which samples they hold ({@link Batch#samples}), as Osprey's sources do. The source returned
     * owns first: closing it closes first.
     */
    static BatchSource sideBySide(BatchSource first, NDArray... more) {
        return new InputsSideBySide(first, java.util.Arrays.asList(more));
    }

    /**
     * Batches for a model of several outputs: each sample of {@code first} with its label row (the first output's
     * labels) followed by the same sample's rows of {@code more} (one label array per further output, in the model's
     * output order, row i for sample i), as {@link Model#fit(BatchSource, BatchSource, FitOptions)} takes them for
     * such a model. Wrap a {@link #sideBySide} source for a model of several inputs and outputs. first's batches must
     * say which samples they hold ({@link Batch#samples}), as Osprey's sources do. The source returned owns first.
     */
    static BatchSource labelsSideBySide(BatchSource first, NDArray... more) {
        return new LabelsSideBySide(first, java.util.Arrays.asList(more));
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

    /**
     * Passes over the epoch's next batches (at most to its end), so that the next call of {@link #next} gives the batch
     * after them, as it would have had they been read. The default reads and drops them, which keeps a source that draws
     * random augmentation per batch in step; a source that can jump, jumps.
     */
    default void skip(int batches) {
        for (int i = 0; i < batches && next() != null; i++) {
            // read and dropped
        }
    }

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
