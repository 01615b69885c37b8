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
import dev.osprey.backend.Conv2dSpec;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * The three convolution primitives for one {@link Conv2dSpec}, each made on first use (an inference plan never makes
 * the backward ones). Activations are NHWC (oneDNN's brgemm kernels read it natively, so no reorder surrounds a
 * call); the kernel is kept by the model in Keras' layout, (kh, kw, in / groups, out), which is oneDNN's hwio, or
 * hwigo once the groups are split out, and reordered here into whatever layout each primitive chose.
 */
final class ConvPlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Conv2dSpec spec;
    private final long[] strides;
    private final long[] dilates;
    private final long[] padL;
    private final long[] padR;
    private final memory.desc src;
    private final memory.desc dst;
    private final memory.desc bias;
    private final memory.desc kernelKeras;
    private final memory.desc kernelAny;
    private final convolution_forward.primitive_desc forwardDesc;
    private final Step forward;
    private final WeightLayout forwardKernel;
    private convolution_backward_data.primitive_desc backwardDataDesc;
    private convolution_backward_weights.primitive_desc backwardFilterDesc;
    private Step backwardData;
    private WeightLayout backwardDataKernel;
    private Step backwardFilter;
    private WeightLayout filterGradient;
    private DepthwiseFilterGradient ownFilterGradient; // where oneDNN has no depthwise kernel for the shape
    final String implementation;

    ConvPlan(DnnlContext context, Conv2dSpec s) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.spec = s;
        strides = new long[] {s.strideH(), s.strideW()};
        dilates = new long[] {s.dilationH() - 1, s.dilationW() - 1};
        padL = new long[] {s.padTop(), s.padLeft()};
        padR = new long[] {s.padBottom(), s.padRight()};
        src = owned.md(memory.format_tag.nhwc, s.batch(), s.inC(), s.inH(), s.inW());
        dst = owned.md(memory.format_tag.nhwc, s.batch(), s.filters(), s.outH(), s.outW());
        bias = s.hasBias() ? owned.md(memory.format_tag.x, s.filters()) : null;
        int g = s.groups();
        if (g == 1) {
            kernelKeras = owned.md(memory.format_tag.hwio, s.filters(), s.inC(), s.kernelH(), s.kernelW());
            kernelAny = owned.anyFormat(s.filters(), s.inC(), s.kernelH(), s.kernelW());
        } else {
            kernelKeras = owned.md(memory.format_tag.hwigo, g, s.filters() / g, s.inC() / g, s.kernelH(), s.kernelW());
            kernelAny = owned.anyFormat(g, s.filters() / g, s.inC() / g, s.kernelH(), s.kernelW());
        }
        try {
            forwardDesc = owned.own(bias != null
                    ? new convolution_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_training,
                            dnnl.algorithm.convolution_direct, src, kernelAny, bias, dst, strides, dilates, padL, padR,
                            owned.attributes(s.activation(), s.math()), false)
                    : new convolution_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_training,
                            dnnl.algorithm.convolution_direct, src, kernelAny, dst, strides, dilates, padL, padR,
                            owned.attributes(s.activation(), s.math()), false));
            implementation = forwardDesc.impl_info_str().getString();
            forwardKernel = new WeightLayout(context, kernelKeras, forwardDesc.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            Step f = new Step("conv2d forward", s, new convolution_forward(forwardDesc))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .fixedArg(DNNL_ARG_WEIGHTS, forwardKernel.primitiveMemory())
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, forwardDesc.scratchpad_desc(), context.engine);
            forward = bias != null ? f.arg(DNNL_ARG_BIAS, bias, context.engine) : f;
            context.reserveScratchpad(forwardDesc.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    void forward(CpuTensor x, CpuTensor kernel, CpuTensor b, CpuTensor y) {
        forwardKernel.bind(kernel);
        forwardKernel.reorder();
        if (b != null) {
            forward.bind(DNNL_ARG_BIAS, b.pointer());
        }
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardData(CpuTensor dy, CpuTensor kernel, CpuTensor dx) {
        if (backwardData == null) {
            convolution_backward_data.primitive_desc d = backwardDataDesc = owned.own(
                    new convolution_backward_data.primitive_desc(
                    context.engine, dnnl.algorithm.convolution_direct, src, kernelAny, dst, strides, dilates, padL,
                    padR, forwardDesc, owned.attributes(Activation.LINEAR, spec.math()), false));
            backwardDataKernel = new WeightLayout(context, kernelKeras, d.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            backwardData = new Step("conv2d backward-data", spec, new convolution_backward_data(d))
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

    void backwardFilter(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        if (ownFilterGradient != null) {
            ownFilterGradient.run(x.buffer(), dy.buffer(), dKernel.buffer(), dBias == null ? null : dBias.buffer());
            return;
        }
        if (backwardFilter == null) {
            convolution_backward_weights.primitive_desc d = backwardFilterDesc = owned.own(bias != null
                    ? new convolution_backward_weights.primitive_desc(context.engine, dnnl.algorithm.convolution_direct,
                            src, kernelAny, bias, dst, strides, dilates, padL, padR, forwardDesc,
                            owned.attributes(Activation.LINEAR, spec.math()), false)
                    : new convolution_backward_weights.primitive_desc(context.engine, dnnl.algorithm.convolution_direct,
                            src, kernelAny, dst, strides, dilates, padL, padR, forwardDesc,
                            owned.attributes(Activation.LINEAR, spec.math()), false));
            if (DepthwiseFilterGradient.fits(spec) && !d.impl_info_str().getString().startsWith("jit_dw")) {
                ownFilterGradient = new DepthwiseFilterGradient(spec);
                backwardFilter(x, dy, dKernel, dBias);
                return;
            }
            filterGradient = new WeightLayout(context, kernelKeras, d.diff_weights_desc(),
                    WeightLayout.Direction.OUT_OF_PRIMITIVE);
            Step step = new Step("conv2d backward-filter", spec, new convolution_backward_weights(d))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                    .fixedArg(DNNL_ARG_DIFF_WEIGHTS, filterGradient.primitiveMemory())
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            backwardFilter = bias != null ? step.arg(DNNL_ARG_DIFF_BIAS, bias, context.engine) : step;
            context.reserveScratchpad(d.scratchpad_desc());
        }
        filterGradient.bind(dKernel);
        if (dBias != null) {
            backwardFilter.bind(DNNL_ARG_DIFF_BIAS, dBias.pointer());
        }
        backwardFilter.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
        filterGradient.reorder();
    }

    /** The fpmath mode of each oneDNN primitive made so far, forward first: what its products may round to. */
    java.util.List<dnnl.fpmath_mode> mathModes() {
        return DnnlContext.mathModes(forwardDesc, backwardDataDesc, backwardFilterDesc);
    }

    @Override
    public void close() {
        Step.closeAll(forward, backwardData, backwardFilter);
        WeightLayout.closeAll(forwardKernel, backwardDataKernel, filterGradient);
        owned.close();
    }
}
