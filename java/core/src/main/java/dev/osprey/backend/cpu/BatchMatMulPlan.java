package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

import dev.osprey.Activation;
import dev.osprey.backend.BatchMatMulSpec;
import org.bytedeco.dnnl.matmul;
import org.bytedeco.dnnl.memory;

/**
 * oneDNN's matmul for one {@link BatchMatMulSpec}: every operand is described by its strides over (sample, head, row,
 * column), so a transposed operand (its row and column strides swapped) or a head's columns inside (positions, heads,
 * dim) rows are read and written where they lie, and no operand is ever copied.
 */
final class BatchMatMulPlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step step;

    BatchMatMulPlan(DnnlContext context, BatchMatMulSpec spec) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        try {
            memory.desc a = operand(spec, spec.aLayout(), spec.m(), spec.k(), spec.transposeA());
            memory.desc b = operand(spec, spec.bLayout(), spec.k(), spec.n(), spec.transposeB());
            memory.desc c = operand(spec, spec.cLayout(), spec.m(), spec.n(), false);
            matmul.primitive_desc d = owned.own(new matmul.primitive_desc(context.engine, a, b, c,
                    owned.attributes(Activation.LINEAR), false));
            context.reserveScratchpad(d.scratchpad_desc());
            step = new Step("batched matmul", spec, new matmul(d))
                    .arg(DNNL_ARG_SRC, a, context.engine)
                    .arg(DNNL_ARG_WEIGHTS, b, context.engine)
                    .arg(DNNL_ARG_DST, c, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * A (sample, head, rows, columns) operand as the product reads it; stored transposed, its row and column strides
     * trade places.
     */
    private memory.desc operand(BatchMatMulSpec spec, BatchMatMulSpec.Layout layout, int rows, int columns,
                                boolean transposed) {
        long[] dims = {spec.batch(), spec.heads(), rows, columns};
        long[] strides = transposed
                ? new long[] {layout.sampleStride(), layout.headStride(), 1, layout.rowStride()}
                : new long[] {layout.sampleStride(), layout.headStride(), layout.rowStride(), 1};
        return owned.own(new memory.desc(dims, memory.data_type.f32, strides));
    }

    void run(CpuTensor a, CpuTensor b, CpuTensor c) {
        step.bind(DNNL_ARG_SRC, a.pointer()).bind(DNNL_ARG_WEIGHTS, b.pointer()).bind(DNNL_ARG_DST, c.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    @Override
    public void close() {
        Step.closeAll(step);
        owned.close();
    }
}
