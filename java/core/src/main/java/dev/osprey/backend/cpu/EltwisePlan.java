package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;

import dev.osprey.Activation;
import org.bytedeco.dnnl.eltwise_backward;
import org.bytedeco.dnnl.eltwise_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/** One oneDNN eltwise function over a flat run of floats: forward, and backward (made on first use). */
final class EltwisePlan implements AutoCloseable {
    /** The plan cache's key. */
    record Key(Eltwise function, long elements) {
    }

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Key key;
    private final memory.desc flat;
    private final eltwise_forward.primitive_desc forwardDesc;
    private final Step forward;
    private Step backward;
    /** The OpenMP team this plan's primitives are made for, those made on first use too (see OpenMpTeam). */
    private final int team = OpenMpTeam.current();

    EltwisePlan(DnnlContext context, Key key) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.key = key;
        Eltwise e = key.function();
        flat = owned.md(memory.format_tag.a, key.elements());
        try {
            // Forward with the backward's algorithm: the "use dst" variants compute the same function.
            forwardDesc = owned.own(new eltwise_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_training,
                    e.backward(), flat, flat, e.alpha(), e.beta(), owned.attributes(Activation.LINEAR), false));
            forward = new Step("eltwise forward", key, new eltwise_forward(forwardDesc))
                    .arg(DNNL_ARG_SRC, flat, context.engine)
                    .arg(DNNL_ARG_DST, flat, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, forwardDesc.scratchpad_desc(), context.engine);
            context.reserveScratchpad(forwardDesc.scratchpad_desc());
        } catch (RuntimeException ex) {
            close();
            throw ex;
        }
    }

    void forward(CpuTensor x, CpuTensor y) {
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    /** dx = dy * f'(.), from y when the function is differentiable from its output, else from x. */
    void backward(CpuTensor x, CpuTensor y, CpuTensor dy, CpuTensor dx) {
        Eltwise e = key.function();
        int data = e.backwardFromOutput() ? DNNL_ARG_DST : DNNL_ARG_SRC;
        if (backward == null) {
            backward = OpenMpTeam.sized(team, () -> makeBackward(e, data));
        }
        backward.bind(data, (e.backwardFromOutput() ? y : x).pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_DIFF_SRC, dx.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    private Step makeBackward(Eltwise e, int data) {
        eltwise_backward.primitive_desc d = owned.own(new eltwise_backward.primitive_desc(context.engine,
                e.backward(), flat, flat, flat, e.alpha(), e.beta(), forwardDesc,
                owned.attributes(Activation.LINEAR), false));
        context.reserveScratchpad(d.scratchpad_desc());
        return new Step("eltwise backward", key, new eltwise_backward(d))
                .arg(data, flat, context.engine)
                .arg(DNNL_ARG_DIFF_DST, flat, context.engine)
                .arg(DNNL_ARG_DIFF_SRC, flat, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
    }

    @Override
    public void close() {
        Step.closeAll(forward, backward);
        owned.close();
    }
}
