package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC_0;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC_1;

import dev.osprey.Activation;
import org.bytedeco.dnnl.binary;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/** One oneDNN binary op (add, multiply) of two equal-sized flat runs of floats, an element-wise activation after it. */
final class BinaryPlan implements AutoCloseable {
    /** The plan cache's key. */
    record Key(dnnl.algorithm algorithm, long elements, dev.osprey.Activation activation) {
    }

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step step;

    BinaryPlan(DnnlContext context, Key key) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        memory.desc flat = owned.md(memory.format_tag.a, key.elements());
        try {
            binary.primitive_desc d = owned.own(new binary.primitive_desc(context.engine, key.algorithm(), flat, flat,
                    flat, owned.attributes(key.activation()), false));
            step = new Step("binary", key, new binary(d))
                    .arg(DNNL_ARG_SRC_0, flat, context.engine)
                    .arg(DNNL_ARG_SRC_1, flat, context.engine)
                    .arg(DNNL_ARG_DST, flat, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    void run(CpuTensor a, CpuTensor b, CpuTensor out) {
        step.bind(DNNL_ARG_SRC_0, a.pointer()).bind(DNNL_ARG_SRC_1, b.pointer()).bind(DNNL_ARG_DST, out.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    @Override
    public void close() {
        Step.closeAll(step);
        owned.close();
    }
}
