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
 * oneDNN's matmul for one {@link BatchMatMulSpec}: a transposed operand is described by its strides (format tag acb
 * for a (batch, rows, columns) matrix stored (batch, columns, rows)), so no operand is ever copied.
 */
final class BatchMatMulPlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step step;

    BatchMatMulPlan(DnnlContext context, BatchMatMulSpec spec) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        try {
            memory.desc a = owned.md(spec.transposeA() ? memory.format_tag.acb : memory.format_tag.abc, spec.batch(),
                    spec.m(), spec.k());
            memory.desc b = owned.md(spec.transposeB() ? memory.format_tag.acb : memory.format_tag.abc, spec.batch(),
                    spec.k(), spec.n());
            memory.desc c = owned.md(memory.format_tag.abc, spec.batch(), spec.m(), spec.n());
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
