package dev.osprey;

import java.util.List;

/**
 * What {@link InputsSideBySide} and {@link LabelsSideBySide} share: each row of a batch followed by the same samples'
 * rows of further arrays, found by the sample indices the batch names. Keeps its output array, which grows to the
 * largest batch and is handed out until the next call.
 */
final class RowsBySample {
    private final String what;        // the source's name in messages
    private final List<NDArray> more; // row i of each for sample i
    private final int firstSize;      // values of each batch row before them
    private final int rowSize;        // values of a joined row
    private final int samples;        // the source's samples, for the index check
    private float[] rows = new float[0];

    RowsBySample(String what, int firstSize, List<NDArray> more, int samples) {
        long size = firstSize;
        for (NDArray a : more) {
            size += a.rowSize();
        }
        this.what = what;
        this.more = List.copyOf(more);
        this.firstSize = firstSize;
        this.rowSize = Math.toIntExact(size);
        this.samples = samples;
    }

    /** Values of a joined row. */
    int rowSize() {
        return rowSize;
    }

    /**
     * The count rows of first (firstSize values each) of the samples named by indices, each followed by those samples'
     * rows of the further arrays. Valid until the next call.
     */
    float[] join(float[] first, int count, int[] indices) {
        if (indices == null || indices.length < count) {
            throw new IllegalStateException(what + ": expected the source's batch to name its " + count + " samples "
                    + "(Batch.samples), so that the other arrays' rows can be matched to them, received "
                    + (indices == null ? "none" : indices.length));
        }
        if (rows.length < (long) count * rowSize) {
            rows = new float[Math.multiplyExact(count, rowSize)];
        }
        for (int i = 0; i < count; i++) {
            int at = i * rowSize;
            System.arraycopy(first, i * firstSize, rows, at, firstSize);
            at += firstSize;
            if (indices[i] < 0 || indices[i] >= samples) {
                throw new IllegalStateException(what + ": expected sample indices from 0 to " + (samples - 1)
                        + " in the source's batch, received " + indices[i]);
            }
            for (NDArray a : more) {
                int size = a.rowSize();
                System.arraycopy(a.data(), indices[i] * size, rows, at, size);
                at += size;
            }
        }
        return rows;
    }
}
