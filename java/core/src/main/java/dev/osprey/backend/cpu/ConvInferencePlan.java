package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_ATTR_POST_OP_DW;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_ATTR_SCALES;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import java.util.function.Supplier;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * A convolution for inference plans: oneDNN's forward_inference primitive reading its kernel in the layout (and
 * number format) it chose, prepared once by {@link #prepare} (a reorder from Keras' fp32 layout), so a call reorders
 * no weights. The activation, and where asked a residual of the output's shape added before it, run as post-ops inside
 * the convolution. In bf16 the fp32 input is converted into the context's input scratch first (one reorder), the
 * products are bf16 with fp32 sums, and the output, bias and residual stay fp32. In int8 the input is mapped onto 8
 * bits by its calibrated range (one reorder), the kernel onto signed 8 bits with a scale per output channel (kept
 * after it in the prepared tensor), and the convolution rescales its 32-bit sums to fp32 before bias and post-ops.
 * An int8 convolution handed 8-bit activations by the one before reads them as they are (no conversion), and one that
 * hands its output over writes it mapped onto 8 bits by its readers' range, after bias and post-ops. A residual
 * handed over in 8 bits is added in its own units: the sums are divided by its step first, and the result multiplied
 * back (or the output's scale divided by the step), which the activation allows (ConvInference.scaleInvariant).
 */
final class ConvInferencePlan implements InferenceConv {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final ConvInference op;
    private final Step forward;
    private final InferenceOperands.PreparedKernel kernel;
    private final InferenceOperands.Input input;
    /** Floats of the prepared kernel; 0 when the primitive reads Keras' layout (no copy is made). */
    final long preparedFloats;
    private final InferenceOperands.PreparedKernel depthwiseKernel; // the fused depthwise convolution's, or null
    /** Floats of the prepared depthwise kernel of a fused op (0: Keras' layout, or no depthwise convolution). */
    final long depthwiseFloats;
    final String implementation;
    private final boolean int8;
    private final org.bytedeco.javacpp.FloatPointer outputScale; // the output's real value per 8-bit step, or null
    private final int residualArg; // the residual's argument: post-op 0, or 1 after the 8-bit residual's scaling

    /** A plan for op, on the kernel kernels prefers. */
    ConvInferencePlan(DnnlContext context, ConvInference op, PreferredKernels kernels) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.op = op;
        Conv2dSpec s = op.spec();
        boolean int8 = op.precision() == Precision.INT8;
        memory.data_type compute = op.precision() == Precision.BF16 ? memory.data_type.bf16 : memory.data_type.f32;
        memory.data_type source = int8 ? (op.inputRange().unsigned() ? memory.data_type.u8 : memory.data_type.s8)
                : compute;
        memory.data_type weights = int8 ? memory.data_type.s8 : compute;
        Conv2dSpec dw = op.depthwise();
        // a depthwise convolution after it needs the images as they are: a pointwise one is not folded then
        ConvGeometry geometry = dw == null ? ConvGeometry.of(s) : ConvGeometry.unfolded(s);
        long[] strides = geometry.strides();
        long[] dilates = geometry.dilates();
        long[] padL = geometry.padL();
        long[] padR = geometry.padR();
        memory.desc fp32 = owned.md(memory.format_tag.nhwc, geometry.input(s.inC()));
        memory.desc src = owned.md(source, memory.format_tag.nhwc, geometry.input(s.inC()));
        // with a depthwise post-op the primitive is described with the pointwise output, and writes the depthwise's
        memory.desc fp32Output = owned.md(memory.format_tag.nhwc, geometry.output(s.filters()));
        memory.desc dst = op.quantizedOutput()
                ? owned.md(op.outputRange().unsigned() ? memory.data_type.u8 : memory.data_type.s8,
                        memory.format_tag.nhwc, geometry.output(s.filters()))
                : fp32Output;
        // an 8-bit residual (handed over in its producer's range) or an fp32 one
        memory.desc residual = op.quantizedResidual()
                ? owned.md(op.residualRange().unsigned() ? memory.data_type.u8 : memory.data_type.s8,
                        memory.format_tag.nhwc, geometry.output(s.filters()))
                : fp32Output;
        float residualStep = op.quantizedResidual() ? op.residualRange().scale() : 1f;
        residualArg = op.quantizedResidual() ? DnnlContext.Owned.QUANTIZED_RESIDUAL_ARG : DnnlContext.Owned.RESIDUAL_ARG;
        memory.desc bias = s.hasBias() ? owned.md(memory.format_tag.x, s.filters()) : null;
        int g = s.groups();
        memory.desc keras = g == 1
                ? owned.md(memory.format_tag.hwio, s.filters(), s.inC(), s.kernelH(), s.kernelW())
                : owned.md(memory.format_tag.hwigo, g, s.filters() / g, s.inC() / g, s.kernelH(), s.kernelW());
        memory.desc any = g == 1
                ? owned.md(weights, memory.format_tag.any, s.filters(), s.inC(), s.kernelH(), s.kernelW())
                : owned.md(weights, memory.format_tag.any, g, s.filters() / g, s.inC() / g, s.kernelH(), s.kernelW());
        int channelMask = g == 1 ? 1 : 0b11; // the output channel: dimension 0, or the group and its outputs
        try {
            var attributes = dw != null ? owned.attributes(s.activation(), dw)
                    : op.quantizedResidual()
                    ? owned.attributes(residual, residualStep, s.activation(), op.quantizedOutput())
                    : owned.attributes(op.residual() ? fp32Output : null, s.activation());
            if (int8) { // products of 8-bit values, rescaled to fp32 by the input's scale and each channel's
                attributes.set_scales_mask(DNNL_ARG_SRC, 0);
                attributes.set_scales_mask(DNNL_ARG_WEIGHTS, channelMask);
            }
            if (op.quantizedOutput()) { // then mapped onto 8 bits: divided by the readers' scale, rounded, saturated
                attributes.set_scales_mask(DNNL_ARG_DST, 0);
            }
            Supplier<convolution_forward.primitive_desc> describe = () -> bias != null
                    ? new convolution_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_inference,
                            dnnl.algorithm.convolution_direct, src, any, bias, dst, strides, dilates, padL, padR,
                            attributes, false)
                    : new convolution_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_inference,
                            dnnl.algorithm.convolution_direct, src, any, dst, strides, dilates, padL, padR,
                            attributes, false);
            convolution_forward.primitive_desc desc = owned.own(dw == null
                    ? kernels.forward(source, g, describe) : describe.get());
            implementation = desc.impl_info_str().getString();
            memory.desc chosen = owned.own(desc.weights_desc());
            kernel = int8
                    ? new InferenceOperands.PreparedKernel(context, op, keras, chosen, s.filters(),
                            channelMask, owned)
                    : new InferenceOperands.PreparedKernel(context, op, keras, chosen);
            preparedFloats = kernel.floats;
            if (dw != null) { // Keras' (kh, kw, channels, 1): oneDNN's (groups, 1, 1, kh, kw) laid out as hwigo
                memory.desc dwKeras = owned.md(memory.format_tag.hwigo, dw.inC(), 1, 1, dw.kernelH(), dw.kernelW());
                memory.desc dwChosen = owned.own(desc.query_md(dnnl.query.exec_arg_md,
                        DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS));
                depthwiseKernel = new InferenceOperands.PreparedKernel(context, op, dwKeras, dwChosen);
                depthwiseFloats = depthwiseKernel.floats;
            } else {
                depthwiseKernel = null;
                depthwiseFloats = 0;
            }
            input = op.quantizedInput() ? new InferenceOperands.Input(context, op.inputRange())
                    : int8 ? new InferenceOperands.Input(context, op, fp32, src, op.inputRange(), owned)
                    : new InferenceOperands.Input(context, op, fp32, src);
            Step f = new Step("conv2d inference", op, new convolution_forward(desc))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .arg(DNNL_ARG_WEIGHTS, chosen, context.engine)
                    .arg(DNNL_ARG_DST, dw == null ? dst : owned.own(desc.dst_desc()), context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, desc.scratchpad_desc(), context.engine);
            if (bias != null) {
                f.arg(DNNL_ARG_BIAS, bias, context.engine);
            }
            if (op.residual()) {
                f.arg(residualArg, residual, context.engine);
            }
            if (dw != null) {
                f.arg(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, owned.own(desc.query_md(dnnl.query.exec_arg_md,
                        DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS)), context.engine);
                if (dw.hasBias()) {
                    f.arg(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, owned.md(memory.format_tag.x, dw.filters()),
                            context.engine);
                }
            }
            if (int8) {
                input.declareScales(f, s.filters(), owned);
            }
            if (op.quantizedOutput()) { // in the residual's units where it came in 8 bits
                outputScale = new org.bytedeco.javacpp.FloatPointer(1).put(op.outputRange().scale() / residualStep);
                f.arg(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, owned.md(memory.format_tag.x, 1), context.engine)
                        .bind(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, outputScale);
            } else {
                outputScale = null;
            }
            this.int8 = int8;
            forward = f;
            context.reserveScratchpad(desc.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public long preparedFloats() {
        return preparedFloats;
    }

    @Override
    public String implementation() {
        return implementation;
    }

    /** Writes the Keras-layout kernel into prepared, in the primitive's layout ({@link #preparedFloats} floats). */
    @Override
    public void prepare(CpuTensor keras, CpuTensor prepared) {
        kernel.prepare(context, keras, prepared);
    }

    /** Writes the fused depthwise convolution's Keras-layout kernel into prepared ({@link #depthwiseFloats}). */
    void prepareDepthwise(CpuTensor keras, CpuTensor prepared) {
        depthwiseKernel.prepare(context, keras, prepared);
    }

    /** The fused op: y = depthwise(activation(conv(x) + bias)), with the depthwise kernel and bias (or null). */
    void forward(CpuTensor x, CpuTensor weights, CpuTensor b, CpuTensor dwWeights, CpuTensor dwBias, CpuTensor y) {
        forward.bind(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, dwWeights.pointer());
        if (dwBias != null) {
            forward.bind(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, dwBias.pointer());
        }
        forward(x, weights, b, null, y);
    }

    /** y = activation(conv(x) + bias [+ residual]); kernel as prepared (or Keras' when nothing is prepared). */
    @Override
    public void forward(CpuTensor x, CpuTensor weights, CpuTensor b, CpuTensor residual, CpuTensor y) {
        forward.bind(DNNL_ARG_SRC, input.of(x)).bind(DNNL_ARG_WEIGHTS, weights.pointer());
        if (int8) {
            forward.bind(DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, kernel.scales(weights));
        }
        if (b != null) {
            forward.bind(DNNL_ARG_BIAS, b.pointer());
        }
        if (residual != null) {
            forward.bind(residualArg, residual.pointer());
        }
        forward.bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    /** The OpenMP team the convolution was made for and runs on. */
    @Override
    public int threads() {
        return forward.threads();
    }

    @Override
    public void close() {
        Step.closeAll(forward);
        if (kernel != null) {
            kernel.close();
        }
        if (depthwiseKernel != null) {
            depthwiseKernel.close();
        }
        if (input != null) {
            input.close();
        }
        if (outputScale != null) {
            outputScale.close();
        }
        owned.close();
    }
}
