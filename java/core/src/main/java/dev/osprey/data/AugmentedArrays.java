package dev.osprey.data;

import dev.osprey.BatchSource;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.data.images.Augmentation;

/**
 * Batches of in-memory images (N, H, W, C) with random flips and whole-pixel shifts, drawn afresh for every image of
 * every epoch from the seed (the draws of {@link Augmentation}), so a run repeats. Uncovered pixels are filled per the
 * augmentation's fill mode (constant: zero). The standard small-image recipe: shift 0.125 (4 pixels of 32) and
 * horizontal flips. Rotation and zoom need resampling: use an image folder for those.
 */
public final class AugmentedArrays implements BatchSource {
    private final NDArray x;
    private final NDArray y;
    private final Augmentation augmentation;
    private final long augmentationSeed;
    private final int height;
    private final int width;
    private final int channels;
    private int[] order = new int[0];
    private float[] xBuffer = new float[0];
    private float[] yBuffer = new float[0];
    private int[] sampleBuffer = new int[0];
    private int epoch;
    private int batchSize;
    private int position;

    /**
     * Batches of images x, (N, H, W, C) or (N, H, W), and their labels y (neither copied), transformed by augmentation
     * with draws from seed. Throws IllegalArgumentException when x and y differ in rows, x has another rank, or
     * augmentation rotates or zooms. Each batch's arrays are reused by the next one.
     */
    public AugmentedArrays(NDArray x, NDArray y, Augmentation augmentation, long seed) {
        if (x.rows() != y.rows()) {
            throw new IllegalArgumentException("expected as many labels as samples (" + x.rows() + "), received " + y.rows());
        }
        int[] shape = x.shape();
        if (shape.length != 4 && shape.length != 3) {
            throw new IllegalArgumentException("augmentation: expected images (N, height, width[, channels]), received "
                    + x.shapeString());
        }
        if (augmentation.hasResampling()) {
            throw new IllegalArgumentException("augmentation of in-memory arrays takes flips and shifts, received "
                    + augmentation + " (rotation and zoom need an image folder: --images)");
        }
        this.x = x;
        this.y = y;
        this.augmentation = augmentation;
        this.augmentationSeed = seed;
        this.height = shape[1];
        this.width = shape[2];
        this.channels = shape.length == 4 ? shape[3] : 1;
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
        this.epoch = epoch;
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

    /** Jumps: each sample's augmentation is drawn from (seed, epoch, sample), whatever was read before. */
    @Override
    public void skip(int batches) {
        if (order != null && batches > 0) {
            position = (int) Math.min(order.length, position + (long) batches * batchSize);
        }
    }

    @Override
    public Batch next() {
        if (position >= order.length) {
            return null;
        }
        int count = Math.min(batchSize, order.length - position);
        int xs = x.rowSize(), ys = y.rowSize();
        for (int i = 0; i < count; i++) {
            int row = order[position + i];
            Augmentation.Params p = augmentation.draw(augmentationSeed, epoch, row);
            transform(x.data(), row * xs, xBuffer, i * xs, p);
            System.arraycopy(y.data(), row * ys, yBuffer, i * ys, ys);
        }
        System.arraycopy(order, position, sampleBuffer, 0, count);
        position += count;
        return new Batch(xBuffer, yBuffer, count, sampleBuffer);
    }

    /** One image, flipped and shifted by whole pixels. */
    private void transform(float[] from, int fromOffset, float[] to, int toOffset, Augmentation.Params p) {
        int dx = (int) Math.round(p.shiftX() * width);
        int dy = (int) Math.round(p.shiftY() * height);
        Augmentation.FillMode fill = augmentation.fillMode();
        for (int r = 0; r < height; r++) {
            for (int c = 0; c < width; c++) {
                int sr = p.flipVertical() ? height - 1 - (r - dy) : r - dy;
                int sc = p.flipHorizontal() ? width - 1 - (c - dx) : c - dx;
                int out = toOffset + (r * width + c) * channels;
                if (sr < 0 || sr >= height || sc < 0 || sc >= width) {
                    if (fill == Augmentation.FillMode.CONSTANT) {
                        java.util.Arrays.fill(to, out, out + channels, 0f);
                        continue;
                    }
                    sr = Augmentation.fillIndex(fill, sr, height);
                    sc = Augmentation.fillIndex(fill, sc, width);
                }
                System.arraycopy(from, fromOffset + (sr * width + sc) * channels, to, out, channels);
            }
        }
    }

    @Override
    public double waitSeconds() {
        return 0;
    }
}
