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
    private final RowsBySample rows;

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
        for (int i = 0; i < more.size(); i++) {
            NDArray a = more.get(i);
            if (a == null || a.rows() != first.size()) {
                throw new IllegalArgumentException("sideBySide: expected the array of input " + (i + 2) + " to hold a "
                        + "row for each of the source's " + first.size() + " samples, received "
                        + (a == null ? "null" : a.shapeString()));
            }
            shapes.add(a.sampleShape());
        }
        this.first = first;
        this.more = List.copyOf(more);
        this.parts = List.copyOf(shapes);
        this.rows = new RowsBySample("sideBySide", first.sampleShape().size(), more, first.size());
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
        return Shape.of(rows.rowSize());
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
    public void skip(int batches) {
        first.skip(batches); // the other parts are looked up by the first's samples
    }

    @Override
    public Batch next() {
        Batch b = first.next();
        if (b == null) {
            return null;
        }
        return new Batch(rows.join(b.x(), b.count(), b.samples()), b.labels(), b.count(), b.samples());
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
