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
import dev.osprey.backend.Conv2dSpec;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.dnnl.global.dnnl;

/**
 * The three convolution primitives for one {@link Conv2dSpec}, each made on first use (an inference plan never makes
 * the backward ones); a pointwise spec is planned folded ({@link ConvGeometry}), and a wide fp32 one computes its
 * filter gradient as matrix products instead ({@link PointwiseFilterGradient}). Activations are NHWC (oneDNN's
 * brgemm kernels read it natively, so no reorder surrounds a call); the kernel is kept by the model in Keras' layout,
 * (kh, kw, in / groups, out), which is oneDNN's hwio, or hwigo once the groups are split out, and reordered here into
 * whatever layout each primitive chose.
 *
 * <p>Mixed precision (the spec's math bf16): where the CPU has bf16 kernels, the primitives read the input, the kernel
 * and the output gradient converted to bf16 (one reorder each per call, into shared scratch) and write fp32 outputs,
 * input gradients and kernel gradients; elsewhere they stay fp32 with oneDNN allowed to round to bf16 (its fpmath
 * mode), which it does only on AMX.
 */
final class ConvPlan implements AutoCloseable {
    private final DnnlContext context;
    private final PreferredKernels kernels; // its rules: the forward kernel here, backward-data's at its first run
    private final DnnlContext.Owned owned;
    private final Conv2dSpec spec;
    private final ConvGeometry geometry;    // images, sizes and window as the primitives see them (folded or not)
    private final memory.desc src;          // x and dx, fp32
    private final memory.desc dst;          // y, fp32
    private final memory.desc srcRead;      // x as the primitives read it: src, or its bf16 copy
    private final memory.desc dstRead;      // dy as the backward primitives read it: dst, or its bf16 copy
    private final memory.desc bias;
    private final memory.desc kernelKeras;
    private final memory.desc kernelAny;    // the kernel as the primitives read it (fp32 or bf16)
    private final memory.desc kernelGradientAny; // the kernel gradient as backward-weights writes it (fp32)
    private final boolean bf16;             // operands converted to bf16
    private final memory.data_type operands; // f32, or bf16 where converted
    private final Bf16Conversion inputToBf16;
    private final Bf16Conversion gradientToBf16;
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
    /** The OpenMP team this plan is made for, which its own depthwise filter gradient runs on too (see OpenMpTeam). */
    private final int team = OpenMpTeam.current();
    private PointwiseFilterGradient pointwiseFilterGradient; // wide fp32 pointwise convolutions: a matrix product
    final String implementation;

    ConvPlan(DnnlContext context, Conv2dSpec s, PreferredKernels kernels) {
        this.context = context;
        this.kernels = kernels;
        this.owned = new DnnlContext.Owned(context);
        this.spec = s;
        this.bf16 = s.math() == Precision.BF16 && context.bf16Kernels;
        operands = bf16 ? memory.data_type.bf16 : memory.data_type.f32;
        geometry = ConvGeometry.of(s);
        src = owned.md(memory.format_tag.nhwc, geometry.input(s.inC()));
        dst = owned.md(memory.format_tag.nhwc, geometry.output(s.filters()));
        srcRead = bf16 ? owned.md(operands, memory.format_tag.nhwc, geometry.input(s.inC())) : src;
        dstRead = bf16 ? owned.md(operands, memory.format_tag.nhwc, geometry.output(s.filters())) : dst;
        bias = s.hasBias() ? owned.md(memory.format_tag.x, s.filters()) : null;
        int g = s.groups();
        long[] kernelDims = g == 1 ? new long[] {s.filters(), s.inC(), s.kernelH(), s.kernelW()}
                : new long[] {g, s.filters() / g, s.inC() / g, s.kernelH(), s.kernelW()};
        kernelKeras = owned.md(g == 1 ? memory.format_tag.hwio : memory.format_tag.hwigo, kernelDims);
        kernelAny = owned.md(operands, memory.format_tag.any, kernelDims);
        kernelGradientAny = bf16 ? owned.anyFormat(kernelDims) : kernelAny;
        Bf16Conversion input = null;
        Bf16Conversion gradient = null;
        try {
            if (bf16) {
                input = new Bf16Conversion(context, s, src, srcRead, Bf16Conversion.Scratch.INPUT);
                gradient = new Bf16Conversion(context, s, dst, dstRead, Bf16Conversion.Scratch.GRADIENT);
            }
            primitive_attr attributes = owned.attributes(s.activation(), s.math());
            forwardDesc = owned.own(kernels.forward(operands, s.groups(), () -> bias != null
                    ? new convolution_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_training,
                            dnnl.algorithm.convolution_direct, srcRead, kernelAny, bias, dst, geometry.strides(),
                            geometry.dilates(), geometry.padL(), geometry.padR(), attributes, false)
                    : new convolution_forward.primitive_desc(context.engine, dnnl.prop_kind.forward_training,
                            dnnl.algorithm.convolution_direct, srcRead, kernelAny, dst, geometry.strides(),
                            geometry.dilates(), geometry.padL(), geometry.padR(), attributes, false)));
            implementation = forwardDesc.impl_info_str().getString();
            forwardKernel = new WeightLayout(context, kernelKeras, forwardDesc.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            Step f = new Step("conv2d forward", s, new convolution_forward(forwardDesc))
                    .arg(DNNL_ARG_SRC, srcRead, context.engine)
                    .fixedArg(DNNL_ARG_WEIGHTS, forwardKernel.primitiveMemory())
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, forwardDesc.scratchpad_desc(), context.engine);
            forward = bias != null ? f.arg(DNNL_ARG_BIAS, bias, context.engine) : f;
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
        if (b != null) {
            forward.bind(DNNL_ARG_BIAS, b.pointer());
        }
        forward.bind(DNNL_ARG_SRC, Bf16Conversion.read(inputToBf16, x)).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardData(CpuTensor dy, CpuTensor kernel, CpuTensor dx) {
        backwardData(dy, null, kernel, dx);
    }

    /**
     * Both backward directions from one conversion of dy (bf16 operands: the filter gradient and backward-data read
     * the same bf16 copy, which the gradient scratch holds from one to the other): the filter gradient, then dx.
     */
    void backward(CpuTensor x, CpuTensor dy, CpuTensor kernel, CpuTensor dKernel, CpuTensor dBias, CpuTensor dx) {
        org.bytedeco.javacpp.Pointer converted = gradientToBf16 == null ? null : gradientToBf16.of(dy);
        backwardFilter(x, dy, converted, dKernel, dBias);
        backwardData(dy, converted, kernel, dx);
    }

    /** dyConverted: dy's bf16 copy where the caller made it, or null (this converts dy where it must). */
    private void backwardData(CpuTensor dy, org.bytedeco.javacpp.Pointer dyConverted, CpuTensor kernel,
                              CpuTensor dx) {
        if (backwardData == null) {
            ConvGeometry g = geometry;
            primitive_attr attributes = owned.attributes(Activation.LINEAR, spec.math());
            convolution_backward_data.primitive_desc d = backwardDataDesc = owned.own(kernels.backwardData(() ->
                    new convolution_backward_data.primitive_desc(context.engine, dnnl.algorithm.convolution_direct,
                            src, kernelAny, dstRead, g.strides(), g.dilates(), g.padL(), g.padR(), forwardDesc,
                            attributes, false)));
            backwardDataKernel = new WeightLayout(context, kernelKeras, d.weights_desc(),
                    WeightLayout.Direction.INTO_PRIMITIVE);
            backwardData = new Step("conv2d backward-data", spec, new convolution_backward_data(d))
                    .arg(DNNL_ARG_DIFF_DST, dstRead, context.engine)
                    .fixedArg(DNNL_ARG_WEIGHTS, backwardDataKernel.primitiveMemory())
                    .arg(DNNL_ARG_DIFF_SRC, src, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
        }
        backwardDataKernel.bind(kernel);
        backwardDataKernel.reorder();
        backwardData.bind(DNNL_ARG_DIFF_DST, dyConverted != null ? dyConverted : Bf16Conversion.read(gradientToBf16, dy))
                .bind(DNNL_ARG_DIFF_SRC, dx.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    void backwardFilter(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        backwardFilter(x, dy, null, dKernel, dBias);
    }

    /** dyConverted: dy's bf16 copy where the caller made it, or null (this converts dy where it must). */
    private void backwardFilter(CpuTensor x, CpuTensor dy, org.bytedeco.javacpp.Pointer dyConverted,
                                CpuTensor dKernel, CpuTensor dBias) {
        if (ownFilterGradient != null) {
            ownFilterGradient.run(x, dy, dKernel, dBias, team);
            return;
        }
        if (pointwiseFilterGradient != null) {
            pointwiseFilterGradient.run(x, dy, dKernel, dBias);
            return;
        }
        if (backwardFilter == null && !bf16 && PointwiseFilterGradient.fits(spec, CpuBackend.threads())) {
            pointwiseFilterGradient = new PointwiseFilterGradient(context, spec);
            pointwiseFilterGradient.run(x, dy, dKernel, dBias);
            return;
        }
        if (backwardFilter == null) {
            // Not folded (ConvGeometry): oneDNN's 1x1 backward-weights kernels ran slower on one image of all pixels
            // (MobileNetV2 at 32x32x3, batch 128: 28.0 ms of a step folded against 23.2 as the images are).
            boolean unfold = ConvGeometry.folds(spec);
            ConvGeometry g = ConvGeometry.unfolded(spec);
            memory.desc input = unfold ? owned.md(operands, memory.format_tag.nhwc, g.input(spec.inC())) : srcRead;
            memory.desc outputGradient = unfold
                    ? owned.md(operands, memory.format_tag.nhwc, g.output(spec.filters())) : dstRead;
            convolution_forward.primitive_desc hint = unfold ? owned.own(new convolution_forward.primitive_desc(
                    context.engine, dnnl.prop_kind.forward_training, dnnl.algorithm.convolution_direct, input,
                    kernelAny, owned.md(memory.format_tag.nhwc, g.output(spec.filters())), g.strides(), g.dilates(),
                    g.padL(), g.padR(), owned.attributes(spec.activation(), spec.math()), false)) : forwardDesc;
            dnnl.algorithm direct = dnnl.algorithm.convolution_direct;
            convolution_backward_weights.primitive_desc d = backwardFilterDesc = owned.own(bias != null
                    ? new convolution_backward_weights.primitive_desc(context.engine, direct, input, kernelGradientAny,
                            bias, outputGradient, g.strides(), g.dilates(), g.padL(), g.padR(), hint,
                            owned.attributes(Activation.LINEAR, spec.math()), false)
                    : new convolution_backward_weights.primitive_desc(context.engine, direct, input, kernelGradientAny,
                            outputGradient, g.strides(), g.dilates(), g.padL(), g.padR(), hint,
                            owned.attributes(Activation.LINEAR, spec.math()), false));
            if (DepthwiseFilterGradient.fits(spec) && !d.impl_info_str().getString().startsWith("jit_dw")) {
                ownFilterGradient = new DepthwiseFilterGradient(spec);
                backwardFilter(x, dy, dyConverted, dKernel, dBias);
                return;
            }
            filterGradient = new WeightLayout(context, kernelKeras, d.diff_weights_desc(),
                    WeightLayout.Direction.OUT_OF_PRIMITIVE);
            Step step = new Step("conv2d backward-filter", spec, new convolution_backward_weights(d))
                    .arg(DNNL_ARG_SRC, input, context.engine)
                    .arg(DNNL_ARG_DIFF_DST, outputGradient, context.engine)
                    .fixedArg(DNNL_ARG_DIFF_WEIGHTS, filterGradient.primitiveMemory())
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            backwardFilter = bias != null ? step.arg(DNNL_ARG_DIFF_BIAS, bias, context.engine) : step;
            context.reserveScratchpad(d.scratchpad_desc());
        }
        filterGradient.bind(dKernel);
        if (dBias != null) {
            backwardFilter.bind(DNNL_ARG_DIFF_BIAS, dBias.pointer());
        }
        backwardFilter.bind(DNNL_ARG_SRC, Bf16Conversion.read(inputToBf16, x))
                .bind(DNNL_ARG_DIFF_DST, dyConverted != null ? dyConverted : Bf16Conversion.read(gradientToBf16, dy))
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
        filterGradient.reorder();
    }

    /** oneDNN's name of the backward-data kernel, or null before the first backward-data call. */
    String backwardDataImplementation() {
        return backwardDataDesc == null ? null : backwardDataDesc.impl_info_str().getString();
    }

    /** Whether the primitives read bf16 operands (mixed precision on a CPU with bf16 kernels). */
    boolean readsBf16() {
        return bf16;
    }

    /** The fpmath mode of each oneDNN primitive made so far, forward first: what its products may round to. */
    java.util.List<dnnl.fpmath_mode> mathModes() {
        return DnnlContext.mathModes(forwardDesc, backwardDataDesc, pointwiseFilterGradient != null
                ? pointwiseFilterGradient.kernelGradientDesc() : backwardFilterDesc);
    }

    @Override
    public void close() {
        Step.closeAll(forward, backwardData, backwardFilter);
        if (pointwiseFilterGradient != null) {
            pointwiseFilterGradient.close();
        }
        if (ownFilterGradient != null) {
            ownFilterGradient.close();
        }
        WeightLayout.closeAll(forwardKernel, backwardDataKernel, filterGradient);
        Bf16Conversion.closeAll(inputToBf16, gradientToBf16);
        owned.close();
    }
}
