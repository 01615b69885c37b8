package dev.osprey.backend.cuda;

import dev.osprey.Activation;
import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BatchMatMulSpec;
import dev.osprey.backend.BatchNormSpec;
import dev.osprey.backend.LayerNormSpec;
import dev.osprey.backend.Checks;
import static dev.osprey.backend.Checks.sameSize;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.LossKind;
import dev.osprey.backend.Memory;
import dev.osprey.backend.OwnedTensors;
import dev.osprey.backend.Pad2dSpec;
import dev.osprey.backend.PlanCache;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.ResidentData;
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.Tensor;
import java.util.List;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;

/**
 * The CUDA backend: cuDNN convolution and max pooling, cuBLAS GEMM for dense layers, Osprey's kernels (native/) for the
 * rest: activations, batch normalization, average pooling, element-wise ops, padding, concatenation, loss, dropout and
 * optimizer steps. One per device and process, serving every model there. Every op is queued on one stream; nothing
 * waits for the GPU except {@link #copyOut}. Ops are serialized (they share the stream, the workspace and the weight
 * scratch), so any thread may call. TF32 tensor-core math by default (as PyTorch does for cuDNN);
 * {@code -Dosprey.cuda.tf32=false} makes it strict fp32. A self-check against values computed in Java runs once, when
 * the backend opens.
 */
public final class CudaBackend implements Backend {
    private static final int PLANS_PER_KIND = 512;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CudaBackend.class);

    private final CudaContext c;
    private final PinnedStaging staging;
    private final PlanCache<Conv2dSpec, CudaConvPlan> convPlans = new PlanCache<>("cuDNN", PLANS_PER_KIND);
    private final PlanCache<Conv2dSpec, CudaConvPlan> inferenceConvPlans = new PlanCache<>("cuDNN", PLANS_PER_KIND);
    private final PlanCache<Pool2dSpec, CudaPoolPlan> poolPlans = new PlanCache<>("cuDNN", PLANS_PER_KIND);
    private final PlanCache<BatchNormSpec, CudaBatchNormPlan> batchNormPlans = new PlanCache<>("CUDA", PLANS_PER_KIND);
    private final PlanCache<LayerNormSpec, CudaLayerNormPlan> layerNormPlans = new PlanCache<>("CUDA", PLANS_PER_KIND);
    private final Kernels.Launch biasActivation;
    private final Kernels.Launch biasBackward;
    private final Kernels.Launch activationForward;
    private final Kernels.Launch activationBackward;
    private final Kernels.Launch softmaxForward;
    private final Kernels.Launch softmaxBackward;
    private final Kernels.Launch loss;
    private final Kernels.Launch regularize;
    /** Threads of the penalty kernel at most: each sums a grid-stride share and adds it with one atomic. */
    private static final long REGULARIZE_THREADS = 32L * 256;
    private final Kernels.Launch classificationCounts;
    private final Kernels.Launch errorSums;
    private final Kernels.Launch dropout;
    private final Kernels.Launch add;
    private final Kernels.Launch multiply;
    private final Kernels.Launch multiplyChannels;
    private final Kernels.Launch scale;
    private final Kernels.Launch fill;
    private final Kernels.Launch movingAverage;
    private final Kernels.Launch averagePoolForward;
    private final Kernels.Launch averagePoolBackward;
    private final Kernels.Launch pad;
    private final Kernels.Launch crop;
    private final Kernels.Launch permute;
    private final Kernels.Launch sumSquares;
    private final Kernels.Launch scaleToNorm;
    private final Kernels.Launch clipValue;
    private final Kernels.Launch copyColumns;
    private final Kernels.Launch adam;
    private final Kernels.Launch sgd;
    private final Kernels.Launch rmsprop;
    private final Kernels.Launch adamAmsgrad;
    private final Kernels.Launch gatherCodes;
    private final Kernels.Launch gatherRows;
    private final Kernels.Launch toBf16;
    private final String description;
    private long tensorsAllocated;
    private boolean closed;
    /** The thread that last called in; another one must first make this backend's device current. */
    /**
     * The device the CUDA runtime has current on each thread, as our backends last set it (-1: not set by us). The
     * runtime keeps it per thread, not per backend: a thread that used backend 1 and comes back to backend 0 must set
     * device 0 again (data-parallel training moves between backends on one thread).
     */
    private static final ThreadLocal<int[]> CURRENT_DEVICE = ThreadLocal.withInitial(() -> new int[] {-1});

    /**
     * Opens GPU number {@code device} (0-based), with TF32 math unless {@code -Dosprey.cuda.tf32=false}: see
     * {@link #CudaBackend(int, boolean)}.
     */
    public CudaBackend(int device) {
        this(device, Boolean.parseBoolean(System.getProperty("osprey.cuda.tf32", "true")));
    }

    /**
     * Opens GPU number {@code device} (0-based): makes its context, stream, cuDNN and cuBLAS handles, loads the
     * kernels and runs the self-check. tf32 allows TF32 tensor-core math; false keeps it strict fp32. Throws
     * BackendException, having freed what it made, when CUDA is not usable here, a CUDA call fails, or the self-check
     * finds wrong results. Close it to free the device's context.
     */
    public CudaBackend(int device, boolean tf32) {
        dev.osprey.backend.Accelerator.Availability available = CudaProbe.probe();
        if (!available.usable()) {
            throw new dev.osprey.backend.BackendException("the CUDA backend is not usable here: " + available.reason());
        }
        CURRENT_DEVICE.get()[0] = -1; // the context sets its device current on this thread, even if it then fails
        c = new CudaContext(device, tf32);
        CURRENT_DEVICE.get()[0] = device;
        try {
            staging = new PinnedStaging(c);
            biasActivation = c.kernels.launch("osprey_bias_activation_forward", "pppiiiff");
            biasBackward = c.kernels.launch("osprey_bias_backward", "ppii");
            activationForward = c.kernels.launch("osprey_activation_forward", "ppliff");
            activationBackward = c.kernels.launch("osprey_activation_backward", "ppppliff");
            softmaxForward = c.kernels.launch("osprey_softmax_forward", "ppii");
            softmaxBackward = c.kernels.launch("osprey_softmax_backward", "pppii");
            loss = c.kernels.launch("osprey_loss", "ppppiiii");
            regularize = c.kernels.launch("osprey_regularize", "pplfffp");
            classificationCounts = c.kernels.launch("osprey_classification_counts", "pppiiiiii");
            errorSums = c.kernels.launch("osprey_error_sums", "pppiiiii");
            dropout = c.kernels.launch("osprey_dropout_forward", "ppplfl");
            add = c.kernels.launch("osprey_add", "pppl");
            multiply = c.kernels.launch("osprey_multiply", "pppl");
            multiplyChannels = c.kernels.launch("osprey_multiply_channels", "ppplii");
            scale = c.kernels.launch("osprey_scale", "pplff");
            fill = c.kernels.launch("osprey_fill", "plf");
            movingAverage = c.kernels.launch("osprey_moving_average", "pplf");
            averagePoolForward = c.kernels.launch("osprey_average_pool_forward", "ppiiiiiiiiiiii");
            averagePoolBackward = c.kernels.launch("osprey_average_pool_backward", "ppiiiiiiiiiiii");
            pad = c.kernels.launch("osprey_pad_nhwc", "ppiiiiiiiif");
            crop = c.kernels.launch("osprey_crop_nhwc", "ppiiiiiiii");
            permute = c.kernels.launch("osprey_permute3", "ppiiiiiii");
            sumSquares = c.kernels.launch("osprey_sum_of_squares", "plp");
            scaleToNorm = c.kernels.launch("osprey_scale_to_norm", "plpf");
            clipValue = c.kernels.launch("osprey_clip_by_value", "plf");
            copyColumns = c.kernels.launch("osprey_copy_columns", "ppiiiiii");
            adam = c.kernels.launch("osprey_adam_update", "pppplffffpf");
            sgd = c.kernels.launch("osprey_sgd_update", "ppplffipf");
            rmsprop = c.kernels.launch("osprey_rmsprop_update", "ppppplffffpf");
            adamAmsgrad = c.kernels.launch("osprey_adam_amsgrad_update", "ppppplffffpf");
            gatherCodes = c.kernels.launch("osprey_gather_codes", "pppillp");
            toBf16 = c.kernels.launch("osprey_to_bf16", "ppl");
            gatherRows = c.kernels.launch("osprey_gather_rows", "ppillp");
            int[] runtime = new int[1];
            cudart.cudaRuntimeGetVersion(runtime);
            description = "cuda:" + device + ": CUDA runtime " + runtime[0] / 1000 + "." + runtime[0] % 1000 / 10
                    + ", cuDNN " + cudnn.cudnnGetVersion() + (tf32 ? ", TF32 math" : ", strict fp32");
            SelfCheck.run(this);
        } catch (RuntimeException e) {
            try { // best effort: after a sticky CUDA error (an illegal address) every call fails, close's too
                close();
            } catch (RuntimeException | LinkageError closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
    }

    @Override
    public String description() {
        return description;
    }

    /** Waits for the stream's queued ops (a per-layer profile times each call alone). */
    @Override
    public synchronized void synchronize() {
        enter();
        c.synchronize();
    }

    // ---- memory ------------------------------------------------------------------------------------------

    @Override
    public synchronized Memory newMemory() {
        enter();
        return new OwnedTensors<>(this::allocateTensor, this::free);
    }

    /** For {@link #newMemory()}: a new device tensor, counted. */
    synchronized CudaTensor allocateTensor(int[] shape) {
        enter();
        tensorsAllocated++;
        return CudaTensor.allocate(shape);
    }

    /**
     * For {@link #newMemory()}: frees tensors once queued work that may use them is done. After {@link #close()} too:
     * the backend's handles and stream are gone, but the device's primary context, and the memory in it, are not
     * (cudaFree waits for the device itself).
     */
    synchronized void free(List<CudaTensor> tensors) {
        if (c == null) {
            return; // never opened: nothing was allocated
        }
        if (closed) {
            int[] current = CURRENT_DEVICE.get();
            if (current[0] != c.device && cudart.cudaSetDevice(c.device) == cudart.cudaSuccess) {
                current[0] = c.device;
            }
            tensors.forEach(CudaTensor::close);
            return;
        }
        enter();
        c.synchronize();
        tensors.forEach(CudaTensor::close);
    }

    @Override
    public Tensor view(Tensor base, long offset, int... shape) {
        return cuda(base).view(offset, shape);
    }

    @Override
    public synchronized void copyIn(float[] source, int sourceOffset, Tensor destination) {
        CudaTensor d = cuda(destination);
        int n = (int) d.size();
        if (sourceOffset < 0 || sourceOffset + n > source.length) {
            throw new IllegalArgumentException("copyIn: expected " + n + " floats from offset " + sourceOffset
                    + ", received an array of " + source.length);
        }
        staging.upload(source, sourceOffset, n, d);
    }

    @Override
    public synchronized void copyOut(Tensor source, float[] destination, int destinationOffset) {
        CudaTensor s = cuda(source);
        if (destinationOffset < 0 || destinationOffset + s.size() > destination.length) {
            throw new IllegalArgumentException("copyOut: expected room for " + s.size() + " floats at offset "
                    + destinationOffset + ", received an array of " + destination.length);
        }
        staging.download(s, destination, destinationOffset);
    }

    @Override
    public synchronized void fill(Tensor tensor, float value) {
        CudaTensor t = cuda(tensor);
        fill.pointer(0, t).longValue(1, t.size()).floatValue(2, value).run(t.size(), c.stream);
    }

    @Override
    public synchronized void movingAverage(Tensor average, Tensor values, float momentum) {
        sameSize("movingAverage", average, values);
        Checks.movingAverageMomentum(momentum);
        movingAverage.pointer(0, cuda(average)).pointer(1, cuda(values)).longValue(2, average.size())
                .floatValue(3, momentum).run(average.size(), c.stream);
    }

    // ---- convolution and pooling -------------------------------------------------------------------------

    @Override
    public synchronized void conv2dForward(Conv2dSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.conv2dForward(spec, x, kernel, bias, y);
        conv(spec).forward(cuda(x), cuda(kernel), bias == null ? null : cuda(bias), cuda(y));
    }

    @Override
    public synchronized void conv2dBackwardData(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.conv2dBackwardData(spec, dy, kernel, dx);
        conv(spec).backwardData(cuda(dy), cuda(kernel), cuda(dx));
    }

    @Override
    public synchronized void conv2dBackwardFilter(Conv2dSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
        conv(spec).backwardFilter(cuda(x), cuda(dy), cuda(dKernel), dBias == null ? null : cuda(dBias));
    }

    /** The training plan of spec: forward, backward-data and backward-filter. */
    private CudaConvPlan conv(Conv2dSpec spec) {
        enter();
        // Activations cuDNN can't fuse run in Osprey's epilogue kernel, which the plan always uses.
        return convPlans.get(spec, s -> newConvPlan(s, true, bf16InFp32));
    }

    /** The inference plan of spec: the forward alone, so cuDNN searches and sizes its workspace for that alone. */
    private CudaConvPlan inferenceConv(Conv2dSpec spec) {
        enter();
        return inferenceConvPlans.get(spec, s -> newConvPlan(s, false, bf16InFp32ForInference));
    }

    /**
     * A plan for s; under bf16 math, where cuDNN has no bf16 algorithm for this geometry (in a direction the plan
     * runs), an fp32 one instead: the layer then multiplies in fp32, said once in the log and counted in
     * {@link #bf16ConvolutionsInFp32()}, as oneDNN's missing bf16 kernels fall back on the CPU. fellBack remembers
     * those geometries, so that a plan evicted and made again keeps its number format. Any other failure (out of
     * memory, say) is thrown.
     */
    private CudaConvPlan newConvPlan(Conv2dSpec s, boolean training, java.util.Set<Conv2dSpec> fellBack) {
        if (s.math() != dev.osprey.Precision.BF16) {
            return new CudaConvPlan(c, s, training);
        }
        if (!fellBack.contains(s)) {
            try {
                return new CudaConvPlan(c, s, training);
            } catch (CudaConvPlan.NoAlgorithm e) {
                LOG.warn("cuDNN has no bf16 convolution for {}: this layer multiplies in fp32 ({})", s, e.getMessage());
                fellBack.add(s);
            }
        }
        return new CudaConvPlan(c, s.withMath(dev.osprey.Precision.FP32), training);
    }

    /** The bf16 convolutions cuDNN has no bf16 algorithm for here (in training; in inference), which use fp32. */
    private final java.util.Set<Conv2dSpec> bf16InFp32 = new java.util.HashSet<>();
    private final java.util.Set<Conv2dSpec> bf16InFp32ForInference = new java.util.HashSet<>();

    /**
     * How many convolution geometries asked for bf16 math and multiply in fp32 instead, because cuDNN has no bf16
     * algorithm for them here (each is logged once, when its plan is first made).
     */
    public synchronized long bf16ConvolutionsInFp32() {
        java.util.Set<Conv2dSpec> all = new java.util.HashSet<>(bf16InFp32);
        all.addAll(bf16InFp32ForInference);
        return all.size();
    }

    // ---- inference: kernels prepared once in cuDNN's layout, residual sums in the epilogue ----

    /** The convolution of op with the math of its precision (fp32, bf16 or fp16), refused where unavailable. */
    private Conv2dSpec inferenceSpec(dev.osprey.backend.ConvInference op) {
        String reason = unavailable(op.precision());
        if (reason != null) {
            throw new UnsupportedOperationException(reason);
        }
        return op.precision() == dev.osprey.Precision.FP32 ? op.spec() : op.spec().withMath(op.precision());
    }

    /** A kernel in cuDNN's layout and the plan's number format (bf16 packs two values to a float). */
    @Override
    public synchronized long conv2dInferenceKernelSize(dev.osprey.backend.ConvInference op) {
        return inferenceConv(inferenceSpec(op)).preparedFloats();
    }

    @Override
    public synchronized void conv2dPrepareInferenceKernel(dev.osprey.backend.ConvInference op, Tensor kernel,
                                                          Tensor prepared) {
        CudaConvPlan plan = inferenceConv(inferenceSpec(op));
        Checks.expect("conv2dPrepareInferenceKernel kernel", kernel, op.spec().kernelShape());
        Checks.preparedKernel("conv2dPrepareInferenceKernel prepared", prepared, plan.preparedFloats(),
                op.spec().kernelShape());
        plan.prepare(cuda(kernel), cuda(prepared));
    }

    /**
     * One cuDNN convolution and one epilogue pass (bias, residual, activation) per call, on the kernel prepared once:
     * nothing is reordered per call, and a residual sum costs no pass of its own.
     */
    @Override
    public synchronized void conv2dInference(dev.osprey.backend.ConvInference op, Tensor x, Tensor kernel, Tensor bias,
                                             Tensor residual, Tensor y) {
        Conv2dSpec spec = inferenceSpec(op);
        Checks.notFused("conv2dInference", op);
        Checks.notPooled("conv2dInference", op);
        CudaConvPlan plan = inferenceConv(spec);
        Checks.conv2dInference(op, x, kernel, plan.preparedFloats(), bias, residual, y);
        plan.inference(cuda(x), cuda(kernel), bias == null ? null : cuda(bias),
                residual == null ? null : cuda(residual), cuda(y));
    }


    @Override
    public long pool2dWorkspaceSize(Pool2dSpec spec) {
        return 0; // cuDNN finds the maxima again from x and y; average pooling needs none
    }

    @Override
    public synchronized void pool2dForward(Pool2dSpec spec, Tensor x, Tensor y, Tensor workspace) {
        Checks.pool2dForward(spec, x, y, workspace, 0);
        enter();
        if (spec.mode() == Pool2dSpec.Mode.MAX) {
            poolPlans.get(spec, s -> new CudaPoolPlan(c, s)).forward(cuda(x), cuda(y));
            return;
        }
        averagePool(averagePoolForward, spec, cuda(x), cuda(y), y.size());
    }

    @Override
    public synchronized void pool2dBackward(Pool2dSpec spec, Tensor x, Tensor y, Tensor dy, Tensor workspace,
                                            Tensor dx) {
        Checks.pool2dBackward(spec, x, y, dy, workspace, dx, 0);
        enter();
        if (spec.mode() == Pool2dSpec.Mode.MAX) {
            poolPlans.get(spec, s -> new CudaPoolPlan(c, s)).backward(cuda(x), cuda(y), cuda(dy), cuda(dx));
            return;
        }
        averagePool(averagePoolBackward, spec, cuda(dy), cuda(dx), dx.size());
    }

    /** Osprey's average pooling (padding excluded from the count, any padding): from x to y, or from dy to dx. */
    private void averagePool(Kernels.Launch kernel, Pool2dSpec s, CudaTensor from, CudaTensor to, long threads) {
        kernel.pointer(0, from).pointer(1, to).intValue(2, s.batch()).intValue(3, s.inH()).intValue(4, s.inW())
                .intValue(5, s.channels()).intValue(6, s.outH()).intValue(7, s.outW()).intValue(8, s.poolH())
                .intValue(9, s.poolW()).intValue(10, s.strideH()).intValue(11, s.strideW()).intValue(12, s.padTop())
                .intValue(13, s.padLeft()).run(threads, c.stream);
    }

    /**
     * fp16 products where the GPU has tensor cores for them (compute capability 7.0 and up): cuDNN and cuBLAS round
     * the fp32 operands to fp16 and sum in fp32, every tensor staying fp32 (see {@link CudaConvPlan} and
     * {@link #gemm}). bf16 products where it has bf16 tensor cores (8.0 and up, Ampere on) and a first bf16 dense
     * layer and convolution give the right answers ({@link SelfCheck#bf16}): cuBLAS rounds the fp32 operands itself,
     * cuDNN gets bf16 copies.
     */
    @Override
    public String trainingUnavailable(dev.osprey.Precision math) {
        return switch (math) {
            case FP32 -> null;
            case FP16 -> c.computeMajor >= 7 ? null : description + ": compute capability " + c.computeMajor + "."
                    + c.computeMinor + " has no fp16 tensor cores (7.0 and up have them)";
            case BF16 -> bf16Unavailable();
            case INT8 -> "int8 is for inference only (Model.quantize); training on this GPU multiplies in fp32, or "
                    + "in fp16 or bf16 under a mixed-precision policy where it has them";
        };
    }

    /**
     * Inference in bf16 or fp16 where that training math is available: convolutions and dense layers multiply bf16 or
     * fp16 operands and sum in fp32 (the composed inference ops of {@link Backend}, with the spec's math set to the
     * precision). fp32 always; int8 is not built for the CUDA backend.
     */
    @Override
    public String unavailable(dev.osprey.Precision precision) {
        return switch (precision) {
            case FP32, FP16, BF16 -> trainingUnavailable(precision);
            case INT8 -> description + ": int8 inference is not built for the CUDA backend; it infers in fp32, or in "
                    + "fp16 or bf16 where the GPU has them";
        };
    }

    private String bf16Unavailable;
    private boolean bf16Checked;

    /** Why bf16 products can't run here, or null; decided once (the first ask runs the check on the GPU). */
    private synchronized String bf16Unavailable() {
        if (!bf16Checked) {
            bf16Unavailable = c.computeMajor < 8 ? description + ": compute capability " + c.computeMajor + "."
                    + c.computeMinor + " has no bf16 tensor cores (8.0 and up have them)"
                    + (c.computeMajor >= 7 ? "; fp16 (mixed_float16) is available" : "")
                    : SelfCheck.bf16(this, this::bf16ConvolutionsInFp32);
            bf16Checked = true;
        }
        return bf16Unavailable;
    }

    // ---- dense: row-major (N, K) x (K, U) through column-major cuBLAS ------------------------------------

    /**
     * C = A . B (column-major, each operand transposed or not) for the dense layer s: cublasSgemm in the context's
     * math (fp32, or TF32 where allowed); with fp16 math cublasGemmEx on the same fp32 arrays with the compute type
     * that lets cuBLAS round the operands to fp16 for tensor cores and sum in fp32; with bf16 math cublasGemmEx on bf16
     * copies of the operands (rounded to nearest even into the context's bf16 scratches, so that every product is
     * of bf16 values whatever kernel cuBLAS picks), summing in fp32 and writing fp32.
     */
    private void gemm(DenseSpec s, int opA, int opB, int m, int n, int k, Tensor a, int lda, Tensor b, int ldb,
                      Tensor cOut, int ldc, String what) {
        if (s.math() == dev.osprey.Precision.BF16) {
            c.reserveBf16Scratch(a.size() * Short.BYTES, b.size() * Short.BYTES);
            toBf16.pointer(0, cuda(a)).address(1, c.bf16ScratchA().address()).longValue(2, a.size())
                    .run(a.size(), c.stream);
            toBf16.pointer(0, cuda(b)).address(1, c.bf16ScratchB().address()).longValue(2, b.size())
                    .run(b.size(), c.stream);
            Status.cublas(cublas.cublasGemmEx(c.cublasHandle, opA, opB, m, n, k, c.one, c.bf16ScratchA(),
                    cudart.CUDA_R_16BF, lda, c.bf16ScratchB(), cudart.CUDA_R_16BF, ldb, c.zero, cuda(cOut).pointer(),
                    cudart.CUDA_R_32F, ldc, cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT),
                    "cublasGemmEx(" + what + ", bf16 operands) " + s);
        } else if (s.math() == dev.osprey.Precision.FP16) {
            if (!c.tf32) { // strict fp32 sets the handle pedantic, which could veto the fp16 compute type
                Status.cublas(cublas.cublasSetMathMode(c.cublasHandle, cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            }
            try {
                Status.cublas(cublas.cublasGemmEx(c.cublasHandle, opA, opB, m, n, k, c.one, cuda(a).pointer(),
                        cudart.CUDA_R_32F, lda, cuda(b).pointer(), cudart.CUDA_R_32F, ldb, c.zero, cuda(cOut).pointer(),
                        cudart.CUDA_R_32F, ldc, cublas.CUBLAS_COMPUTE_32F_FAST_16F, cublas.CUBLAS_GEMM_DEFAULT),
                        "cublasGemmEx(" + what + ", fp16 math) " + s);
            } finally {
                if (!c.tf32) {
                    Status.cublas(cublas.cublasSetMathMode(c.cublasHandle, cublas.CUBLAS_PEDANTIC_MATH),
                            "cublasSetMathMode");
                }
            }
        } else {
            Status.cublas(cublas.cublasSgemm_v2(c.cublasHandle, opA, opB, m, n, k, c.one, cuda(a).pointer(), lda,
                    cuda(b).pointer(), ldb, c.zero, cuda(cOut).pointer(), ldc), "cublasSgemm(" + what + ") " + s);
        }
    }

    @Override
    public synchronized void denseForward(DenseSpec s, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.denseForward(s, x, kernel, bias, y);
        // Y^T (U x N) = W^T (U x K) . X^T (K x N): row-major arrays read column-major are the transposes.
        gemm(s, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, s.units(), s.batch(), s.inFeatures(), kernel, s.units(), x,
                s.inFeatures(), y, s.units(), "dense forward");
        Activation a = s.activation();
        biasActivation.pointer(0, cuda(y)).pointer(1, cuda(bias)).pointer(2, null).intValue(3, s.batch())
                .intValue(4, s.units()).intValue(5, a.kind().ordinal()).floatValue(6, a.alpha())
                .floatValue(7, a.maxValue())
                .run(y.size(), c.stream);
    }

    @Override
    public synchronized void denseBackwardData(DenseSpec s, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.denseBackwardData(s, dy, kernel, dx);
        // dX^T (K x N) = W (K x U) . dY^T (U x N)
        gemm(s, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, s.inFeatures(), s.batch(), s.units(), kernel, s.units(), dy,
                s.units(), dx, s.inFeatures(), "dense backward-data");
    }

    @Override
    public synchronized void denseBackwardWeights(DenseSpec s, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.denseBackwardWeights(s, x, dy, dKernel, dBias);
        // dW^T (U x K) = dY^T (U x N) . X (N x K)
        gemm(s, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_T, s.units(), s.inFeatures(), s.batch(), dy, s.units(), x,
                s.inFeatures(), dKernel, s.units(), "dense backward-weights");
        biasBackward.pointer(0, cuda(dy)).pointer(1, cuda(dBias)).intValue(2, s.batch()).intValue(3, s.units())
                .run(s.units(), c.stream);
    }

    // ---- batched matrix products: row-major operands through column-major cuBLAS ---------------------------

    /**
     * C = op(A) . op(B) per batch item as cuBLAS sees it: a row-major array read column-major is its transpose, so
     * C^T (n x m) = op(B)^T . op(A)^T, in the context's math (fp32, or TF32 where allowed). Packed items are one
     * cublasSgemmStridedBatched; items laid out per sample and head (attention's rows) are one such call per head over
     * the samples, or per sample over the heads where there are fewer samples, each operand's row stride its leading
     * dimension.
     */
    @Override
    public synchronized void batchMatMul(BatchMatMulSpec s, Tensor a, Tensor b, Tensor cOut) {
        Checks.batchMatMul(s, a, b, cOut);
        int opB = s.transposeB() ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N;
        int opA = s.transposeA() ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N;
        BatchMatMulSpec.Layout la = s.aLayout(), lb = s.bLayout(), lc = s.cLayout();
        boolean packed = s.packed();
        boolean perHead = !packed && s.heads() <= s.batch(); // loop over the shorter of the two
        int calls = packed ? 1 : perHead ? s.heads() : s.batch();
        int itemsPerCall = packed ? Math.toIntExact(s.items()) : perHead ? s.batch() : s.heads();
        for (int i = 0; i < calls; i++) {
            long aAt = perHead ? i * la.headStride() : i * la.sampleStride();
            long bAt = perHead ? i * lb.headStride() : i * lb.sampleStride();
            long cAt = perHead ? i * lc.headStride() : i * lc.sampleStride();
            Status.cublas(cublas.cublasSgemmStridedBatched(c.cublasHandle, opB, opA, s.n(), s.m(), s.k(), c.one,
                    cuda(b).pointer().getPointer(bAt), Math.toIntExact(lb.rowStride()),
                    perHead ? lb.sampleStride() : lb.headStride(),
                    cuda(a).pointer().getPointer(aAt), Math.toIntExact(la.rowStride()),
                    perHead ? la.sampleStride() : la.headStride(), c.zero,
                    cuda(cOut).pointer().getPointer(cAt), Math.toIntExact(lc.rowStride()),
                    perHead ? lc.sampleStride() : lc.headStride(), itemsPerCall), "cublasSgemmStridedBatched " + s);
        }
    }

    // ---- normalization -----------------------------------------------------------------------------------

    @Override
    public long batchNormWorkspaceSize(BatchNormSpec spec) {
        return 0; // a fused ReLU's backward masks by the output
    }

    @Override
    public synchronized void batchNormForwardTraining(BatchNormSpec spec, Tensor x, Tensor gamma, Tensor beta,
                                                      Tensor movingMean, Tensor movingVariance, Tensor y,
                                                      Tensor batchMean, Tensor batchVariance, Tensor workspace) {
        Checks.batchNorm("batchNormForwardTraining", spec, x, y, gamma, beta, movingMean, movingVariance, batchMean,
                batchVariance);
        batchNorm(spec).forwardTraining(cuda(x), cuda(gamma), cuda(beta), cuda(movingMean), cuda(movingVariance),
                cuda(y), cuda(batchMean), cuda(batchVariance));
    }

    @Override
    public synchronized void batchNormForwardInference(BatchNormSpec spec, Tensor x, Tensor gamma, Tensor beta,
                                                       Tensor movingMean, Tensor movingVariance, Tensor y) {
        Checks.batchNorm("batchNormForwardInference", spec, x, y, gamma, beta, movingMean, movingVariance);
        batchNorm(spec).forwardInference(cuda(x), cuda(gamma), cuda(beta), cuda(movingMean), cuda(movingVariance),
                cuda(y));
    }

    @Override
    public synchronized void batchNormBackward(BatchNormSpec spec, Tensor x, Tensor y, Tensor dy, Tensor gamma,
                                               Tensor batchMean, Tensor batchVariance, Tensor workspace, Tensor dx,
                                               Tensor dGamma, Tensor dBeta) {
        Checks.batchNorm("batchNormBackward", spec, x, dx, gamma, batchMean, batchVariance, dGamma, dBeta);
        Checks.expect("batchNormBackward dy", dy, spec.shape());
        Checks.expect("batchNormBackward y", y, spec.shape());
        batchNorm(spec).backward(cuda(x), cuda(y), cuda(dy), cuda(gamma), cuda(batchMean), cuda(batchVariance),
                cuda(dx), cuda(dGamma), cuda(dBeta));
    }

    private CudaBatchNormPlan batchNorm(BatchNormSpec spec) {
        enter();
        return batchNormPlans.get(spec, s -> new CudaBatchNormPlan(c, s));
    }

    @Override
    public synchronized void layerNormForward(LayerNormSpec spec, Tensor x, Tensor gamma, Tensor beta, Tensor y,
                                              Tensor mean, Tensor variance) {
        Checks.layerNormForward(spec, x, gamma, beta, y, mean, variance);
        layerNorm(spec).forward(cuda(x), cuda(gamma), cuda(beta), cuda(y), mean == null ? null : cuda(mean),
                variance == null ? null : cuda(variance));
    }

    @Override
    public synchronized void layerNormBackward(LayerNormSpec spec, Tensor x, Tensor dy, Tensor gamma, Tensor mean,
                                               Tensor variance, Tensor dx, Tensor dGamma, Tensor dBeta) {
        Checks.layerNormBackward(spec, x, dy, gamma, mean, variance, dx, dGamma, dBeta);
        layerNorm(spec).backward(cuda(x), cuda(dy), cuda(gamma), cuda(mean), cuda(variance), cuda(dx), cuda(dGamma),
                cuda(dBeta));
    }

    private CudaLayerNormPlan layerNorm(LayerNormSpec spec) {
        enter();
        return layerNormPlans.get(spec, s -> new CudaLayerNormPlan(c, s));
    }

    // ---- element-wise ------------------------------------------------------------------------------------

    @Override
    public synchronized void activationForward(Activation a, Tensor x, Tensor y) {
        int[] rows = Checks.activation("activationForward", a, x, y);
        if (a.kind() == Activation.Kind.SOFTMAX) {
            softmaxForward.pointer(0, cuda(x)).pointer(1, cuda(y)).intValue(2, rows[0]).intValue(3, rows[1])
                    .run(rows[0], c.stream);
            return;
        }
        activationForward.pointer(0, cuda(x)).pointer(1, cuda(y)).longValue(2, y.size()).intValue(3, a.kind().ordinal())
                .floatValue(4, a.alpha()).floatValue(5, a.maxValue()).run(y.size(), c.stream);
    }

    @Override
    public synchronized void activationBackward(Activation a, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        int[] rows = Checks.activation("activationBackward", a, x, y);
        sameSize("activationBackward", y, dy, dx);
        if (a.kind() == Activation.Kind.SOFTMAX) {
            softmaxBackward.pointer(0, cuda(y)).pointer(1, cuda(dy)).pointer(2, cuda(dx)).intValue(3, rows[0])
                    .intValue(4, rows[1]).run(rows[0], c.stream);
            return;
        }
        if (x == null && !a.differentiableFromOutput()) {
            throw new IllegalArgumentException("activationBackward: " + a + " needs the forward's input x, received null");
        }
        activationBackward.pointer(0, x == null ? null : cuda(x)).pointer(1, cuda(y)).pointer(2, cuda(dy))
                .pointer(3, cuda(dx)).longValue(4, y.size()).intValue(5, a.kind().ordinal()).floatValue(6, a.alpha())
                .floatValue(7, a.maxValue()).run(y.size(), c.stream);
    }

    @Override
    public synchronized void add(Tensor a, Tensor b, Tensor out) {
        sameSize("add", a, b, out);
        add.pointer(0, cuda(a)).pointer(1, cuda(b)).pointer(2, cuda(out)).longValue(3, a.size()).run(a.size(), c.stream);
    }

    @Override
    public synchronized void multiply(Tensor a, Tensor b, Tensor out) {
        sameSize("multiply", a, b, out);
        multiply.pointer(0, cuda(a)).pointer(1, cuda(b)).pointer(2, cuda(out)).longValue(3, a.size())
                .run(a.size(), c.stream);
    }

    @Override
    public synchronized void multiplyChannels(Tensor x, Tensor gate, Tensor out) {
        int[] bpc = dev.osprey.backend.Checks.channelGate("multiplyChannels", x, gate, out);
        multiplyChannels.pointer(0, cuda(x)).pointer(1, cuda(gate)).pointer(2, cuda(out)).longValue(3, x.size())
                .intValue(4, bpc[1]).intValue(5, bpc[2]).run(x.size(), c.stream);
    }

    @Override
    public synchronized void scale(Tensor x, float factor, float offset, Tensor y) {
        sameSize("scale", x, y);
        scale.pointer(0, cuda(x)).pointer(1, cuda(y)).longValue(2, x.size()).floatValue(3, factor)
                .floatValue(4, offset).run(x.size(), c.stream);
    }

    @Override
    public synchronized void pad2dForward(Pad2dSpec s, Tensor x, Tensor y) {
        Checks.pad2d("pad2dForward", s, x, y);
        pad.pointer(0, cuda(x)).pointer(1, cuda(y)).intValue(2, s.batch()).intValue(3, s.inH()).intValue(4, s.inW())
                .intValue(5, s.channels()).intValue(6, s.top()).intValue(7, s.left()).intValue(8, s.outH())
                .intValue(9, s.outW()).floatValue(10, 0f).run(y.size(), c.stream);
    }

    @Override
    public synchronized void pad2dBackward(Pad2dSpec s, Tensor dy, Tensor dx) {
        Checks.pad2d("pad2dBackward", s, dx, dy);
        crop.pointer(0, cuda(dy)).pointer(1, cuda(dx)).intValue(2, s.batch()).intValue(3, s.inH()).intValue(4, s.inW())
                .intValue(5, s.channels()).intValue(6, s.top()).intValue(7, s.left()).intValue(8, s.outH())
                .intValue(9, s.outW()).run(dx.size(), c.stream);
    }

    @Override
    public synchronized void sumOfSquares(Tensor x, Tensor result) {
        if (result.size() != 1) {
            throw new IllegalArgumentException("sumOfSquares: expected a result of 1 value, received " + result.size());
        }
        fill(result, 0f);
        sumSquares.pointer(0, cuda(x)).longValue(1, x.size()).pointer(2, cuda(result)).run(x.size(), c.stream);
    }

    @Override
    public synchronized void scaleToNorm(Tensor x, Tensor sumOfSquares, float maxNorm) {
        scaleToNorm.pointer(0, cuda(x)).longValue(1, x.size()).pointer(2, cuda(sumOfSquares)).floatValue(3, maxNorm)
                .run(x.size(), c.stream);
    }

    @Override
    public synchronized void clipByValue(Tensor x, float limit) {
        clipValue.pointer(0, cuda(x)).longValue(1, x.size()).floatValue(2, limit).run(x.size(), c.stream);
    }

    @Override
    public synchronized void permute(dev.osprey.backend.PermuteSpec s, Tensor x, Tensor y) {
        Checks.permute("permute", s, x, y);
        permute.pointer(0, cuda(x)).pointer(1, cuda(y)).intValue(2, s.batch()).intValue(3, s.dims()[0])
                .intValue(4, s.dims()[1]).intValue(5, s.dims()[2]).intValue(6, s.perm()[0]).intValue(7, s.perm()[1])
                .intValue(8, s.perm()[2]).run(s.size(), c.stream);
    }

    @Override
    public synchronized void concat(int rows, List<Tensor> parts, Tensor whole) {
        int[] widths = Checks.concat("concat", rows, parts, whole);
        int total = whole.size() > 0 ? (int) (whole.size() / rows) : 0;
        int offset = 0;
        for (int i = 0; i < widths.length; i++) {
            copyColumns.pointer(0, cuda(parts.get(i))).pointer(1, cuda(whole)).intValue(2, rows).intValue(3, widths[i])
                    .intValue(4, widths[i]).intValue(5, 0).intValue(6, total).intValue(7, offset)
                    .run((long) rows * widths[i], c.stream);
            offset += widths[i];
        }
    }

    @Override
    public synchronized void split(int rows, Tensor whole, List<Tensor> parts) {
        int[] widths = Checks.concat("split", rows, parts, whole);
        int total = (int) (whole.size() / rows);
        int offset = 0;
        for (int i = 0; i < widths.length; i++) {
            copyColumns.pointer(0, cuda(whole)).pointer(1, cuda(parts.get(i))).intValue(2, rows).intValue(3, widths[i])
                    .intValue(4, total).intValue(5, offset).intValue(6, widths[i]).intValue(7, 0)
                    .run((long) rows * widths[i], c.stream);
            offset += widths[i];
        }
    }

    // ---- loss, dropout, optimizers -----------------------------------------------------------------------

    @Override
    public synchronized void loss(LossKind kind, Tensor outputs, Tensor targets, Tensor dOutputs, Tensor stats) {
        int[] shape = Checks.loss(kind, outputs, targets, dOutputs, stats);
        loss.pointer(0, cuda(outputs)).pointer(1, cuda(targets)).pointer(2, dOutputs == null ? null : cuda(dOutputs))
                .pointer(3, cuda(stats)).intValue(4, shape[0]).intValue(5, shape[1]).intValue(6, shape[2])
                .intValue(7, kind.ordinal()).run(shape[0], c.stream);
    }

    @Override
    public synchronized void classificationCounts(Tensor outputs, Activation.Kind scores, Tensor targets, int k,
                                                  Tensor counts, long firstRow) {
        int[] shape = Checks.classificationCounts(outputs, scores, targets, k, counts, firstRow);
        classificationCounts.pointer(0, cuda(outputs)).pointer(1, cuda(targets)).pointer(2, cuda(counts))
                .intValue(3, shape[0]).intValue(4, shape[1]).intValue(5, shape[2])
                .intValue(6, scores == null ? 0 : scores.ordinal()).intValue(7, k)
                .intValue(8, (int) (firstRow % dev.osprey.metrics.ErrorSums.LANES)).run(shape[0], c.stream);
    }

    @Override
    public synchronized void errorSums(Tensor outputs, Activation.Kind scores, Tensor targets, Tensor sums,
                                       long firstRow) {
        int[] shape = Checks.errorSums(outputs, scores, targets, sums, firstRow);
        errorSums.pointer(0, cuda(outputs)).pointer(1, cuda(targets)).pointer(2, cuda(sums))
                .intValue(3, shape[0]).intValue(4, shape[1]).intValue(5, shape[2])
                .intValue(6, scores == null ? 0 : scores.ordinal())
                .intValue(7, (int) (firstRow % dev.osprey.metrics.ErrorSums.LANES)).run(shape[0], c.stream);
    }

    @Override
    public synchronized void regularize(Tensor weights, Tensor gradient, float l1, float l2, float lossScale,
                                        Tensor stats) {
        Checks.regularize(weights, gradient, l1, l2, stats);
        regularize.pointer(0, cuda(weights)).pointer(1, gradient == null ? null : cuda(gradient))
                .longValue(2, weights.size()).floatValue(3, l1).floatValue(4, l2).floatValue(5, lossScale)
                .pointer(6, cuda(stats)).run(Math.min(weights.size(), REGULARIZE_THREADS), c.stream);
    }

    @Override
    public synchronized void dropoutForward(float rate, long seed, Tensor x, Tensor mask, Tensor y) {
        Checks.dropoutForward(rate, x, mask, y);
        dropout.pointer(0, cuda(x)).pointer(1, cuda(mask)).pointer(2, cuda(y)).longValue(3, x.size()).floatValue(4, rate)
                .longValue(5, seed).run(x.size(), c.stream);
    }

    @Override
    public synchronized void adamUpdate(AdamSpec s, long step, Tensor params, Tensor grads, Tensor m, Tensor v,
                                        Tensor decayMask) {
        sameSize("adamUpdate", params, grads, m, v);
        if (decayMask != null) {
            sameSize("adamUpdate decayMask", params, decayMask);
        }
        float alpha = (float) (s.learningRate() * Math.sqrt(1 - Math.pow(s.beta2(), step))
                / (1 - Math.pow(s.beta1(), step)));
        adam.pointer(0, cuda(params)).pointer(1, cuda(grads)).pointer(2, cuda(m)).pointer(3, cuda(v))
                .longValue(4, params.size()).floatValue(5, alpha).floatValue(6, s.beta1()).floatValue(7, s.beta2())
                .floatValue(8, s.epsilon()).pointer(9, decayMask == null ? null : cuda(decayMask))
                .floatValue(10, s.learningRate() * s.weightDecay()).run(params.size(), c.stream);
    }

    @Override
    public synchronized void sgdUpdate(SgdSpec s, Tensor params, Tensor grads, Tensor velocity, Tensor decayMask) {
        sameSize("sgdUpdate", params, grads, velocity);
        if (decayMask != null) {
            sameSize("sgdUpdate decayMask", params, decayMask);
        }
        sgd.pointer(0, cuda(params)).pointer(1, cuda(grads)).pointer(2, cuda(velocity)).longValue(3, params.size())
                .floatValue(4, s.learningRate()).floatValue(5, s.momentum()).intValue(6, s.nesterov() ? 1 : 0)
                .pointer(7, decayMask == null ? null : cuda(decayMask))
                .floatValue(8, s.learningRate() * s.weightDecay()).run(params.size(), c.stream);
    }

    @Override
    public synchronized void adamAmsgradUpdate(AdamSpec s, long step, Tensor params, Tensor grads, Tensor m, Tensor v,
                                               Tensor vhat, Tensor decayMask) {
        sameSize("adamAmsgradUpdate", params, grads, m, v, vhat);
        if (decayMask != null) {
            sameSize("adamAmsgradUpdate decayMask", params, decayMask);
        }
        float alpha = (float) (s.learningRate() * Math.sqrt(1 - Math.pow(s.beta2(), step))
                / (1 - Math.pow(s.beta1(), step)));
        adamAmsgrad.pointer(0, cuda(params)).pointer(1, cuda(grads)).pointer(2, cuda(m)).pointer(3, cuda(v))
                .pointer(4, cuda(vhat)).longValue(5, params.size()).floatValue(6, alpha).floatValue(7, s.beta1())
                .floatValue(8, s.beta2()).floatValue(9, s.epsilon())
                .pointer(10, decayMask == null ? null : cuda(decayMask))
                .floatValue(11, s.learningRate() * s.weightDecay()).run(params.size(), c.stream);
    }

    @Override
    public synchronized void rmspropUpdate(dev.osprey.backend.RmspropSpec s, Tensor params, Tensor grads,
                                           Tensor velocity, Tensor momentumBuffer, Tensor meanGrad, Tensor decayMask) {
        sameSize("rmspropUpdate", params, grads, velocity);
        for (Tensor optional : new Tensor[] {momentumBuffer, meanGrad, decayMask}) {
            if (optional != null) {
                sameSize("rmspropUpdate", params, optional);
            }
        }
        rmsprop.pointer(0, cuda(params)).pointer(1, cuda(grads)).pointer(2, cuda(velocity))
                .pointer(3, momentumBuffer == null ? null : cuda(momentumBuffer))
                .pointer(4, meanGrad == null ? null : cuda(meanGrad)).longValue(5, params.size())
                .floatValue(6, s.learningRate()).floatValue(7, s.rho()).floatValue(8, s.momentum())
                .floatValue(9, s.epsilon()).pointer(10, decayMask == null ? null : cuda(decayMask))
                .floatValue(11, s.learningRate() * s.weightDecay()).run(params.size(), c.stream);
    }

    // ---- whole data sets ---------------------------------------------------------------------------------

    @Override
    public synchronized ResidentData keepResident(float[] x, int sampleSize, float[] targets, int classes) {
        enter();
        return CudaResidentData.keep(this, c, gatherCodes, gatherRows, x, sampleSize, targets, classes);
    }

    @Override
    public synchronized long nativeAllocations() {
        return tensorsAllocated + convPlans.created() + inferenceConvPlans.created() + poolPlans.created()
                + batchNormPlans.created() + layerNormPlans.created();
    }

    // ---- plumbing ----------------------------------------------------------------------------------------

    /** For this package's helpers, before they call CUDA: open, and this backend's device current. */
    synchronized void enter() {
        if (closed) {
            throw new IllegalStateException("the CUDA backend was already closed");
        }
        int[] current = CURRENT_DEVICE.get();
        if (current[0] != c.device) {
            Status.cuda(cudart.cudaSetDevice(c.device), "cudaSetDevice(" + c.device + ")");
            current[0] = c.device;
        }
    }

    /** This backend's GPU number. */
    int deviceIndex() {
        return c.device;
    }

    /** Queues call on this backend's stream, in order with its ops, for tensor t's device memory (NCCL's calls). */
    synchronized void onStream(Tensor t, java.util.function.BiConsumer<org.bytedeco.javacpp.FloatPointer,
            org.bytedeco.cuda.cudart.CUstream_st> call) {
        CudaTensor tensor = cuda(t);
        call.accept(tensor.pointer(), c.stream);
    }

    /** For this package's resident data: the tensor behind a seam tensor. */
    CudaTensor cudaTensor(Tensor t) {
        return cuda(t);
    }

    private CudaTensor cuda(Tensor t) {
        enter();
        if (t instanceof CudaTensor ct) {
            return ct;
        }
        throw new IllegalArgumentException("expected a tensor made by the CUDA backend, received "
                + (t == null ? "null" : t.getClass().getName()));
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (c == null) {
            return;
        }
        try {
            c.synchronize();
        } finally { // a failed wait (a sticky CUDA error) still frees the handles and memory, then is reported
            freeAll();
        }
    }

    private void freeAll() {
        convPlans.close();
        inferenceConvPlans.close();
        poolPlans.close();
        batchNormPlans.close();
        layerNormPlans.close();
        if (staging != null) {
            staging.close();
        }
        c.close();
    }
}
