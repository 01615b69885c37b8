package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

import dev.osprey.Activation;
import dev.osprey.backend.DenseSpec;
import org.bytedeco.dnnl.inner_product_backward_data;
import org.bytedeco.dnnl.inner_product_backward_weights;
import org.bytedeco.dnnl.inner_product_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Inner-product forward, backward-data and backward-weights for one {@link DenseSpec} (the backward ones made on
 * first use); the kernel is kept as Keras' (in, out).
 */
final class DensePlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final DenseSpec spec;
    private final memory.desc src;
    private final memory.desc dst;
    private final memory.desc bias;
    private final memory.desc kernelIo;
    private final memory.desc kernelAny;
    private final inner_product_forward.primitive_desc forwardDesc;
    private final Step forward;
    private final WeightLayout forwardKernel;
    private inner_product_backward_data.primitive_desc backwardDataDesc;
    private inner_product_backward_weights.primitive_desc backwardWeightsDesc;
    private Step backwardData;
    private WeightLayout backwardDataKernel;
    private Step backwardWeights;
    private WeightLayout kernelGradient;

    DensePlan(DnnlContext context, DenseSpec s) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.spec = s;
        src = owned.md(memory.format_tag.nc, s.batch(), s.inFeatures());
        dst = owned.md(memory.format_tag.nc, s.batch(), s.units());
        bias = owned.md(memory.format_tag.x, s.units());
        kernelIo = owned.md(memory.format_tag.io, s.units(), s.inFeatures());
        kernelAny = owned.anyFormat(s.units(), s.inFeatures());
        try {
            forwardDesc = owned.own(new inner_product_forward.primitive_desc(context.engine,
                    dnnl.prop_kind.forward_training, src, kernelAny, bias, dst, owned.attributes(s.activation(), s.math()),
                    false));
            forwardKernel = new WeightLayout(context, kernelIo, forwardDesc.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            forward = new Step("dense forward", s, new inner_product_forward(forwardDesc))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .fixedArg(DNNL_ARG_WEIGHTS, forwardKernel.primitiveMemory())
                    .arg(DNNL_ARG_BIAS, bias, context.engine)
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, forwardDesc.scratchpad_desc(), context.engine);
            context.reserveScratchpad(forwardDesc.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    void forward(CpuTensor x, CpuTensor kernel, CpuTensor b, CpuTensor y) {
        forwardKernel.bind(kernel);
        forwardKernel.reorder();
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_BIAS, b.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardData(CpuTensor dy, CpuTensor kernel, CpuTensor dx) {
        if (backwardData == null) {
            inner_product_backward_data.primitive_desc d = backwardDataDesc = owned.own(
                    new inner_product_backward_data.primitive_desc(context.engine, src, kernelAny, dst, forwardDesc,
                            owned.attributes(Activation.LINEAR, spec.math()), false));
            backwardDataKernel = new WeightLayout(context, kernelIo, d.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            backwardData = new Step("dense backward-data", spec, new inner_product_backward_data(d))
                    .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                    .fixedArg(DNNL_ARG_WEIGHTS, backwardDataKernel.primitiveMemory())
                    .arg(DNNL_ARG_DIFF_SRC, src, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
        }
        backwardDataKernel.bind(kernel);
        backwardDataKernel.reorder();
        backwardData.bind(DNNL_ARG_DIFF_DST, dy.pointer()).bind(DNNL_ARG_DIFF_SRC, dx.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardWeights(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        if (backwardWeights == null) {
            inner_product_backward_weights.primitive_desc d = backwardWeightsDesc = owned.own(
                    new inner_product_backward_weights.primitive_desc(context.engine, src, kernelAny, bias, dst,
                            forwardDesc, owned.attributes(Activation.LINEAR, spec.math()), false));
            kernelGradient = new WeightLayout(context, kernelIo, d.diff_weights_desc(),
                    WeightLayout.Direction.OUT_OF_PRIMITIVE);
            backwardWeights = new Step("dense backward-weights", spec, new inner_product_backward_weights(d))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                    .fixedArg(DNNL_ARG_DIFF_WEIGHTS, kernelGradient.primitiveMemory())
                    .arg(DNNL_ARG_DIFF_BIAS, bias, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
        }
        kernelGradient.bind(dKernel);
        backwardWeights.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_DIFF_BIAS, dBias.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
        kernelGradient.reorder();
    }

    /** The fpmath mode of each oneDNN primitive made so far, forward first: what its products may round to. */
    java.util.List<dnnl.fpmath_mode> mathModes() {
        return DnnlContext.mathModes(forwardDesc, backwardDataDesc, backwardWeightsDesc);
    }

    @Override
    public void close() {
        Step.closeAll(forward, backwardData, backwardWeights);
        WeightLayout.closeAll(forwardKernel, backwardDataKernel, kernelGradient);
        owned.close();
    }
}
