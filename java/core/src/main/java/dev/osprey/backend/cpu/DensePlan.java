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
import dev.osprey.Precision;
import dev.osprey.backend.DenseSpec;
import org.bytedeco.dnnl.inner_product_backward_data;
import org.bytedeco.dnnl.inner_product_backward_weights;
import org.bytedeco.dnnl.inner_product_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Inner-product forward, backward-data and backward-weights for one {@link DenseSpec} (the backward ones made on
 * first use); the kernel is kept as Keras' (in, out). Mixed precision (math bf16) as in {@link ConvPlan}: bf16
 * operands converted per call where the CPU has bf16 kernels, else fp32 with oneDNN allowed to round.
 */
final class DensePlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final DenseSpec spec;
    private final memory.desc src;
    private final memory.desc dst;
    private final memory.desc srcRead;
    private final memory.desc dstRead;
    private final memory.desc bias;
    private final memory.desc kernelIo;
    private final memory.desc kernelAny;
    private final memory.desc kernelGradientAny;
    private final boolean bf16;
    private final Bf16Conversion inputToBf16;
    private final Bf16Conversion gradientToBf16;
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
        this.bf16 = s.math() == Precision.BF16 && context.bf16Kernels;
        memory.data_type operands = bf16 ? memory.data_type.bf16 : memory.data_type.f32;
        src = owned.md(memory.format_tag.nc, s.batch(), s.inFeatures());
        dst = owned.md(memory.format_tag.nc, s.batch(), s.units());
        srcRead = bf16 ? owned.md(operands, memory.format_tag.nc, s.batch(), s.inFeatures()) : src;
        dstRead = bf16 ? owned.md(operands, memory.format_tag.nc, s.batch(), s.units()) : dst;
        bias = owned.md(memory.format_tag.x, s.units());
        kernelIo = owned.md(memory.format_tag.io, s.units(), s.inFeatures());
        kernelAny = owned.md(operands, memory.format_tag.any, s.units(), s.inFeatures());
        kernelGradientAny = bf16 ? owned.anyFormat(s.units(), s.inFeatures()) : kernelAny;
        Bf16Conversion input = null;
        Bf16Conversion gradient = null;
        try {
            if (bf16) {
                input = new Bf16Conversion(context, s, src, srcRead, Bf16Conversion.Scratch.INPUT);
                gradient = new Bf16Conversion(context, s, dst, dstRead, Bf16Conversion.Scratch.GRADIENT);
            }
            forwardDesc = owned.own(new inner_product_forward.primitive_desc(context.engine,
                    dnnl.prop_kind.forward_training, srcRead, kernelAny, bias, dst,
                    owned.attributes(s.activation(), s.math()), false));
            forwardKernel = new WeightLayout(context, kernelIo, forwardDesc.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            forward = new Step("dense forward", s, new inner_product_forward(forwardDesc))
                    .arg(DNNL_ARG_SRC, srcRead, context.engine)
                    .fixedArg(DNNL_ARG_WEIGHTS, forwardKernel.primitiveMemory())
                    .arg(DNNL_ARG_BIAS, bias, context.engine)
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, forwardDesc.scratchpad_desc(), context.engine);
            context.reserveScratchpad(forwardDesc.scratchpad_desc());
        } catch (RuntimeException e) {
            Bf16Conversion.closeAll(input, gradient);
            close();
            throw e;
        }
        this.inputToBf16 = input;
        this.gradientToBf16 = gradient;
    }

    void forward(CpuTensor x, CpuTensor kernel, CpuTensor b, CpuTensor y) {
        forwardKernel.bind(kernel);
        forwardKernel.reorder();
        forward.bind(DNNL_ARG_SRC, Bf16Conversion.read(inputToBf16, x)).bind(DNNL_ARG_BIAS, b.pointer())
                .bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardData(CpuTensor dy, CpuTensor kernel, CpuTensor dx) {
        if (backwardData == null) {
            inner_product_backward_data.primitive_desc d = backwardDataDesc = owned.own(
                    new inner_product_backward_data.primitive_desc(context.engine, src, kernelAny, dstRead,
                            forwardDesc, owned.attributes(Activation.LINEAR, spec.math()), false));
            backwardDataKernel = new WeightLayout(context, kernelIo, d.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            backwardData = new Step("dense backward-data", spec, new inner_product_backward_data(d))
                    .arg(DNNL_ARG_DIFF_DST, dstRead, context.engine)
                    .fixedArg(DNNL_ARG_WEIGHTS, backwardDataKernel.primitiveMemory())
                    .arg(DNNL_ARG_DIFF_SRC, src, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
        }
        backwardDataKernel.bind(kernel);
        backwardDataKernel.reorder();
        backwardData.bind(DNNL_ARG_DIFF_DST, Bf16Conversion.read(gradientToBf16, dy))
                .bind(DNNL_ARG_DIFF_SRC, dx.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardWeights(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        if (backwardWeights == null) {
            inner_product_backward_weights.primitive_desc d = backwardWeightsDesc = owned.own(
                    new inner_product_backward_weights.primitive_desc(context.engine, srcRead, kernelGradientAny,
                            bias, dstRead, forwardDesc, owned.attributes(Activation.LINEAR, spec.math()), false));
            kernelGradient = new WeightLayout(context, kernelIo, d.diff_weights_desc(),
                    WeightLayout.Direction.OUT_OF_PRIMITIVE);
            backwardWeights = new Step("dense backward-weights", spec, new inner_product_backward_weights(d))
                    .arg(DNNL_ARG_SRC, srcRead, context.engine)
                    .arg(DNNL_ARG_DIFF_DST, dstRead, context.engine)
                    .fixedArg(DNNL_ARG_DIFF_WEIGHTS, kernelGradient.primitiveMemory())
                    .arg(DNNL_ARG_DIFF_BIAS, bias, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
        }
        kernelGradient.bind(dKernel);
        backwardWeights.bind(DNNL_ARG_SRC, Bf16Conversion.read(inputToBf16, x))
                .bind(DNNL_ARG_DIFF_DST, Bf16Conversion.read(gradientToBf16, dy))
                .bind(DNNL_ARG_DIFF_BIAS, dBias.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
        kernelGradient.reorder();
    }

    /** Whether the primitives read bf16 operands (mixed precision on a CPU with bf16 kernels). */
    boolean readsBf16() {
        return bf16;
    }

    /** The fpmath mode of each oneDNN primitive made so far, forward first: what its products may round to. */
    java.util.List<dnnl.fpmath_mode> mathModes() {
        return DnnlContext.mathModes(forwardDesc, backwardDataDesc, backwardWeightsDesc);
    }

    @Override
    public void close() {
        Step.closeAll(forward, backwardData, backwardWeights);
        WeightLayout.closeAll(forwardKernel, backwardDataKernel, kernelGradient);
        Bf16Conversion.closeAll(inputToBf16, gradientToBf16);
        owned.close();
    }
}
