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

import dev.osprey.Activation;
import dev.osprey.backend.BatchNormSpec;
import org.bytedeco.dnnl.batch_normalization_backward;
import org.bytedeco.dnnl.batch_normalization_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Batch normalization for one {@link BatchNormSpec}, NHWC, with scale (gamma) and shift (beta): the training forward
 * (batch statistics out), the inference forward (moving statistics in) and the backward, each made on first use.
 */
final class BatchNormPlan implements AutoCloseable {
    private static final int SCALE_AND_SHIFT = dnnl.normalization_flags.use_scale.value
            | dnnl.normalization_flags.use_shift.value;
    private static final int GLOBAL_STATS = dnnl.normalization_flags.use_global_stats.value;

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final BatchNormSpec spec;
    private final memory.desc data;
    private final memory.desc perChannel;
    private batch_normalization_forward.primitive_desc trainingDesc;
    private Step training;
    private Step inference;
    private Step backward;

    BatchNormPlan(DnnlContext context, BatchNormSpec s) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.spec = s;
        data = owned.md(memory.format_tag.nhwc, s.batch(), s.channels(), s.height(), s.width());
        perChannel = owned.md(memory.format_tag.x, s.channels());
    }

    void forwardTraining(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor y, CpuTensor mean, CpuTensor variance) {
        if (training == null) {
            trainingDesc = owned.own(new batch_normalization_forward.primitive_desc(context.engine,
                    dnnl.prop_kind.forward_training.value, data, data, spec.epsilon(), SCALE_AND_SHIFT,
                    owned.attributes(Activation.LINEAR), false));
            training = withStatistics(new Step("batch-norm forward (training) " + spec,
                    new batch_normalization_forward(trainingDesc)), trainingDesc.scratchpad_desc())
                    .arg(DNNL_ARG_SHIFT, perChannel, context.engine)
                    .arg(DNNL_ARG_SRC, data, context.engine)
                    .arg(DNNL_ARG_DST, data, context.engine);
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
                    SCALE_AND_SHIFT | GLOBAL_STATS, owned.attributes(Activation.LINEAR), false));
            inference = withStatistics(new Step("batch-norm forward (inference) " + spec,
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

    void backward(CpuTensor x, CpuTensor dy, CpuTensor gamma, CpuTensor mean, CpuTensor variance, CpuTensor dx,
                  CpuTensor dGamma, CpuTensor dBeta) {
        if (backward == null) {
            if (trainingDesc == null) {
                trainingDesc = owned.own(new batch_normalization_forward.primitive_desc(context.engine,
                        dnnl.prop_kind.forward_training.value, data, data, spec.epsilon(), SCALE_AND_SHIFT,
                        owned.attributes(Activation.LINEAR), false));
            }
            batch_normalization_backward.primitive_desc d = owned.own(new batch_normalization_backward.primitive_desc(
                    context.engine, dnnl.prop_kind.backward.value, data, data, data, spec.epsilon(), SCALE_AND_SHIFT,
                    trainingDesc, owned.attributes(Activation.LINEAR), false));
            backward = withStatistics(new Step("batch-norm backward " + spec, new batch_normalization_backward(d)),
                    d.scratchpad_desc())
                    .arg(DNNL_ARG_SRC, data, context.engine)
                    .arg(DNNL_ARG_DIFF_DST, data, context.engine)
                    .arg(DNNL_ARG_DIFF_SRC, data, context.engine)
                    .arg(DNNL_ARG_DIFF_SCALE, perChannel, context.engine)
                    .arg(DNNL_ARG_DIFF_SHIFT, perChannel, context.engine);
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
