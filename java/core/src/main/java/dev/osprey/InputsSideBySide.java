package dev.osprey;

import java.util.ArrayList;
import java.util.List;

/**
 * {@link BatchSource#sideBySide}: a source's samples with the same samples' rows of further arrays, each row the
 * model's inputs side by side (the first source's sample, then each array's row), as the engine trains on them.
 * It owns the first source: closing it closes that one.
 */
public final class InputsSideBySide implements BatchSource {
    private final BatchSource first;
    private final List<NDArray> more;
    private final List<Shape> parts;
    private final int rowSize;
    private float[] rows = new float[0];

    InputsSideBySide(BatchSource first, List<NDArray> more) { // more: may hold nulls (refused below)
        if (first == null) {
            throw new IllegalArgumentException("sideBySide: expected a source for the first input, received null");
        }
        if (more.isEmpty()) {
            throw new IllegalArgumentException("sideBySide: expected at least one array for a further input, "
                    + "received none");
        }
        List<Shape> shapes = new ArrayList<>();
        shapes.add(first.sampleShape());
        long size = first.sampleShape().size();
        for (int i = 0; i < more.size(); i++) {
            NDArray a = more.get(i);
            if (a == null || a.rows() != first.size()) {
                throw new IllegalArgumentException("sideBySide: expected the array of input " + (i + 2) + " to hold a "
                        + "row for each of the source's " + first.size() + " samples, received "
                        + (a == null ? "null" : a.shapeString()));
            }
            shapes.add(a.sampleShape());
            size += a.rowSize();
        }
        this.first = first;
        this.more = List.copyOf(more);
        this.parts = List.copyOf(shapes);
        this.rowSize = Math.toIntExact(size);
    }

    /** The source of the first input's rows and of the labels. */
    BatchSource first() {
        return first;
    }

    /** The arrays of the inputs after the first, in order. */
    List<NDArray> arrays() {
        return more;
    }

    /** One sample's shape per model input: the first source's, then each array's. */
    public List<Shape> partShapes() {
        return parts;
    }

    @Override
    public int size() {
        return first.size();
    }

    /** The values of one row, the parts side by side: (sum of the parts' sizes). */
    @Override
    public Shape sampleShape() {
        return Shape.of(rowSize);
    }

    @Override
    public int labelRowSize() {
        return first.labelRowSize();
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
        if (samples == null) {
            throw new IllegalStateException("sideBySide: the first source's batches do not say which samples they "
                    + "hold (Batch.samples), so the other inputs' rows can't be matched to them");
        }
        if (samples.length < b.count()) {
            throw new IllegalStateException("sideBySide: expected the first source's batch to name its " + b.count()
                    + " samples, received " + samples.length);
        }
        if (rows.length < (long) b.count() * rowSize) {
            rows = new float[Math.multiplyExact(b.count(), rowSize)];
        }
        int firstSize = parts.get(0).size();
        for (int i = 0; i < b.count(); i++) {
            int at = i * rowSize;
            System.arraycopy(b.x(), i * firstSize, rows, at, firstSize);
            at += firstSize;
            if (samples[i] < 0 || samples[i] >= first.size()) {
                throw new IllegalStateException("sideBySide: expected sample indices from 0 to " + (first.size() - 1)
                        + " in the first source's batch, received " + samples[i]);
            }
            for (NDArray a : more) {
                int size = a.rowSize();
                System.arraycopy(a.data(), samples[i] * size, rows, at, size);
                at += size;
            }
        }
        return new Batch(rows, b.labels(), b.count(), samples);
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
