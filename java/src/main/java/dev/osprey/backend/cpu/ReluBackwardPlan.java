package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;

import dev.osprey.Activation;
import org.bytedeco.dnnl.eltwise_backward;
import org.bytedeco.dnnl.eltwise_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/** ReLU backward from the forward output (dx = dy where y > 0), over a flat run of floats of one length. */
final class ReluBackwardPlan implements AutoCloseable {
    private final DnnlContext context;
    private final Step backward;

    ReluBackwardPlan(DnnlContext context, long elements) {
        this.context = context;
        memory.desc flat = context.md(memory.format_tag.a, elements);
        eltwise_forward.primitive_desc hint = context.own(new eltwise_forward.primitive_desc(context.engine,
                dnnl.prop_kind.forward_training, dnnl.algorithm.eltwise_relu_use_dst_for_bwd, flat, flat, 0f, 0f));
        eltwise_backward.primitive_desc bwd = context.own(new eltwise_backward.primitive_desc(context.engine,
                dnnl.algorithm.eltwise_relu_use_dst_for_bwd, flat, flat, flat, 0f, 0f, hint,
                context.attributes(Activation.LINEAR), false));
        backward = new Step("relu backward (" + elements + ")", context.own(new eltwise_backward(bwd)))
                .arg(DNNL_ARG_DST, flat, context.engine)
                .arg(DNNL_ARG_DIFF_DST, flat, context.engine)
                .arg(DNNL_ARG_DIFF_SRC, flat, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, bwd.scratchpad_desc(), context.engine);
        context.reserveScratchpad(bwd.scratchpad_desc());
    }

    void backward(CpuTensor y, CpuTensor dy, CpuTensor dx) {
        backward.bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_DIFF_SRC, dx.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    @Override
    public void close() {
        backward.close();
    }
}
