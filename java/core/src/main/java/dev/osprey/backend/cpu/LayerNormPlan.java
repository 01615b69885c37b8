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
import dev.osprey.backend.LayerNormSpec;
import org.bytedeco.dnnl.layer_normalization_backward;
import org.bytedeco.dnnl.layer_normalization_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Layer normalization for one {@link LayerNormSpec} through oneDNN's primitive, with scale (gamma) and shift (beta):
 * the training forward (each row's mean and variance out, for the backward), the inference forward (nothing kept)
 * and the backward, each made on first use.
 */
final class LayerNormPlan implements AutoCloseable {
    private static final int SCALE_AND_SHIFT = dnnl.normalization_flags.use_scale.value
            | dnnl.normalization_flags.use_shift.value;

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final LayerNormSpec spec;
    private final memory.desc data;
    private final memory.desc perRow;
    private final memory.desc perColumn;
    private layer_normalization_forward.primitive_desc trainingDesc;
    private Step training;
    private Step inference;
    private Step backward;
    /** The OpenMP team this plan's primitives are made for, those made on first use too (see OpenMpTeam). */
    private final int team = OpenMpTeam.current();

    LayerNormPlan(DnnlContext context, LayerNormSpec spec) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.spec = spec;
        data = owned.md(memory.format_tag.ab, spec.rows(), spec.width());
        perRow = owned.md(memory.format_tag.a, spec.rows());
        perColumn = owned.md(memory.format_tag.a, spec.width());
    }

    private layer_normalization_forward.primitive_desc trainingDesc() {
        if (trainingDesc == null) {
            trainingDesc = owned.own(new layer_normalization_forward.primitive_desc(context.engine,
                    dnnl.prop_kind.forward_training.value, data, data, perRow, spec.epsilon(), SCALE_AND_SHIFT,
                    owned.attributes(Activation.LINEAR), false));
        }
        return trainingDesc;
    }

    void forwardTraining(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor y, CpuTensor mean,
                         CpuTensor variance) {
        if (training == null) {
            training = OpenMpTeam.sized(team, () -> {
                layer_normalization_forward.primitive_desc d = trainingDesc();
                return withScaleShift(new Step("layer-norm forward (training)", spec,
                        new layer_normalization_forward(d)), d.scratchpad_desc())
                        .arg(DNNL_ARG_DST, data, context.engine)
                        .arg(DNNL_ARG_MEAN, perRow, context.engine)
                        .arg(DNNL_ARG_VARIANCE, perRow, context.engine);
            });
        }
        training.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_SCALE, gamma.pointer())
                .bind(DNNL_ARG_SHIFT, beta.pointer()).bind(DNNL_ARG_MEAN, mean.pointer())
                .bind(DNNL_ARG_VARIANCE, variance.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    void forwardInference(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor y) {
        if (inference == null) {
            inference = OpenMpTeam.sized(team, () -> {
                layer_normalization_forward.primitive_desc d = owned.own(
                        new layer_normalization_forward.primitive_desc(context.engine,
                                dnnl.prop_kind.forward_inference.value, data, data, perRow, spec.epsilon(),
                                SCALE_AND_SHIFT, owned.attributes(Activation.LINEAR), false));
                return withScaleShift(new Step("layer-norm forward (inference)", spec,
                        new layer_normalization_forward(d)), d.scratchpad_desc())
                        .arg(DNNL_ARG_DST, data, context.engine);
            });
        }
        inference.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_SCALE, gamma.pointer())
                .bind(DNNL_ARG_SHIFT, beta.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
    }

    void backward(CpuTensor x, CpuTensor dy, CpuTensor gamma, CpuTensor mean, CpuTensor variance, CpuTensor dx,
                  CpuTensor dGamma, CpuTensor dBeta) {
        if (backward == null) {
            backward = OpenMpTeam.sized(team, () -> {
                layer_normalization_backward.primitive_desc d = owned.own(
                        new layer_normalization_backward.primitive_desc(context.engine, dnnl.prop_kind.backward.value,
                                data, data, data, perRow, spec.epsilon(), SCALE_AND_SHIFT, trainingDesc(),
                                owned.attributes(Activation.LINEAR), false));
                context.reserveScratchpad(d.scratchpad_desc());
                return new Step("layer-norm backward", spec, new layer_normalization_backward(d))
                        .arg(DNNL_ARG_SRC, data, context.engine)
                        .arg(DNNL_ARG_DIFF_DST, data, context.engine)
                        .arg(DNNL_ARG_SCALE, perColumn, context.engine)
                        .arg(DNNL_ARG_MEAN, perRow, context.engine)
                        .arg(DNNL_ARG_VARIANCE, perRow, context.engine)
                        .arg(DNNL_ARG_DIFF_SRC, data, context.engine)
                        .arg(DNNL_ARG_DIFF_SCALE, perColumn, context.engine)
                        .arg(DNNL_ARG_DIFF_SHIFT, perColumn, context.engine)
                        .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            });
        }
        backward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_SCALE, gamma.pointer()).bind(DNNL_ARG_MEAN, mean.pointer())
                .bind(DNNL_ARG_VARIANCE, variance.pointer()).bind(DNNL_ARG_DIFF_SRC, dx.pointer())
                .bind(DNNL_ARG_DIFF_SCALE, dGamma.pointer()).bind(DNNL_ARG_DIFF_SHIFT, dBeta.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    /** The source, scale and shift every forward has, and the scratchpad. */
    private Step withScaleShift(Step step, memory.desc scratchpad) {
        context.reserveScratchpad(scratchpad);
        return step.arg(DNNL_ARG_SRC, data, context.engine)
                .arg(DNNL_ARG_SCALE, perColumn, context.engine)
                .arg(DNNL_ARG_SHIFT, perColumn, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, scratchpad, context.engine);
    }

    @Override
    public void close() {
        Step.closeAll(training, inference, backward);
        owned.close();
    }
}
