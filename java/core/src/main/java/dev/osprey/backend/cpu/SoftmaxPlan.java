package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;

import dev.osprey.Activation;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.softmax_backward;
import org.bytedeco.dnnl.softmax_forward;
import org.bytedeco.dnnl.global.dnnl;

/** Softmax over the last axis of (rows, width): forward, and backward from the output (made on first use). */
final class SoftmaxPlan implements AutoCloseable {
    /** The plan cache's key. */
    record Key(int rows, int width) {
    }

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Key key;
    private final memory.desc rows;
    private final softmax_forward.primitive_desc forwardDesc;
    private final Step forward;
    private Step backward;
    /** The OpenMP team this plan's primitives are made for, those made on first use too (see OpenMpTeam). */
    private final int team = OpenMpTeam.current();

    SoftmaxPlan(DnnlContext context, Key key) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.key = key;
        rows = owned.md(memory.format_tag.ab, key.rows(), key.width());
        try {
            forwardDesc = owned.own(new softmax_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_training,
                    dnnl.algorithm.softmax_accurate, rows, rows, 1, owned.attributes(Activation.LINEAR), false));
            forward = new Step("softmax forward", key, new softmax_forward(forwardDesc))
                    .arg(DNNL_ARG_SRC, rows, context.engine)
                    .arg(DNNL_ARG_DST, rows, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, forwardDesc.scratchpad_desc(), context.engine);
            context.reserveScratchpad(forwardDesc.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    void forward(CpuTensor x, CpuTensor y) {
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backward(CpuTensor y, CpuTensor dy, CpuTensor dx) {
        if (backward == null) {
            backward = OpenMpTeam.sized(team, this::makeBackward);
        }
        backward.bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_DIFF_SRC, dx.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    private Step makeBackward() {
        softmax_backward.primitive_desc d = owned.own(new softmax_backward.primitive_desc(context.engine,
                dnnl.algorithm.softmax_accurate, rows, rows, rows, 1, forwardDesc,
                owned.attributes(Activation.LINEAR), false));
        context.reserveScratchpad(d.scratchpad_desc());
        return new Step("softmax backward", key, new softmax_backward(d))
                .arg(DNNL_ARG_DST, rows, context.engine)
                .arg(DNNL_ARG_DIFF_DST, rows, context.engine)
                .arg(DNNL_ARG_DIFF_SRC, rows, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
    }

    @Override
    public void close() {
        Step.closeAll(forward, backward);
        owned.close();
    }
}
