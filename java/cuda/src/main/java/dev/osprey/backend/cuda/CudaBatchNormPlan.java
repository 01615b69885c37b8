package dev.osprey.backend.cuda;

import dev.osprey.backend.BatchNormSpec;

/**
 * Batch normalization for one {@link BatchNormSpec} in Osprey's kernels (native/batch_norm.cu): per-channel sums are
 * taken per chunk of rows into this plan's partial buffers, then reduced per channel, then applied element-wise (with
 * the fused ReLU, capped or not, whose backward masks by the output).
 * Owns the partial buffers.
 */
final class CudaBatchNormPlan implements AutoCloseable {
    /** Rows each thread sums before the per-channel reduction. */
    static final int CHUNK_ROWS = 256;

    private final CudaContext c;
    private final BatchNormSpec s;
    private final int chunks;
    private final CudaTensor partialA;
    private final CudaTensor partialB;
    private final Kernels.Launch partials;
    private final Kernels.Launch statistics;
    private final Kernels.Launch apply;
    private final Kernels.Launch backwardReduce;
    private final Kernels.Launch backwardApply;

    CudaBatchNormPlan(CudaContext c, BatchNormSpec s) {
        this.c = c;
        this.s = s;
        this.chunks = (s.rows() + CHUNK_ROWS - 1) / CHUNK_ROWS;
        this.partialA = CudaTensor.allocate(new int[] {chunks, s.channels()});
        try {
            this.partialB = CudaTensor.allocate(new int[] {chunks, s.channels()});
        } catch (RuntimeException e) {
            partialA.close();
            throw e;
        }
        partials = c.kernels.launch("osprey_batch_norm_partials", "ppppppiiif");
        statistics = c.kernels.launch("osprey_batch_norm_statistics", "pppiiippppf");
        apply = c.kernels.launch("osprey_batch_norm_apply", "pppppplifif");
        backwardReduce = c.kernels.launch("osprey_batch_norm_backward_reduce", "ppiipfpp");
        backwardApply = c.kernels.launch("osprey_batch_norm_backward_apply", "pppppppppliiff");
    }

    void forwardTraining(CudaTensor x, CudaTensor gamma, CudaTensor beta, CudaTensor movingMean,
                         CudaTensor movingVariance, CudaTensor y, CudaTensor mean, CudaTensor variance) {
        partials.pointer(0, x).pointer(1, null).pointer(2, null).pointer(3, null).pointer(4, partialA)
                .pointer(5, partialB).intValue(6, s.rows()).intValue(7, s.channels()).intValue(8, CHUNK_ROWS)
                .floatValue(9, s.reluCap()).run((long) chunks * s.channels(), c.stream);
        statistics.pointer(0, x).pointer(1, partialA).pointer(2, partialB).intValue(3, chunks).intValue(4, s.rows())
                .intValue(5, s.channels()).pointer(6, mean).pointer(7, variance).pointer(8, movingMean)
                .pointer(9, movingVariance).floatValue(10, s.momentum()).run(s.channels(), c.stream);
        forwardInference(x, gamma, beta, mean, variance, y);
    }

    /** Normalizes with the given statistics (the moving ones for inference). */
    void forwardInference(CudaTensor x, CudaTensor gamma, CudaTensor beta, CudaTensor mean, CudaTensor variance,
                          CudaTensor y) {
        apply.pointer(0, x).pointer(1, y).pointer(2, mean).pointer(3, variance).pointer(4, gamma).pointer(5, beta)
                .longValue(6, x.size()).intValue(7, s.channels()).floatValue(8, s.epsilon()).intValue(9, s.relu() ? 1 : 0)
                .floatValue(10, s.reluCap()).run(x.size(), c.stream);
    }

    /** y, the forward's output, masks dy where a ReLU was fused (ignored otherwise). */
    void backward(CudaTensor x, CudaTensor y, CudaTensor dy, CudaTensor gamma, CudaTensor mean, CudaTensor variance,
                  CudaTensor dx, CudaTensor dGamma, CudaTensor dBeta) {
        CudaTensor mask = s.relu() ? y : null;
        partials.pointer(0, x).pointer(1, dy).pointer(2, mask).pointer(3, mean).pointer(4, partialA)
                .pointer(5, partialB).intValue(6, s.rows()).intValue(7, s.channels()).intValue(8, CHUNK_ROWS)
                .floatValue(9, s.reluCap()).run((long) chunks * s.channels(), c.stream);
        backwardReduce.pointer(0, partialA).pointer(1, partialB).intValue(2, chunks).intValue(3, s.channels())
                .pointer(4, variance).floatValue(5, s.epsilon()).pointer(6, dGamma).pointer(7, dBeta)
                .run(s.channels(), c.stream);
        backwardApply.pointer(0, x).pointer(1, dy).pointer(2, mask).pointer(3, mean).pointer(4, variance)
                .pointer(5, gamma).pointer(6, dGamma).pointer(7, dBeta).pointer(8, dx).longValue(9, x.size())
                .intValue(10, s.channels()).intValue(11, s.rows()).floatValue(12, s.epsilon())
                .floatValue(13, s.reluCap()).run(x.size(), c.stream);
    }

    @Override
    public void close() {
        c.synchronize(); // queued ops may still use the partial buffers
        partialA.close();
        partialB.close();
    }
}
