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

/**
 * Pooling forward and backward (made on first use) for one {@link Pool2dSpec}, NHWC: max pooling keeps its arg-max in
 * a workspace for the backward pass; average pooling excludes padding from the count, as Keras does.
 */
final class PoolPlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Pool2dSpec spec;
    private final pooling_forward.primitive_desc forwardDesc;
    private final memory.desc src;
    private final memory.desc dst;
    private final memory.desc workspace; // null for average pooling
    private final Step forward;
    private Step inference;
    private Step backward;
    final long workspaceFloats;
    /** The OpenMP team this plan's primitives are made for, those made on first use too (see OpenMpTeam). */
    private final int team = OpenMpTeam.current();

    PoolPlan(DnnlContext context, Pool2dSpec s) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.spec = s;
        src = owned.md(memory.format_tag.nhwc, s.batch(), s.channels(), s.inH(), s.inW());
        dst = owned.md(memory.format_tag.nhwc, s.batch(), s.channels(), s.outH(), s.outW());
        try {
            forwardDesc = owned.own(new pooling_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_training,
                    algorithm(s), src, dst, new long[] {s.strideH(), s.strideW()}, new long[] {s.poolH(), s.poolW()},
                    new long[] {0, 0}, new long[] {s.padTop(), s.padLeft()}, new long[] {s.padBottom(), s.padRight()},
                    owned.attributes(Activation.LINEAR), false));
            memory.desc ws = owned.own(forwardDesc.workspace_desc());
            workspace = ws.get_size() > 0 ? ws : null;
            workspaceFloats = workspace == null ? 0 : (workspace.get_size() + Float.BYTES - 1) / Float.BYTES;
            Step f = new Step("pool forward", s, new pooling_forward(forwardDesc))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, forwardDesc.scratchpad_desc(), context.engine);
            forward = workspace != null ? f.arg(DNNL_ARG_WORKSPACE, workspace, context.engine) : f;
            context.reserveScratchpad(forwardDesc.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static dnnl.algorithm algorithm(Pool2dSpec s) {
        return s.mode() == Pool2dSpec.Mode.MAX ? dnnl.algorithm.pooling_max : dnnl.algorithm.pooling_avg_exclude_padding;
    }

    void forward(CpuTensor x, CpuTensor y, CpuTensor ws) {
        if (workspace != null) {
            forward.bind(DNNL_ARG_WORKSPACE, ws.pointer());
        }
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    /** The forward without a workspace (forward_inference), made on first use. */
    void inference(CpuTensor x, CpuTensor y) {
        if (inference == null) {
            inference = OpenMpTeam.sized(team, this::makeInference);
        }
        inference.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    private Step makeInference() {
        Pool2dSpec s = spec;
        pooling_forward.primitive_desc d = owned.own(new pooling_forward.primitive_desc(context.engine,
                dnnl.prop_kind.forward_inference, algorithm(s), src, dst, new long[] {s.strideH(), s.strideW()},
                new long[] {s.poolH(), s.poolW()}, new long[] {0, 0}, new long[] {s.padTop(), s.padLeft()},
                new long[] {s.padBottom(), s.padRight()}, owned.attributes(Activation.LINEAR), false));
        context.reserveScratchpad(d.scratchpad_desc());
        return new Step("pool inference", s, new pooling_forward(d))
                .arg(DNNL_ARG_SRC, src, context.engine)
                .arg(DNNL_ARG_DST, dst, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
    }

    void backward(CpuTensor dy, CpuTensor ws, CpuTensor dx) {
        if (backward == null) {
            backward = OpenMpTeam.sized(team, this::makeBackward);
        }
        if (workspace != null) {
            backward.bind(DNNL_ARG_WORKSPACE, ws.pointer());
        }
        backward.bind(DNNL_ARG_DIFF_DST, dy.pointer()).bind(DNNL_ARG_DIFF_SRC, dx.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    private Step makeBackward() {
        Pool2dSpec s = spec;
        pooling_backward.primitive_desc d = owned.own(new pooling_backward.primitive_desc(context.engine,
                algorithm(s), src, dst, new long[] {s.strideH(), s.strideW()}, new long[] {s.poolH(), s.poolW()},
                new long[] {0, 0}, new long[] {s.padTop(), s.padLeft()}, new long[] {s.padBottom(), s.padRight()},
                forwardDesc, owned.attributes(Activation.LINEAR), false));
        Step b = new Step("pool backward", s, new pooling_backward(d))
                .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                .arg(DNNL_ARG_DIFF_SRC, src, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
        context.reserveScratchpad(d.scratchpad_desc());
        return workspace != null ? b.arg(DNNL_ARG_WORKSPACE, workspace, context.engine) : b;
    }

    /** The OpenMP teams of the forward (training) step and of the inference step (0 until it is first made). */
    int[] threads() {
        return new int[] {forward.threads(), inference == null ? 0 : inference.threads()};
    }

    @Override
    public void close() {
        Step.closeAll(forward, inference, backward);
        owned.close();
    }
}
