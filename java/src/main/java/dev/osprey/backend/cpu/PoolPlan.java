package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WORKSPACE;

import dev.osprey.Activation;
import dev.osprey.backend.Pool2dSpec;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.pooling_backward;
import org.bytedeco.dnnl.pooling_forward;
import org.bytedeco.dnnl.global.dnnl;

/** Max-pooling forward (training, with its arg-max workspace) and backward for one {@link Pool2dSpec}, NHWC. */
final class PoolPlan implements AutoCloseable {
    private final DnnlContext context;
    private final Step forward;
    private final Step backward;
    final long workspaceBytes;

    PoolPlan(DnnlContext context, Pool2dSpec s) {
        this.context = context;
        long[] strides = {s.strideH(), s.strideW()};
        long[] kernel = {s.poolH(), s.poolW()};
        long[] dilation = {0, 0};
        long[] padL = {s.padTop(), s.padLeft()};
        long[] padR = {s.padBottom(), s.padRight()};
        memory.desc src = context.md(memory.format_tag.nhwc, s.batch(), s.channels(), s.inH(), s.inW());
        memory.desc dst = context.md(memory.format_tag.nhwc, s.batch(), s.channels(), s.outH(), s.outW());
        pooling_forward.primitive_desc fwd = context.own(new pooling_forward.primitive_desc(context.engine,
                dnnl.prop_kind.forward_training, dnnl.algorithm.pooling_max, src, dst, strides, kernel, dilation,
                padL, padR, context.attributes(Activation.LINEAR), false));
        memory.desc workspace = fwd.workspace_desc();
        workspaceBytes = workspace.get_size();
        forward = new Step("max-pool forward " + s, context.own(new pooling_forward(fwd)))
                .arg(DNNL_ARG_SRC, src, context.engine)
                .arg(DNNL_ARG_DST, dst, context.engine)
                .arg(DNNL_ARG_WORKSPACE, workspace, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, fwd.scratchpad_desc(), context.engine);
        context.reserveScratchpad(fwd.scratchpad_desc());

        pooling_backward.primitive_desc bwd = context.own(new pooling_backward.primitive_desc(context.engine,
                dnnl.algorithm.pooling_max, src, dst, strides, kernel, dilation, padL, padR, fwd,
                context.attributes(Activation.LINEAR), false));
        backward = new Step("max-pool backward " + s, context.own(new pooling_backward(bwd)))
                .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                .arg(DNNL_ARG_WORKSPACE, workspace, context.engine)
                .arg(DNNL_ARG_DIFF_SRC, src, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, bwd.scratchpad_desc(), context.engine);
        context.reserveScratchpad(bwd.scratchpad_desc());
    }

    void forward(CpuTensor x, CpuTensor y, CpuTensor workspace) {
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_WORKSPACE, workspace.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    void backward(CpuTensor dy, CpuTensor workspace, CpuTensor dx) {
        backward.bind(DNNL_ARG_DIFF_DST, dy.pointer()).bind(DNNL_ARG_WORKSPACE, workspace.pointer())
                .bind(DNNL_ARG_DIFF_SRC, dx.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    @Override
    public void close() {
        forward.close();
        backward.close();
    }
}
