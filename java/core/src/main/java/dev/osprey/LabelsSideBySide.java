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
    private final RowsBySample labels;

    LabelsSideBySide(BatchSource first, List<NDArray> more) { // more: may hold nulls (refused below)
        if (first == null) {
            throw new IllegalArgumentException("labelsSideBySide: expected a source for the first output's labels, "
                    + "received null");
        }
        if (more.isEmpty()) {
            throw new IllegalArgumentException("labelsSideBySide: expected at least one label array for a further "
                    + "output, received none");
        }
        for (int i = 0; i < more.size(); i++) {
            NDArray a = more.get(i);
            if (a == null || a.rows() != first.size()) {
                throw new IllegalArgumentException("labelsSideBySide: expected the labels of output " + (i + 2)
                        + " to hold a row for each of the source's " + first.size() + " samples, received "
                        + (a == null ? "null" : a.shapeString()));
            }
        }
        this.first = first;
        this.more = List.copyOf(more);
        this.labels = new RowsBySample("labelsSideBySide", first.labelRowSize(), more, first.size());
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
        return labels.rowSize();
    }

    @Override
    public void startEpoch(int epoch, int batchSize, boolean shuffle, long seed) {
        first.startEpoch(epoch, batchSize, shuffle, seed);
    }

    @Override
    public void skip(int batches) {
        first.skip(batches); // the other parts are looked up by the first's samples
    }

    @Override
    public Batch next() {
        Batch b = first.next();
        if (b == null) {
            return null;
        }
        return new Batch(b.x(), labels.join(b.labels(), b.count(), b.samples()), b.count(), b.samples());
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
