package dev.osprey.backend;

/**
 * Resident data for backends that compute where Java's arrays already are: gathers a batch into a reusable
 * array and copies it in. The arrays are the caller's, not copies; they must not change while training.
 */
public final class HostResidentData implements ResidentData {
    private final Backend backend;
    private final float[] x;
    private final float[] targets;
    private final int sampleSize;
    private final int classes;
    private final int samples;
    private int[] order = new int[0];
    private float[] xBatch = new float[0];
    private float[] targetBatch = new float[0];

    /**
     * Keeps x (samples of sampleSize floats) and targets (a row of classes floats per sample) as they are, to copy
     * in through backend; throws IllegalArgumentException unless sampleSize and classes are positive and both arrays
     * hold the same positive number of samples.
     */
    public HostResidentData(Backend backend, float[] x, int sampleSize, float[] targets, int classes) {
        this.samples = Checks.residentData(x, sampleSize, targets, classes);
        this.backend = backend;
        this.x = x;
        this.targets = targets;
        this.sampleSize = sampleSize;
        this.classes = classes;
    }

    @Override
    public int samples() {
        return samples;
    }

    @Override
    public String description() {
        return "host memory";
    }

    @Override
    public void startEpoch(int[] order) {
        Checks.epochOrder(order, samples);
        this.order = order.clone();
    }

    @Override
    public void gather(int from, int count, Tensor x, Tensor targets) {
        Checks.gather(from, count, order.length, x, sampleSize, targets, classes);
        if (xBatch.length < count * sampleSize) {
            xBatch = new float[count * sampleSize];
            targetBatch = new float[count * classes];
        }
        for (int i = 0; i < count; i++) {
            int row = order[from + i];
            System.arraycopy(this.x, row * sampleSize, xBatch, i * sampleSize, sampleSize);
            System.arraycopy(this.targets, row * classes, targetBatch, i * classes, classes);
        }
        backend.copyIn(xBatch, 0, x);
        backend.copyIn(targetBatch, 0, targets);
    }

    @Override
    public void close() {
    }
}
