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

/** Inner-product forward, backward-data and backward-weights for one {@link DenseSpec}; kernel kept as Keras' (in, out). */
final class DensePlan implements AutoCloseable {
    private final DnnlContext context;
    private final Step forward;
    private final Step backwardData;
    private final Step backwardWeights;
    private final WeightLayout forwardKernel;
    private final WeightLayout backwardDataKernel;
    private final WeightLayout kernelGradient;

    DensePlan(DnnlContext context, DenseSpec s) {
        this.context = context;
        memory.desc src = context.md(memory.format_tag.nc, s.batch(), s.inFeatures());
        memory.desc dst = context.md(memory.format_tag.nc, s.batch(), s.units());
        memory.desc bias = context.md(memory.format_tag.x, s.units());
        memory.desc kernelIo = context.md(memory.format_tag.io, s.units(), s.inFeatures());
        memory.desc kernelAny = context.anyFormat(s.units(), s.inFeatures());
        Activation fused = s.activation() == Activation.RELU ? Activation.RELU : Activation.LINEAR;

        inner_product_forward.primitive_desc fwd = context.own(new inner_product_forward.primitive_desc(
                context.engine, dnnl.prop_kind.forward_training, src, kernelAny, bias, dst,
                context.attributes(fused), false));
        forwardKernel = new WeightLayout(context, kernelIo, fwd.weights_desc(), WeightLayout.Direction.INTO_PRIMITIVE);
        forward = new Step("dense forward " + s, context.own(new inner_product_forward(fwd)))
                .arg(DNNL_ARG_SRC, src, context.engine)
                .fixedArg(DNNL_ARG_WEIGHTS, forwardKernel.primitiveMemory())
                .arg(DNNL_ARG_BIAS, bias, context.engine)
                .arg(DNNL_ARG_DST, dst, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, fwd.scratchpad_desc(), context.engine);
        context.reserveScratchpad(fwd.scratchpad_desc());

        inner_product_backward_data.primitive_desc bwdData = context.own(new inner_product_backward_data.primitive_desc(
                context.engine, src, kernelAny, dst, fwd, context.attributes(Activation.LINEAR), false));
        backwardDataKernel = new WeightLayout(context, kernelIo, bwdData.weights_desc(), WeightLayout.Direction.INTO_PRIMITIVE);
        backwardData = new Step("dense backward-data " + s, context.own(new inner_product_backward_data(bwdData)))
                .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                .fixedArg(DNNL_ARG_WEIGHTS, backwardDataKernel.primitiveMemory())
                .arg(DNNL_ARG_DIFF_SRC, src, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, bwdData.scratchpad_desc(), context.engine);
        context.reserveScratchpad(bwdData.scratchpad_desc());

        inner_product_backward_weights.primitive_desc bwdWeights = context.own(
                new inner_product_backward_weights.primitive_desc(context.engine, src, kernelAny, bias, dst, fwd,
                        context.attributes(Activation.LINEAR), false));
        kernelGradient = new WeightLayout(context, kernelIo, bwdWeights.diff_weights_desc(),
                WeightLayout.Direction.OUT_OF_PRIMITIVE);
        backwardWeights = new Step("dense backward-weights " + s,
                context.own(new inner_product_backward_weights(bwdWeights)))
                .arg(DNNL_ARG_SRC, src, context.engine)
                .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                .fixedArg(DNNL_ARG_DIFF_WEIGHTS, kernelGradient.primitiveMemory())
                .arg(DNNL_ARG_DIFF_BIAS, bias, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, bwdWeights.scratchpad_desc(), context.engine);
        context.reserveScratchpad(bwdWeights.scratchpad_desc());
    }

    void forward(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor y) {
        forwardKernel.bind(kernel);
        forwardKernel.reorder();
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_BIAS, bias.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardData(CpuTensor dy, CpuTensor kernel, CpuTensor dx) {
        backwardDataKernel.bind(kernel);
        backwardDataKernel.reorder();
        backwardData.bind(DNNL_ARG_DIFF_DST, dy.pointer()).bind(DNNL_ARG_DIFF_SRC, dx.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardWeights(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        kernelGradient.bind(dKernel);
        backwardWeights.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_DIFF_BIAS, dBias.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
        kernelGradient.reorder();
    }

    @Override
    public void close() {
        forward.close();
        backwardData.close();
        backwardWeights.close();
        forwardKernel.close();
        backwardDataKernel.close();
        kernelGradient.close();
    }
}
