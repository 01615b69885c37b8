package dev.osprey;

/** Batches gathered from in-memory arrays: x (N, ...) and labels y (N) or (N, classes). */
public final class ArrayBatchSource implements BatchSource {
    private final NDArray x;
    private final NDArray y;
    private int[] order = new int[0];
    private float[] xBuffer = new float[0];
    private float[] yBuffer = new float[0];
    private int[] sampleBuffer = new int[0];
    private int batchSize;
    private int position;

    /** Batches of x's rows with the matching rows of y (neither copied); throws unless both have as many rows. */
    public ArrayBatchSource(NDArray x, NDArray y) {
        if (x.rows() != y.rows()) {
            throw new IllegalArgumentException("expected as many labels as samples (" + x.rows() + "), received " + y.rows());
        }
        this.x = x;
        this.y = y;
    }

    /** The samples, (N, sample shape...). */
    public NDArray samples() {
        return x;
    }

    /** The labels, (N) or (N, classes). */
    public NDArray labels() {
        return y;
    }

    @Override
    public int size() {
        return x.rows();
    }

    @Override
    public Shape sampleShape() {
        return x.sampleShape();
    }

    @Override
    public int labelRowSize() {
        return y.rowSize();
    }

    @Override
    public void startEpoch(int epoch, int batchSize, boolean shuffle, long seed) {
        this.batchSize = batchSize;
        this.position = 0;
        this.order = BatchSource.epochOrder(x.rows(), shuffle, seed, epoch);
        if (xBuffer.length < batchSize * x.rowSize()) {
            xBuffer = new float[batchSize * x.rowSize()];
            yBuffer = new float[batchSize * y.rowSize()];
        }
        if (sampleBuffer.length < batchSize) {
            sampleBuffer = new int[batchSize];
        }
    }

    @Override
    public Batch next() {
        if (position >= order.length) { // also before the first epoch
            return null;
        }
        int count = Math.min(batchSize, order.length - position);
        int xs = x.rowSize(), ys = y.rowSize();
        for (int i = 0; i < count; i++) {
            int row = order[position + i];
            System.arraycopy(x.data(), row * xs, xBuffer, i * xs, xs);
            System.arraycopy(y.data(), row * ys, yBuffer, i * ys, ys);
        }
        System.arraycopy(order, position, sampleBuffer, 0, count);
        position += count;
        return new Batch(xBuffer, yBuffer, count, sampleBuffer);
    }

    @Override
    public void skip(int batches) {
        position = (int) Math.min(order.length, position + (long) Math.max(batches, 0) * batchSize);
    }

    @Override
    public double waitSeconds() {
        return 0;
    }
}
