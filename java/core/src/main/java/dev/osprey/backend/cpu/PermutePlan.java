package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;

import dev.osprey.backend.PermuteSpec;
import org.bytedeco.dnnl.memory;

/**
 * One {@link PermuteSpec} as a oneDNN reorder: x is described as it lies, (batch, d0, d1, d2) dense, and y by the
 * strides at which y's layout puts each of x's axes, so the reorder (vectorized, on the plan's OpenMP team) writes y
 * in one pass.
 */
final class PermutePlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step step;

    PermutePlan(DnnlContext context, PermuteSpec spec) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        try {
            int[] d = spec.dims();
            int[] perm = spec.perm();
            int[] out = spec.outputShape();
            long sample = (long) d[0] * d[1] * d[2];
            long[] dims = {spec.batch(), d[0], d[1], d[2]};
            long[] from = {sample, (long) d[1] * d[2], d[2], 1};
            long[] outStrides = {(long) out[2] * out[3], out[3], 1};
            long[] to = {sample, 0, 0, 0};
            for (int j = 0; j < 3; j++) {
                to[1 + perm[j]] = outStrides[j]; // y's axis j is x's axis perm[j]
            }
            memory.desc x = owned.own(new memory.desc(dims, memory.data_type.f32, from));
            memory.desc y = owned.own(new memory.desc(dims, memory.data_type.f32, to));
            step = Step.reorder("permute", spec, x, y, context.engine);
        } catch (RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    void run(CpuTensor x, CpuTensor y) {
        step.bind(DNNL_ARG_FROM, x.pointer()).bind(DNNL_ARG_TO, y.pointer()).run(context.stream);
    }

    @Override
    public void close() {
        Step.closeAll(step);
        owned.close();
    }
}
