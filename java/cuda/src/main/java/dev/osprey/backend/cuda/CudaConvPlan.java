package dev.osprey.backend.cuda;

import dev.osprey.Activation;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdDataAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdFilterAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.cuda.global.cudnn;

/**
 * cuDNN convolution for one {@link Conv2dSpec} (groups and dilation through the convolution descriptor): NHWC tensors,
 * the Keras kernel (kh, kw, in / groups, out) moved into cuDNN's KRSC layout in the context's shared weight scratch for
 * each training op (inference reads a copy prepared once: {@link #prepare}), and the algorithms cuDNN's own search
 * picked (once, here) for forward, backward-data and backward-filter. Bias, an inference residual and the activation
 * follow the forward in one pass of Osprey's epilogue kernel. Uneven padding runs on an explicitly padded copy of the
 * input ({@link ExplicitPadding}).
 *
 * <p>Under mixed_bfloat16 ({@link dev.osprey.Precision#BF16} math) cuDNN multiplies bf16 operands on tensor cores and
 * sums in fp32. Its legacy API takes bf16 tensors only, and rounds its results to bf16 (there is no fp32-to-bf16
 * conversion math type as there is for fp16): each op rounds its operands into the context's bf16 scratches (the
 * kernel on its way into KRSC) and widens the result back to fp32 (the forward in its epilogue), so Osprey's tensors
 * stay fp32, as PyTorch's autocast keeps its weights and its outputs' consumers do.
 */
final class CudaConvPlan implements AutoCloseable {
    private static final int CANDIDATES = 8;

    private final CudaContext c;
    private final Conv2dSpec s;
    private final cudnnTensorStruct x = new cudnnTensorStruct();
    private final cudnnTensorStruct y = new cudnnTensorStruct();
    private final cudnnTensorStruct bias = new cudnnTensorStruct();
    private final cudnnFilterStruct w = new cudnnFilterStruct();
    private final cudnnConvolutionStruct conv = new cudnnConvolutionStruct();
    private final Kernels.Launch toKrsc;
    private final Kernels.Launch toHwio;
    private final Kernels.Launch biasActivation;
    private final int forwardAlgo;
    private final int backwardDataAlgo;
    private final int backwardFilterAlgo;
    // The math type each direction's algorithm was timed with: cuDNN's search tries algorithms with and without
    // tensor cores under a permissive math type and reports which; the descriptor is set to it before each call.
    private final int forwardMath;
    /** The math type the plan set on its convolution descriptor (what the algorithm search must honour). */
    private int requestedMath;
    private final int backwardDataMath;
    private final int backwardFilterMath;
    private final ExplicitPadding padding; // null when cuDNN pads by itself
    private final boolean training;
    /** mixed_bfloat16: cuDNN computes on bf16 copies of the operands (fields below are null otherwise). */
    private final boolean bf16;
    private final cudnnTensorStruct yFloat; // the fp32 output gradient, for the bias gradient
    private final Kernels.Launch toBf16;
    private final Kernels.Launch fromBf16;
    private final Kernels.Launch toKrscBf16;
    private final Kernels.Launch krscBf16ToHwio;
    private final Kernels.Launch biasActivationFromBf16;

    /**
     * training: whether this plan runs the backward ops too (cuDNN then searches algorithms for all three
     * directions); an inference plan searches the forward one alone, and sizes the shared workspace for it alone.
     */
    CudaConvPlan(CudaContext c, Conv2dSpec s, boolean training) {
        this.c = c;
        this.s = s;
        this.training = training;
        this.bf16 = s.math() == dev.osprey.Precision.BF16;
        this.yFloat = bf16 ? new cudnnTensorStruct() : null;
        try {
            padding = ExplicitPadding.needed(s.padTop(), s.padLeft(), s.padBottom(), s.padRight())
                    ? new ExplicitPadding(c, s.batch(), s.inH(), s.inW(), s.inC(), s.padTop(), s.padLeft(), s.padBottom(),
                            s.padRight(), 0f)
                    : null;
            int inH = padding == null ? s.inH() : padding.paddedH;
            int inW = padding == null ? s.inW() : padding.paddedW;
            int padH = padding == null ? s.padTop() : 0;
            int padW = padding == null ? s.padLeft() : 0;
            Status.cudnn(cudnn.cudnnCreateTensorDescriptor(x), "cudnnCreateTensorDescriptor");
            Status.cudnn(cudnn.cudnnCreateTensorDescriptor(y), "cudnnCreateTensorDescriptor");
            Status.cudnn(cudnn.cudnnCreateTensorDescriptor(bias), "cudnnCreateTensorDescriptor");
            Status.cudnn(cudnn.cudnnCreateFilterDescriptor(w), "cudnnCreateFilterDescriptor");
            Status.cudnn(cudnn.cudnnCreateConvolutionDescriptor(conv), "cudnnCreateConvolutionDescriptor");
            int data = bf16 ? cudnn.CUDNN_DATA_BFLOAT16 : cudnn.CUDNN_DATA_FLOAT;
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(x, cudnn.CUDNN_TENSOR_NHWC, data,
                    s.batch(), s.inC(), inH, inW), "cudnnSetTensor4dDescriptor(x) " + s);
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(y, cudnn.CUDNN_TENSOR_NHWC, data,
                    s.batch(), s.filters(), s.outH(), s.outW()), "cudnnSetTensor4dDescriptor(y) " + s);
            if (bf16) {
                Status.cudnn(cudnn.cudnnCreateTensorDescriptor(yFloat), "cudnnCreateTensorDescriptor");
                Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(yFloat, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                        s.batch(), s.filters(), s.outH(), s.outW()), "cudnnSetTensor4dDescriptor(y, fp32) " + s);
            }
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(bias, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                    1, s.filters(), 1, 1), "cudnnSetTensor4dDescriptor(bias) " + s);
            Status.cudnn(cudnn.cudnnSetFilter4dDescriptor(w, data, cudnn.CUDNN_TENSOR_NHWC,
                    s.filters(), s.inC() / s.groups(), s.kernelH(), s.kernelW()), "cudnnSetFilter4dDescriptor " + s);
            Status.cudnn(cudnn.cudnnSetConvolution2dDescriptor(conv, padH, padW, s.strideH(), s.strideW(),
                    s.dilationH(), s.dilationW(), cudnn.CUDNN_CROSS_CORRELATION, cudnn.CUDNN_DATA_FLOAT),
                    "cudnnSetConvolution2dDescriptor " + s);
            Status.cudnn(cudnn.cudnnSetConvolutionGroupCount(conv, s.groups()), "cudnnSetConvolutionGroupCount " + s);
            // fp16 math: cuDNN may round the fp32 operands to fp16 for tensor cores (summing in fp32); the tensors
            // stay fp32, so the rest of the step is unchanged. bf16: the operands are bf16 already (fp32 sums).
            int math = s.math() == dev.osprey.Precision.FP16 ? cudnn.CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
                    : bf16 ? cudnn.CUDNN_TENSOR_OP_MATH : c.tf32 ? cudnn.CUDNN_DEFAULT_MATH : cudnn.CUDNN_FMA_MATH;
            Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType");
            requestedMath = math;
            c.reserveWeightScratch((long) s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters() * Float.BYTES);
            toKrsc = c.kernels.launch("osprey_hwio_to_krsc", "ppiii");
            toHwio = c.kernels.launch("osprey_krsc_to_hwio", "ppiii");
            biasActivation = c.kernels.launch("osprey_bias_activation_forward", "pppiiiff");
            if (bf16) {
                toBf16 = c.kernels.launch("osprey_to_bf16", "ppl");
                fromBf16 = c.kernels.launch("osprey_from_bf16", "ppl");
                toKrscBf16 = c.kernels.launch("osprey_hwio_to_krsc_bf16", "ppiii");
                krscBf16ToHwio = c.kernels.launch("osprey_krsc_bf16_to_hwio", "ppiii");
                biasActivationFromBf16 = c.kernels.launch("osprey_bias_activation_from_bf16", "ppppiiiff");
            } else {
                toBf16 = fromBf16 = toKrscBf16 = krscBf16ToHwio = biasActivationFromBf16 = null;
            }

            int[] found = new int[1];
            try (cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(CANDIDATES)) {
                searched(cudnn.cudnnFindConvolutionForwardAlgorithm(c.cudnnHandle, x, w, conv, y, CANDIDATES, found,
                        perf), "cudnnFindConvolutionForwardAlgorithm " + s);
                int best = firstSuccessful(found[0], i -> perf.position(i).status(),
                        i -> perf.position(i).mathType());
                forwardAlgo = perf.position(best).algo();
                forwardMath = perf.position(best).mathType();
                c.reserveWorkspace(perf.position(best).memory());
            }
            if (!training) {
                backwardDataAlgo = backwardFilterAlgo = -1;
                backwardDataMath = backwardFilterMath = -1;
            } else {
                try (cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(CANDIDATES)) {
                    searched(cudnn.cudnnFindConvolutionBackwardDataAlgorithm(c.cudnnHandle, w, y, conv, x, CANDIDATES,
                            found, perf), "cudnnFindConvolutionBackwardDataAlgorithm " + s);
                    int best = firstSuccessful(found[0], i -> perf.position(i).status(),
                        i -> perf.position(i).mathType());
                    backwardDataAlgo = perf.position(best).algo();
                    backwardDataMath = perf.position(best).mathType();
                    c.reserveWorkspace(perf.position(best).memory());
                }
                try (cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(CANDIDATES)) {
                    searched(cudnn.cudnnFindConvolutionBackwardFilterAlgorithm(c.cudnnHandle, x, y, conv, w, CANDIDATES,
                            found, perf), "cudnnFindConvolutionBackwardFilterAlgorithm " + s);
                    int best = firstSuccessful(found[0], i -> perf.position(i).status(),
                        i -> perf.position(i).mathType());
                    backwardFilterAlgo = perf.position(best).algo();
                    backwardFilterMath = perf.position(best).mathType();
                    c.reserveWorkspace(perf.position(best).memory());
                }
            }
            if (bf16) { // once cuDNN has algorithms for every direction this plan runs
                c.reserveBf16Scratch((long) s.batch() * inH * inW * s.inC() * Short.BYTES,
                        (long) s.batch() * s.outH() * s.outW() * s.filters() * Short.BYTES);
            }
        } catch (RuntimeException e) {
            close(); // frees what was made before the failure
            throw e;
        }
    }

    /**
     * The fastest of the found algorithms that worked in a math this plan allows (see {@link #allows}). cudnnFind*
     * also times each algorithm in CUDNN_DEFAULT_MATH, which is TF32 for fp32 on Ampere and later, and lists those
     * entries beside the requested math's: taking the fastest regardless would run "strict fp32" in TF32.
     */
    private int firstSuccessful(int count, java.util.function.IntUnaryOperator status,
                                java.util.function.IntUnaryOperator mathType) {
        for (int i = 0; i < count; i++) {
            if (status.applyAsInt(i) == cudnn.CUDNN_STATUS_SUCCESS && allows(requestedMath, mathType.applyAsInt(i))) {
                return i;
            }
        }
        throw new NoAlgorithm("cuDNN found no working algorithm for " + s + " in math type " + requestedMath);
    }

    /**
     * Whether an algorithm cuDNN timed in math type found may run a plan that asked for requested: strict fp32
     * (CUDNN_FMA_MATH) takes only FMA math; the other requests (TF32 allowed, fp16 or bf16 tensor cores) take any.
     */
    static boolean allows(int requested, int found) {
        return requested != cudnn.CUDNN_FMA_MATH || found == cudnn.CUDNN_FMA_MATH;
    }

    private void requireTraining(String op) {
        if (!training) {
            throw new IllegalStateException("the " + op + " convolution of " + s + " ran on an inference plan, "
                    + "which searched no backward algorithms");
        }
    }

    /** An algorithm search's status: throws {@link NoAlgorithm} where it {@link #meansNoAlgorithm}, else any failure. */
    private void searched(int status, String call) {
        if (meansNoAlgorithm(status, bf16)) {
            throw new NoAlgorithm("cuDNN " + call + ": " + (bf16 ? "bf16 " : "") + (status / 1000
                    == cudnn.CUDNN_STATUS_BAD_PARAM / 1000 ? "bad parameter" : "not supported") + " (status " + status
                    + ")");
        }
        Status.cudnn(status, call);
    }

    /**
     * Whether an algorithm search that returned status found no algorithm for the geometry, rather than failed: a "not
     * supported" status (cuDNN 9 numbers them 3000-3999), and under bf16 math also a "bad parameter" one (2000-2999),
     * which cuDNN gives bf16 tensors in layouts or channel counts its bf16 kernels do not take (an RGB stem's 3
     * channels, say), where the same descriptors in fp32 are accepted. The caller then runs the layer in fp32. In fp32 a
     * bad parameter is Osprey's mistake and is thrown as one.
     */
    static boolean meansNoAlgorithm(int status, boolean bf16) {
        int family = status / 1000;
        return family == cudnn.CUDNN_STATUS_NOT_SUPPORTED / 1000
                || bf16 && family == cudnn.CUDNN_STATUS_BAD_PARAM / 1000;
    }

    /** cuDNN has no algorithm for this convolution in its data types (a bf16 geometry it does not cover, say). */
    static final class NoAlgorithm extends BackendException {
        NoAlgorithm(String message) {
            super(message);
        }
    }

    /** The kernel in cuDNN's layout (rounded to bf16 under bf16 math), in the weight scratch. */
    private org.bytedeco.javacpp.Pointer kernelIntoKrsc(CudaTensor hwio) {
        intoCudnnLayout(hwio, c.weightScratch().address());
        return c.weightScratch();
    }

    /** The kernel hwio (Keras' layout, fp32) written at address in cuDNN's layout, rounded to bf16 under bf16 math. */
    private void intoCudnnLayout(CudaTensor hwio, long address) {
        (bf16 ? toKrscBf16 : toKrsc).pointer(0, hwio).address(1, address).intValue(2, s.kernelH() * s.kernelW())
                .intValue(3, s.inC() / s.groups()).intValue(4, s.filters()).run(hwio.size(), c.stream);
    }

    /** bf16 math: t rounded to bf16 into scratch, for cuDNN to read. */
    private org.bytedeco.javacpp.Pointer roundedInto(org.bytedeco.javacpp.Pointer scratch, CudaTensor t) {
        toBf16.pointer(0, t).address(1, scratch.address()).longValue(2, t.size()).run(t.size(), c.stream);
        return scratch;
    }

    void forward(CudaTensor input, CudaTensor kernel, CudaTensor b, CudaTensor output) {
        forward(input, kernelIntoKrsc(kernel), b, null, output);
    }

    /** Floats a kernel takes prepared for {@link #inference}: in cuDNN's layout, two bf16 values to a float under bf16. */
    long preparedFloats() {
        long n = (long) s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters();
        return bf16 ? (n + 1) / 2 : n;
    }

    /** Writes kernel (Keras' layout, fp32) into prepared ({@link #preparedFloats} floats) as {@link #inference} reads it. */
    void prepare(CudaTensor kernel, CudaTensor prepared) {
        intoCudnnLayout(kernel, prepared.address());
    }

    /**
     * output = activation(conv(input, prepared) + b + residual) in inference: the kernel as {@link #prepare} wrote it,
     * so nothing is reordered per call, and the residual (null: none) summed in the same pass as the bias and the
     * activation.
     */
    void inference(CudaTensor input, CudaTensor prepared, CudaTensor b, CudaTensor residual, CudaTensor output) {
        forward(input, prepared.pointer(), b, residual, output);
    }

    private void forward(CudaTensor input, org.bytedeco.javacpp.Pointer krsc, CudaTensor b, CudaTensor residual,
                         CudaTensor output) {
        CudaTensor in = padding == null ? input : padding.pad(input);
        Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, forwardMath), "cudnnSetConvolutionMathType");
        Activation a = s.activation();
        if (bf16) {
            Status.cudnn(cudnn.cudnnConvolutionForward(c.cudnnHandle, c.one, x, roundedInto(c.bf16ScratchA(), in), w,
                    krsc, conv, forwardAlgo, c.workspace(), c.workspaceBytes(), c.zero, y, c.bf16ScratchB()),
                    "cudnnConvolutionForward(bf16) " + s);
            // Widened into the fp32 output with the bias, residual and activation, in one pass.
            biasActivationFromBf16.address(0, c.bf16ScratchB().address()).pointer(1, output).pointer(2, b)
                    .pointer(3, residual).intValue(4, s.batch() * s.outH() * s.outW()).intValue(5, s.filters())
                    .intValue(6, a.kind().ordinal()).floatValue(7, a.alpha()).floatValue(8, a.maxValue())
                    .run(output.size(), c.stream);
            return;
        }
        Status.cudnn(cudnn.cudnnConvolutionForward(c.cudnnHandle, c.one, x, in.pointer(), w, krsc, conv,
                forwardAlgo, c.workspace(), c.workspaceBytes(), c.zero, y, output.pointer()), "cudnnConvolutionForward " + s);
        if (b != null || residual != null || a.kind() != Activation.Kind.LINEAR) {
            // Bias, residual and activation in one pass over the output (NHWC: the filter is the fastest-moving index).
            biasActivation.pointer(0, output).pointer(1, b).pointer(2, residual)
                    .intValue(3, s.batch() * s.outH() * s.outW()).intValue(4, s.filters())
                    .intValue(5, a.kind().ordinal()).floatValue(6, a.alpha()).floatValue(7, a.maxValue())
                    .run(output.size(), c.stream);
        }
    }

    void backwardData(CudaTensor dy, CudaTensor kernel, CudaTensor dx) {
        requireTraining("backward-data");
        org.bytedeco.javacpp.Pointer krsc = kernelIntoKrsc(kernel);
        CudaTensor target = padding == null ? dx : padding.gradient();
        Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, backwardDataMath), "cudnnSetConvolutionMathType");
        if (bf16) {
            Status.cudnn(cudnn.cudnnConvolutionBackwardData(c.cudnnHandle, c.one, w, krsc, y,
                    roundedInto(c.bf16ScratchB(), dy), conv, backwardDataAlgo, c.workspace(), c.workspaceBytes(),
                    c.zero, x, c.bf16ScratchA()), "cudnnConvolutionBackwardData(bf16) " + s);
            fromBf16.address(0, c.bf16ScratchA().address()).pointer(1, target).longValue(2, target.size())
                    .run(target.size(), c.stream);
        } else {
            Status.cudnn(cudnn.cudnnConvolutionBackwardData(c.cudnnHandle, c.one, w, krsc, y, dy.pointer(),
                    conv, backwardDataAlgo, c.workspace(), c.workspaceBytes(), c.zero, x, target.pointer()),
                    "cudnnConvolutionBackwardData " + s);
        }
        if (padding != null) {
            padding.crop(dx);
        }
    }

    void backwardFilter(CudaTensor input, CudaTensor dy, CudaTensor dKernel, CudaTensor dBias) {
        requireTraining("backward-filter");
        // Padded again: plans are shared by layers of equal specs, so the copy may hold another layer's input.
        CudaTensor in = padding == null ? input : padding.pad(input);
        Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, backwardFilterMath), "cudnnSetConvolutionMathType");
        org.bytedeco.javacpp.Pointer xData = bf16 ? roundedInto(c.bf16ScratchA(), in) : in.pointer();
        org.bytedeco.javacpp.Pointer dyData = bf16 ? roundedInto(c.bf16ScratchB(), dy) : dy.pointer();
        Status.cudnn(cudnn.cudnnConvolutionBackwardFilter(c.cudnnHandle, c.one, x, xData, y, dyData, conv,
                backwardFilterAlgo, c.workspace(), c.workspaceBytes(), c.zero, w, c.weightScratch()),
                "cudnnConvolutionBackwardFilter" + (bf16 ? "(bf16) " : " ") + s);
        (bf16 ? krscBf16ToHwio : toHwio).address(0, c.weightScratch().address()).pointer(1, dKernel)
                .intValue(2, s.kernelH() * s.kernelW()).intValue(3, s.inC() / s.groups()).intValue(4, s.filters())
                .run(dKernel.size(), c.stream);
        if (dBias != null) { // from the fp32 output gradient, in fp32
            Status.cudnn(cudnn.cudnnConvolutionBackwardBias(c.cudnnHandle, c.one, bf16 ? yFloat : y, dy.pointer(),
                    c.zero, bias, dBias.pointer()), "cudnnConvolutionBackwardBias " + s);
        }
    }

    @Override
    public void close() {
        c.synchronize(); // queued ops may still use the descriptors and the padded copy
        if (padding != null) {
            padding.close();
        }
        if (!conv.isNull()) {
            cudnn.cudnnDestroyConvolutionDescriptor(conv);
        }
        if (!w.isNull()) {
            cudnn.cudnnDestroyFilterDescriptor(w);
        }
        for (cudnnTensorStruct d : new cudnnTensorStruct[] {bias, y, x, yFloat}) {
            if (d != null && !d.isNull()) {
                cudnn.cudnnDestroyTensorDescriptor(d);
            }
        }
    }
}
