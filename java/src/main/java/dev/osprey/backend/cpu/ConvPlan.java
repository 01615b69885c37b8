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
 * The three convolution primitives for one {@link Conv2dSpec}. Activations are NHWC (oneDNN's brgemm kernels
 * read it natively, so no reorder surrounds a call); the kernel is kept by the model in Keras' HWIO layout and
 * reordered here into whatever layout each primitive chose (a few hundred KB at most).
 */
final class ConvPlan implements AutoCloseable {
    private final DnnlContext context;
    private final Step forward;
    private final Step backwardData;
    private final Step backwardFilter;
    private final WeightLayout forwardKernel;
    private final WeightLayout backwardDataKernel;
    private final WeightLayout filterGradient;
    final String implementation;

    ConvPlan(DnnlContext context, Conv2dSpec s) {
        this.context = context;
        long[] strides = {s.strideH(), s.strideW()};
        long[] padL = {s.padTop(), s.padLeft()};
        long[] padR = {s.padBottom(), s.padRight()};
        memory.desc src = context.md(memory.format_tag.nhwc, s.batch(), s.inC(), s.inH(), s.inW());
        memory.desc dst = context.md(memory.format_tag.nhwc, s.batch(), s.filters(), s.outH(), s.outW());
        memory.desc bias = context.md(memory.format_tag.x, s.filters());
        memory.desc kernelHwio = context.md(memory.format_tag.hwio, s.filters(), s.inC(), s.kernelH(), s.kernelW());
        memory.desc kernelAny = context.anyFormat(s.filters(), s.inC(), s.kernelH(), s.kernelW());

        convolution_forward.primitive_desc fwd = context.own(new convolution_forward.primitive_desc(context.engine,
                dnnl.prop_kind.forward_training, dnnl.algorithm.convolution_direct, src, kernelAny, bias, dst,
                strides, padL, padR, context.attributes(s.activation()), false));
        implementation = fwd.impl_info_str().getString();
        forwardKernel = new WeightLayout(context, kernelHwio, fwd.weights_desc(), WeightLayout.Direction.INTO_PRIMITIVE);
        forward = new Step("conv2d forward " + s, context.own(new convolution_forward(fwd)))
                .arg(DNNL_ARG_SRC, src, context.engine)
                .fixedArg(DNNL_ARG_WEIGHTS, forwardKernel.primitiveMemory())
                .arg(DNNL_ARG_BIAS, bias, context.engine)
                .arg(DNNL_ARG_DST, dst, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, fwd.scratchpad_desc(), context.engine);
        context.reserveScratchpad(fwd.scratchpad_desc());

        convolution_backward_data.primitive_desc bwdData = context.own(new convolution_backward_data.primitive_desc(
                context.engine, dnnl.algorithm.convolution_direct, src, kernelAny, dst, strides, padL, padR, fwd,
                context.attributes(Activation.LINEAR), false));
        backwardDataKernel = new WeightLayout(context, kernelHwio, bwdData.weights_desc(), WeightLayout.Direction.INTO_PRIMITIVE);
        backwardData = new Step("conv2d backward-data " + s, context.own(new convolution_backward_data(bwdData)))
                .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                .fixedArg(DNNL_ARG_WEIGHTS, backwardDataKernel.primitiveMemory())
                .arg(DNNL_ARG_DIFF_SRC, src, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, bwdData.scratchpad_desc(), context.engine);
        context.reserveScratchpad(bwdData.scratchpad_desc());

        convolution_backward_weights.primitive_desc bwdWeights = context.own(
                new convolution_backward_weights.primitive_desc(context.engine, dnnl.algorithm.convolution_direct,
                        src, kernelAny, bias, dst, strides, padL, padR, fwd, context.attributes(Activation.LINEAR), false));
        filterGradient = new WeightLayout(context, kernelHwio, bwdWeights.diff_weights_desc(), WeightLayout.Direction.OUT_OF_PRIMITIVE);
        backwardFilter = new Step("conv2d backward-filter " + s, context.own(new convolution_backward_weights(bwdWeights)))
                .arg(DNNL_ARG_SRC, src, context.engine)
                .arg(DNNL_ARG_DIFF_DST, dst, context.engine)
                .fixedArg(DNNL_ARG_DIFF_WEIGHTS, filterGradient.primitiveMemory())
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

    void backwardFilter(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        filterGradient.bind(dKernel);
        backwardFilter.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DIFF_DST, dy.pointer())
                .bind(DNNL_ARG_DIFF_BIAS, dBias.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
        filterGradient.reorder();
    }

    @Override
    public void close() {
        forward.close();
        backwardData.close();
        backwardFilter.close();
        forwardKernel.close();
        backwardDataKernel.close();
        filterGradient.close();
    }
}
