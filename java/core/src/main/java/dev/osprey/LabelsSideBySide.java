package dev.osprey;

import java.util.List;

/**
 * {@link BatchSource#labelsSideBySide}: a source's batches with each sample's label row followed by the same sample's
 * rows of further label arrays, one per further model output, as fit takes the labels of a model of several outputs.
 * Samples are passed through as they are. It owns the source: closing it closes that one.
 */
public final class LabelsSideBySide implements BatchSource {
    private final BatchSource first;
    private final List<NDArray> more;
    private final int labelRowSize;
    private float[] labels = new float[0];

    LabelsSideBySide(BatchSource first, List<NDArray> more) { // more: may hold nulls (refused below)
        if (first == null) {
            throw new IllegalArgumentException("labelsSideBySide: expected a source for the first output's labels, "
                    + "received null");
        }
        if (more.isEmpty()) {
            throw new IllegalArgumentException("labelsSideBySide: expected at least one label array for a further "
                    + "output, received none");
        }
        long size = first.labelRowSize();
        for (int i = 0; i < more.size(); i++) {
            NDArray a = more.get(i);
            if (a == null || a.rows() != first.size()) {
                throw new IllegalArgumentException("labelsSideBySide: expected the labels of output " + (i + 2)
                        + " to hold a row for each of the source's " + first.size() + " samples, received "
                        + (a == null ? "null" : a.shapeString()));
            }
            size += a.rowSize();
        }
        this.first = first;
        this.more = List.copyOf(more);
        this.labelRowSize = Math.toIntExact(size);
    }

    /** The source of the samples and of the first output's labels. */
    BatchSource first() {
        return first;
    }

    /** The label arrays of the outputs after the first, in order. */
    public List<NDArray> arrays() {
        return more;
    }

    @Override
    public int size() {
        return first.size();
    }

    @Override
    public Shape sampleShape() {
        return first.sampleShape();
    }

    /** Every output's label values side by side: the source's, then each array's. */
    @Override
    public int labelRowSize() {
        return labelRowSize;
    }

    @Override
    public void startEpoch(int epoch, int batchSize, boolean shuffle, long seed) {
        first.startEpoch(epoch, batchSize, shuffle, seed);
    }

    @Override
    public Batch next() {
        Batch b = first.next();
        if (b == null) {
            return null;
        }
        int[] samples = b.samples();
        if (samples == null || samples.length < b.count()) {
            throw new IllegalStateException("labelsSideBySide: expected the source's batch to name its " + b.count()
                    + " samples (Batch.samples), so that the other outputs' labels can be matched to them, received "
                    + (samples == null ? "none" : samples.length));
        }
        if (labels.length < (long) b.count() * labelRowSize) {
            labels = new float[Math.multiplyExact(b.count(), labelRowSize)];
        }
        int firstSize = first.labelRowSize();
        for (int i = 0; i < b.count(); i++) {
            int at = i * labelRowSize;
            System.arraycopy(b.labels(), i * firstSize, labels, at, firstSize);
            at += firstSize;
            if (samples[i] < 0 || samples[i] >= first.size()) {
                throw new IllegalStateException("labelsSideBySide: expected sample indices from 0 to "
                        + (first.size() - 1) + " in the source's batch, received " + samples[i]);
            }
            for (NDArray a : more) {
                int size = a.rowSize();
                System.arraycopy(a.data(), samples[i] * size, labels, at, size);
                at += size;
            }
        }
        return new Batch(b.x(), labels, b.count(), samples);
    }

    @Override
    public double waitSeconds() {
        return first.waitSeconds();
    }

    @Override
    public void close() {
        first.close();
    }
}
