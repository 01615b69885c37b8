package dev.osprey.engine;

/**
 * How many rows an inference call computes at a time. A large batch runs layer after layer over every row, so where
 * a layer's output is larger than the cache, the next layer reads it back from memory: ResNet-20 at batch 256 writes
 * 16 MiB a layer in its first stage. Run in slices whose largest activation fits the backend's budget
 * ({@link dev.osprey.backend.Backend#inferenceSliceBytes}), the same layers read their inputs from the cache. Each row
 * is computed alone either way, so slices change no prediction beyond the last bits of kernels that pick their
 * algorithm by batch size.
 *
 * <p>A batch that does not fit runs in the fewest slices that do, of equal rows but the last (256 rows where 30 fit:
 * 8 slices of 29, then 24). A slice pays costs a whole batch pays once: every weight is read again, and each op has a
 * fixed cost per call. So a batch is sliced only where those slices still write at least {@link #WEIGHT_SHARE} times
 * the weights' bytes in activations and do at least {@link #MIN_SLICE_FLOPS} of work; otherwise (large weights beside
 * small activations, as in MobileNetV2; a small model, whose calls are short, as the tutorial CNN; activations too
 * large for any slice to fit, as ResNet-18 at 224x224) batches run whole. The last slice may be shorter than that:
 * once a call.
 *
 * @param largestBytes the largest layer output of one sample, in bytes
 * @param writtenBytes every layer's output of one sample together, in bytes
 * @param weightBytes  the model's weights, in bytes
 * @param flops        the forward pass's floating-point operations per sample
 * @param budgetBytes  the backend's budget for a slice's largest activation; 0 runs batches whole
 */
public record InferenceSlices(long largestBytes, long writtenBytes, long weightBytes, double flops, long budgetBytes) {
    /** A slice writes at least this many times the weights' bytes, so that reading them again stays a small share. */
    static final int WEIGHT_SHARE = 4;
    /** A slice does at least this much work (about 2.5 ms at 200 GFLOP/s), so per-op costs stay a small share. */
    static final double MIN_SLICE_FLOPS = 5e8;

    public InferenceSlices {
        if (largestBytes < 0 || writtenBytes < largestBytes || weightBytes < 0 || !(flops >= 0) || budgetBytes < 0) {
            throw new IllegalArgumentException("expected byte counts >= 0 with the largest output at most all of them "
                    + "and flops >= 0, received largest " + largestBytes + ", written " + writtenBytes + ", weights "
                    + weightBytes + ", flops " + flops + ", budget " + budgetBytes);
        }
    }

    /** The figures of a graph's fp32 outputs and weights, against a budget. */
    static InferenceSlices of(Graph graph, Parameters parameters, long budgetBytes) {
        long largest = 0;
        long written = 0;
        for (Node node : graph.nodes()) {
            long bytes = node.output().shape().size() * (long) Float.BYTES;
            largest = Math.max(largest, bytes);
            written += bytes;
        }
        return new InferenceSlices(largest, written, parameters.count() * Float.BYTES, graph.forwardFlopsPerSample(),
                budgetBytes);
    }

    /**
     * Rows per call for a batch of this many: the batch itself, or the rows of each slice but the last (which holds
     * what remains, at most as many).
     */
    public int rows(int batch) {
        if (batch <= 0) {
            throw new IllegalArgumentException("expected a batch of at least 1 row, received " + batch);
        }
        if (budgetBytes == 0 || largestBytes == 0) {
            return batch;
        }
        long fit = budgetBytes / largestBytes;
        if (batch <= fit) {
            return batch;
        }
        if (fit == 0) {
            return batch; // not even one row fits: slices would only add their costs
        }
        long slices = (batch + fit - 1) / fit;
        long rows = (batch + slices - 1) / slices;
        double need = Math.max(writtenBytes == 0 ? Double.POSITIVE_INFINITY
                        : Math.ceil((double) WEIGHT_SHARE * weightBytes / writtenBytes),
                flops == 0 ? Double.POSITIVE_INFINITY : Math.ceil(MIN_SLICE_FLOPS / flops));
        return rows < need ? batch : (int) rows;
    }
}
