package dev.osprey.backend.cuda;

import dev.osprey.backend.LayerNormSpec;

/**
 * Layer normalization for one {@link LayerNormSpec} in Osprey's kernels (native/layer_norm.cu): the forward and the
 * input gradient one thread per row; the gamma and beta gradients summed per chunk of rows into this plan's partial
 * buffers, then per column (no atomics: the same sums every run). Owns the partial buffers.
 */
final class CudaLayerNormPlan implements AutoCloseable {
    /** Rows each thread sums before the per-column reduction. */
    static final int CHUNK_ROWS = 256;

    private final CudaContext c;
    private final LayerNormSpec s;
    private final int chunks;
    private final CudaTensor partialGamma;
    private final CudaTensor partialBeta;
    private final Kernels.Launch forward;
    private final Kernels.Launch backwardData;
    private final Kernels.Launch partials;
    private final Kernels.Launch reduce;

    CudaLayerNormPlan(CudaContext c, LayerNormSpec s) {
        this.c = c;
        this.s = s;
        this.chunks = (s.rows() + CHUNK_ROWS - 1) / CHUNK_ROWS;
        // the kernels first: a module without them fails here, before any device memory is taken
        forward = c.kernels.launch("osprey_layer_norm_forward", "ppppppiif");
        backwardData = c.kernels.launch("osprey_layer_norm_backward_data", "ppppppiif");
        partials = c.kernels.launch("osprey_layer_norm_param_partials", "ppppppiiif");
        reduce = c.kernels.launch("osprey_layer_norm_param_reduce", "ppiipp");
        this.partialGamma = CudaTensor.allocate(new int[] {chunks, s.width()});
        try {
            this.partialBeta = CudaTensor.allocate(new int[] {chunks, s.width()});
        } catch (RuntimeException e) {
            partialGamma.close();
            throw e;
        }
    }

    /** mean and variance receive each row's statistics, or are both null (inference). */
    void forward(CudaTensor x, CudaTensor gamma, CudaTensor beta, CudaTensor y, CudaTensor mean, CudaTensor variance) {
        forward.pointer(0, x).pointer(1, y).pointer(2, gamma).pointer(3, beta).pointer(4, mean).pointer(5, variance)
                .intValue(6, s.rows()).intValue(7, s.width()).floatValue(8, s.epsilon()).run(s.rows(), c.stream);
    }

    void backward(CudaTensor x, CudaTensor dy, CudaTensor gamma, CudaTensor mean, CudaTensor variance, CudaTensor dx,
                  CudaTensor dGamma, CudaTensor dBeta) {
        backwardData.pointer(0, x).pointer(1, dy).pointer(2, gamma).pointer(3, mean).pointer(4, variance)
                .pointer(5, dx).intValue(6, s.rows()).intValue(7, s.width()).floatValue(8, s.epsilon())
                .run(s.rows(), c.stream);
        partials.pointer(0, x).pointer(1, dy).pointer(2, mean).pointer(3, variance).pointer(4, partialGamma)
                .pointer(5, partialBeta).intValue(6, s.rows()).intValue(7, s.width()).intValue(8, CHUNK_ROWS)
                .floatValue(9, s.epsilon()).run((long) chunks * s.width(), c.stream);
        reduce.pointer(0, partialGamma).pointer(1, partialBeta).intValue(2, chunks).intValue(3, s.width())
                .pointer(4, dGamma).pointer(5, dBeta).run(s.width(), c.stream);
    }

    @Override
    public void close() {
        c.synchronize(); // queued ops may still use the partial buffers
        partialGamma.close();
        partialBeta.close();
    }
}
