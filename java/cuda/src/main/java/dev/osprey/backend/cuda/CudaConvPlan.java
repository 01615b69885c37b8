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
 * each op, and the algorithms cuDNN's own search picked (once, here) for forward, backward-data and backward-filter.
 * Bias and activation follow the forward in one pass of Osprey's epilogue kernel. Uneven padding runs on an explicitly
 * padded copy of the input ({@link ExplicitPadding}).
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
    private final int backwardDataMath;
    private final int backwardFilterMath;
    private final ExplicitPadding padding; // null when cuDNN pads by itself

    CudaConvPlan(CudaContext c, Conv2dSpec s) {
        this.c = c;
        this.s = s;
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
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(x, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                    s.batch(), s.inC(), inH, inW), "cudnnSetTensor4dDescriptor(x) " + s);
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(y, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                    s.batch(), s.filters(), s.outH(), s.outW()), "cudnnSetTensor4dDescriptor(y) " + s);
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(bias, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                    1, s.filters(), 1, 1), "cudnnSetTensor4dDescriptor(bias) " + s);
            Status.cudnn(cudnn.cudnnSetFilter4dDescriptor(w, cudnn.CUDNN_DATA_FLOAT, cudnn.CUDNN_TENSOR_NHWC,
                    s.filters(), s.inC() / s.groups(), s.kernelH(), s.kernelW()), "cudnnSetFilter4dDescriptor " + s);
            Status.cudnn(cudnn.cudnnSetConvolution2dDescriptor(conv, padH, padW, s.strideH(), s.strideW(),
                    s.dilationH(), s.dilationW(), cudnn.CUDNN_CROSS_CORRELATION, cudnn.CUDNN_DATA_FLOAT),
                    "cudnnSetConvolution2dDescriptor " + s);
            Status.cudnn(cudnn.cudnnSetConvolutionGroupCount(conv, s.groups()), "cudnnSetConvolutionGroupCount " + s);
            // fp16 math: cuDNN may round the fp32 operands to fp16 for tensor cores (summing in fp32); the tensors
            // stay fp32, so the rest of the step is unchanged.
            int math = s.math() == dev.osprey.Precision.FP16 ? cudnn.CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
                    : c.tf32 ? cudnn.CUDNN_DEFAULT_MATH : cudnn.CUDNN_FMA_MATH;
            Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType");
            c.reserveWeightScratch((long) s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters() * Float.BYTES);
            toKrsc = c.kernels.launch("osprey_hwio_to_krsc", "ppiii");
            toHwio = c.kernels.launch("osprey_krsc_to_hwio", "ppiii");
            biasActivation = c.kernels.launch("osprey_bias_activation_forward", "ppiiiff");

            int[] found = new int[1];
            try (cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(CANDIDATES)) {
                Status.cudnn(cudnn.cudnnFindConvolutionForwardAlgorithm(c.cudnnHandle, x, w, conv, y, CANDIDATES, found,
                        perf), "cudnnFindConvolutionForwardAlgorithm " + s);
                int best = firstSuccessful(found[0], i -> perf.position(i).status());
                forwardAlgo = perf.position(best).algo();
                forwardMath = perf.position(best).mathType();
                c.reserveWorkspace(perf.position(best).memory());
            }
            try (cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(CANDIDATES)) {
                Status.cudnn(cudnn.cudnnFindConvolutionBackwardDataAlgorithm(c.cudnnHandle, w, y, conv, x, CANDIDATES,
                        found, perf), "cudnnFindConvolutionBackwardDataAlgorithm " + s);
                int best = firstSuccessful(found[0], i -> perf.position(i).status());
                backwardDataAlgo = perf.position(best).algo();
                backwardDataMath = perf.position(best).mathType();
                c.reserveWorkspace(perf.position(best).memory());
            }
            try (cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(CANDIDATES)) {
                Status.cudnn(cudnn.cudnnFindConvolutionBackwardFilterAlgorithm(c.cudnnHandle, x, y, conv, w, CANDIDATES,
                        found, perf), "cudnnFindConvolutionBackwardFilterAlgorithm " + s);
                int best = firstSuccessful(found[0], i -> perf.position(i).status());
                backwardFilterAlgo = perf.position(best).algo();
                backwardFilterMath = perf.position(best).mathType();
                c.reserveWorkspace(perf.position(best).memory());
            }
        } catch (RuntimeException e) {
            close(); // frees what was made before the failure
            throw e;
        }
    }

    private int firstSuccessful(int count, java.util.function.IntUnaryOperator status) {
        for (int i = 0; i < count; i++) {
            if (status.applyAsInt(i) == cudnn.CUDNN_STATUS_SUCCESS) {
                return i;
            }
        }
        throw new BackendException("cuDNN found no working algorithm for " + s);
    }

    /** The kernel in cuDNN's layout, in the weight scratch. */
    private org.bytedeco.javacpp.Pointer kernelIntoKrsc(CudaTensor hwio) {
        toKrsc.pointer(0, hwio).address(1, c.weightScratch().address()).intValue(2, s.kernelH() * s.kernelW())
                .intValue(3, s.inC() / s.groups()).intValue(4, s.filters()).run(hwio.size(), c.stream);
        return c.weightScratch();
    }

    void forward(CudaTensor input, CudaTensor kernel, CudaTensor b, CudaTensor output) {
        org.bytedeco.javacpp.Pointer krsc = kernelIntoKrsc(kernel);
        CudaTensor in = padding == null ? input : padding.pad(input);
        Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, forwardMath), "cudnnSetConvolutionMathType");
        Status.cudnn(cudnn.cudnnConvolutionForward(c.cudnnHandle, c.one, x, in.pointer(), w, krsc, conv,
                forwardAlgo, c.workspace(), c.workspaceBytes(), c.zero, y, output.pointer()), "cudnnConvolutionForward " + s);
        Activation a = s.activation();
        if (b != null || a.kind() != Activation.Kind.LINEAR) {
            // Bias and activation in one pass over the output (NHWC: the filter is the fastest-moving index).
            biasActivation.pointer(0, output).pointer(1, b).intValue(2, s.batch() * s.outH() * s.outW())
                    .intValue(3, s.filters()).intValue(4, a.kind().ordinal()).floatValue(5, a.alpha())
                    .floatValue(6, a.maxValue()).run(output.size(), c.stream);
        }
    }

    void backwardData(CudaTensor dy, CudaTensor kernel, CudaTensor dx) {
        org.bytedeco.javacpp.Pointer krsc = kernelIntoKrsc(kernel);
        CudaTensor target = padding == null ? dx : padding.gradient();
        Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, backwardDataMath), "cudnnSetConvolutionMathType");
        Status.cudnn(cudnn.cudnnConvolutionBackwardData(c.cudnnHandle, c.one, w, krsc, y, dy.pointer(),
                conv, backwardDataAlgo, c.workspace(), c.workspaceBytes(), c.zero, x, target.pointer()),
                "cudnnConvolutionBackwardData " + s);
        if (padding != null) {
            padding.crop(dx);
        }
    }

    void backwardFilter(CudaTensor input, CudaTensor dy, CudaTensor dKernel, CudaTensor dBias) {
        // Padded again: plans are shared by layers of equal specs, so the copy may hold another layer's input.
        CudaTensor in = padding == null ? input : padding.pad(input);
        Status.cudnn(cudnn.cudnnSetConvolutionMathType(conv, backwardFilterMath), "cudnnSetConvolutionMathType");
        Status.cudnn(cudnn.cudnnConvolutionBackwardFilter(c.cudnnHandle, c.one, x, in.pointer(), y, dy.pointer(), conv,
                backwardFilterAlgo, c.workspace(), c.workspaceBytes(), c.zero, w, c.weightScratch()),
                "cudnnConvolutionBackwardFilter " + s);
        toHwio.address(0, c.weightScratch().address()).pointer(1, dKernel).intValue(2, s.kernelH() * s.kernelW())
                .intValue(3, s.inC() / s.groups()).intValue(4, s.filters()).run(dKernel.size(), c.stream);
        if (dBias != null) {
            Status.cudnn(cudnn.cudnnConvolutionBackwardBias(c.cudnnHandle, c.one, y, dy.pointer(), c.zero, bias,
                    dBias.pointer()), "cudnnConvolutionBackwardBias " + s);
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
        for (cudnnTensorStruct d : new cudnnTensorStruct[] {bias, y, x}) {
            if (!d.isNull()) {
                cudnn.cudnnDestroyTensorDescriptor(d);
            }
        }
    }
}
