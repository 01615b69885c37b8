package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SCALE;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SHIFT;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_MEAN;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCALE;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SHIFT;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_VARIANCE;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WORKSPACE;

import dev.osprey.Activation;
import dev.osprey.backend.BatchNormSpec;
import org.bytedeco.dnnl.batch_normalization_backward;
import org.bytedeco.dnnl.batch_normalization_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Batch normalization for one {@link BatchNormSpec}, NHWC, with scale (gamma) and shift (beta) and, if the spec asks, a
 * fused ReLU (its mask kept in a workspace between the training forward and the backward): the training forward
 * (batch statistics out), the inference forward (moving statistics in) and the backward, each made on first use.
 */
final class BatchNormPlan implements AutoCloseable {
    private static final int SCALE_AND_SHIFT = dnnl.normalization_flags.use_scale.value
            | dnnl.normalization_flags.use_shift.value;
    private static final int GLOBAL_STATS = dnnl.normalization_flags.use_global_stats.value;
    private static final int FUSED_RELU = dnnl.normalization_flags.fuse_norm_relu.value;

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final BatchNormSpec spec;
    private final memory.desc data;
    private final memory.desc perChannel;
    private final int flags;
    private batch_normalization_forward.primitive_desc trainingDesc;
    private memory.desc workspace;
    private Step training;
    private Step inference;
    private Step backward;

    BatchNormPlan(DnnlContext context, BatchNormSpec s) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.spec = s;
        data = owned.md(memory.format_tag.nhwc, s.batch(), s.channels(), s.height(), s.width());
        perChannel = owned.md(memory.format_tag.x, s.channels());
        flags = SCALE_AND_SHIFT | (s.relu() ? FUSED_RELU : 0);
    }

    private batch_normalization_forward.primitive_desc trainingDesc() {
        if (trainingDesc == null) {
            trainingDesc = owned.own(new batch_normalization_forward.primitive_desc(context.engine,
                    dnnl.prop_kind.forward_training.value, data, data, spec.epsilon(), flags,
                    owned.attributes(Activation.LINEAR), false));
            memory.desc ws = owned.own(trainingDesc.workspace_desc());
            workspace = ws.get_size() > 0 ? ws : null;
        }
        return trainingDesc;
    }

    /** Floats the training forward's workspace takes (the fused ReLU's mask), 0 without one. */
    long workspaceFloats() {
        trainingDesc();
        return workspace == null ? 0 : (workspace.get_size() + Float.BYTES - 1) / Float.BYTES;
    }

    void forwardTraining(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor y, CpuTensor mean, CpuTensor variance,
                         CpuTensor ws) {
        if (training == null) {
            batch_normalization_forward.primitive_desc d = trainingDesc();
            Step step = withStatistics(new Step("batch-norm forward (training)", spec,
                    new batch_normalization_forward(d)), d.scratchpad_desc())
                    .arg(DNNL_ARG_SHIFT, perChannel, context.engine)
                    .arg(DNNL_ARG_SRC, data, context.engine)
                    .arg(DNNL_ARG_DST, data, context.engine);
            training = workspace != null ? step.arg(DNNL_ARG_WORKSPACE, workspace, context.engine) : step;
        }
        if (workspace != null) {
            training.bind(DNNL_ARG_WORKSPACE, ws.pointer());
        }
        training.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_SCALE, gamma.pointer())
                .bind(DNNL_ARG_SHIFT, beta.pointer()).bind(DNNL_ARG_MEAN, mean.pointer())
                .bind(DNNL_ARG_VARIANCE, variance.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    void forwardInference(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor mean, CpuTensor variance,
                          CpuTensor y) {
        if (inference == null) {
            batch_normalization_forward.primitive_desc d = owned.own(new batch_normalization_forward.primitive_desc(
                    context.engine, dnnl.prop_kind.forward_inference.value, data, data, spec.epsilon(),
                    flags | GLOBAL_STATS, owned.attributes(Activation.LINEAR), false));
            inference = withStatistics(new Step("batch-norm forward (inference)", spec,
                    new batch_normalization_forward(d)), d.scratchpad_desc())
                    .arg(DNNL_ARG_SHIFT, perChannel, context.engine)
                    .arg(DNNL_ARG_SRC, data, context.engine)
                    .arg(DNNL_ARG_DST, data, context.engine);
        }
        inference.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_SCALE, gamma.pointer())
                .bind(DNNL_ARG_SHIFT, beta.pointer()).bind(DNNL_ARG_MEAN, mean.pointer())
                .bind(DNNL_ARG_VARIANCE, variance.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    void backward(CpuTensor x, CpuTensor dy, CpuTensor gamma, CpuTensor mean, CpuTensor variance, CpuTensor ws,
                  CpuTensor dx, CpuTensor dGamma, CpuTensor dBeta) {
        if (backward == null) {
            batch_normalization_backward.primitive_desc d = owned.own(new batch_normalization_backward.primitive_desc(
                    context.engine, dnnl.prop_kind.backward.value, data, data, data, spec.epsilon(), flags,
                    trainingDesc(), owned.attributes(Activation.LINEAR), false));
            Step step = withStatistics(new Step("batch-norm backward", spec, new batch_normalization_backward(d)),
                    d.scratchpad_desc())
                    .arg(DNNL_ARG_SRC, data, context.engine)
                    .arg(DNNL_ARG_DIFF_DST, data, context.engine)
                    .arg(DNNL_ARG_DIFF_SRC, data, context.engine)
                    .arg(DNNL_ARG_DIFF_SCALE, perChannel, context.engine)
                    .arg(DNNL_ARG_DIFF_SHIFT, perChannel, context.engine);
            backward = workspace != null ? step.arg(DNNL_ARG_WORKSPACE, workspace, context.engine) : step;
        }
        if (workspace != null) {
            backward.bind(DNNL_ARG_WORKSPACE, ws.pointer());
        }
        backward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_SCALE, gamma.pointer()).bind(DNNL_ARG_MEAN, mean.pointer())
                .bind(DNNL_ARG_VARIANCE, variance.pointer()).bind(DNNL_ARG_DIFF_SRC, dx.pointer())
                .bind(DNNL_ARG_DIFF_SCALE, dGamma.pointer()).bind(DNNL_ARG_DIFF_SHIFT, dBeta.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    /** The per-channel arguments every direction has, and the scratchpad. */
    private Step withStatistics(Step step, memory.desc scratchpad) {
        context.reserveScratchpad(scratchpad);
        return step.arg(DNNL_ARG_SCALE, perChannel, context.engine)
                .arg(DNNL_ARG_MEAN, perChannel, context.engine)
                .arg(DNNL_ARG_VARIANCE, perChannel, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, scratchpad, context.engine);
    }

    @Override
    public void close() {
        Step.closeAll(training, inference, backward);
        owned.close();
    }
}
