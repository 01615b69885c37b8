package dev.osprey.backend.cuda;

import dev.osprey.Activation;
import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Checks;
import static dev.osprey.backend.Checks.rows;
import static dev.osprey.backend.Checks.sameSize;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.ResidentData;
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.StepGraph;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;

/**
 * The CUDA backend: cuDNN convolution, pooling and activations, cuBLAS GEMM for dense layers, Osprey's kernels for
 * the rest. Every op is queued on one stream; nothing waits for the GPU except {@link #copyOut}. TF32 tensor-core
 * math by default (as PyTorch does for cuDNN); {@code -Dosprey.cuda.tf32=false} makes it strict fp32.
 * A self-check against values computed in Java runs when the backend opens. Not thread-safe.
 */
public final class CudaBackend implements Backend {
    private final CudaContext c;
    private final PinnedStaging staging;
    private final Map<Conv2dSpec, CudaConvPlan> convPlans = new HashMap<>();
    private final Map<Pool2dSpec, CudaPoolPlan> poolPlans = new HashMap<>();
    private final Map<Long, cudnnTensorStruct> flatDescriptors = new HashMap<>();
    private final List<CudaTensor> tensors = new ArrayList<>();
    private final Kernels.Launch biasActivation;
    private final Kernels.Launch biasBackward;
    private final Kernels.Launch softmax;
    private final Kernels.Launch crossEntropy;
    private final Kernels.Launch dropout;
    private final Kernels.Launch multiply;
    private final Kernels.Launch fill;
    private final Kernels.Launch adam;
    private final Kernels.Launch sgd;
    private final Kernels.Launch gatherCodes;
    private final Kernels.Launch gatherRows;
    private final String description;
    private final CudaGraphs graphs;
    private final boolean graphsWanted;
    private boolean graphsEnabled;
    /** The recorder the current step's ops report to, or null when ops run eagerly. */
    private StepRecorder recorder;
    private long nativeAllocations;
    private boolean closed;
    /** The thread that last called in; another one must first make this backend's device current. */
    private Thread lastThread = Thread.currentThread();

    public CudaBackend(int device) {
        this(device, Boolean.parseBoolean(System.getProperty("osprey.cuda.tf32", "true")));
    }

    public CudaBackend(int device, boolean tf32) {
        CudaProbe.Availability available = CudaProbe.probe();
        if (!available.usable()) {
            throw new BackendException("the CUDA backend is not usable here: " + available.reason());
        }
        c = new CudaContext(device, tf32);
        try {
            staging = new PinnedStaging(c);
            biasActivation = c.kernels.launch("osprey_bias_activation_forward", "ppiii");
            biasBackward = c.kernels.launch("osprey_bias_backward", "ppii");
            softmax = c.kernels.launch("osprey_softmax_forward", "ppii");
            crossEntropy = c.kernels.launch("osprey_softmax_cross_entropy", "ppppii");
            dropout = c.kernels.launch("osprey_dropout_forward", "ppplflp");
            multiply = c.kernels.launch("osprey_multiply", "pppl");
            fill = c.kernels.launch("osprey_fill", "plf");
            adam = c.kernels.launch("osprey_adam_update", "pppplffffp");
            sgd = c.kernels.launch("osprey_sgd_update", "ppplffi");
            gatherCodes = c.kernels.launch("osprey_gather_codes", "pppillp");
            gatherRows = c.kernels.launch("osprey_gather_rows", "ppillp");
            graphs = new CudaGraphs(c, r -> recorder = r);
            graphsWanted = Boolean.parseBoolean(System.getProperty("osprey.cuda.graphs", "true"));
            int[] runtime = new int[1];
            cudart.cudaRuntimeGetVersion(runtime);
            description = "cuda:" + device + ": CUDA runtime " + runtime[0] / 1000 + "." + runtime[0] % 1000 / 10
                    + ", cuDNN " + cudnn.cudnnGetVersion() + (tf32 ? ", TF32 math" : ", strict fp32");
            SelfCheck.run(this);
            graphsEnabled = graphsWanted;
            if (graphsWanted) {
                String problem;
                try {
                    problem = SelfCheck.graphReplay(this);
                } catch (BackendException e) {
                    problem = e.getMessage();
                }
                if (problem != null) {
                    graphsEnabled = false;
                    java.util.logging.Logger.getLogger(CudaBackend.class.getName()).warning(
                            "osprey: CUDA graphs off (steps run op by op): self-check failed: " + problem);
                    SelfCheck.run(this); // op by op must still be right, or the GPU is not used at all
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public String description() {
        return description;
    }

    // ---- memory ------------------------------------------------------------------------------------------

    @Override
    public Tensor allocate(int... shape) {
        checkOpen();
        eagerOnly("allocate");
        CudaTensor t = CudaTensor.allocate(shape);
        tensors.add(t);
        nativeAllocations++;
        return t;
    }

    @Override
    public Tensor view(Tensor base, long offset, int... shape) {
        return cuda(base).view(offset, shape);
    }

    @Override
    public void copyIn(float[] source, int sourceOffset, Tensor destination) {
        CudaTensor d = cuda(destination);
        eagerOnly("copyIn");
        int n = (int) d.size();
        if (sourceOffset < 0 || sourceOffset + n > source.length) {
            throw new IllegalArgumentException("copyIn: expected " + n + " floats from offset " + sourceOffset
                    + ", received an array of " + source.length);
        }
        staging.upload(source, sourceOffset, n, d);
    }

    @Override
    public void copyOut(Tensor source, float[] destination, int destinationOffset) {
        CudaTensor s = cuda(source);
        eagerOnly("copyOut");
        if (destinationOffset < 0 || destinationOffset + s.size() > destination.length) {
            throw new IllegalArgumentException("copyOut: expected room for " + s.size() + " floats at offset "
                    + destinationOffset + ", received an array of " + destination.length);
        }
        staging.download(s, destination, destinationOffset);
    }

    @Override
    public void fill(Tensor tensor, float value) {
        CudaTensor t = cuda(tensor);
        eagerOnly("fill");
        fill.pointer(0, t).longValue(1, t.size()).floatValue(2, value).run(t.size(), c.stream);
    }

    // ---- convolution and pooling -------------------------------------------------------------------------

    @Override
    public void conv2dForward(Conv2dSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.conv2dForward(spec, x, kernel, bias, y);
        if (replayed("conv2dForward", spec, x, kernel, bias, y)) {
            return;
        }
        conv(spec).forward(cuda(x), cuda(kernel), cuda(bias), cuda(y));
    }

    @Override
    public void conv2dBackwardData(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.conv2dBackwardData(spec, dy, kernel, dx);
        if (replayed("conv2dBackwardData", spec, dy, kernel, dx, null)) {
            return;
        }
        conv(spec).backwardData(cuda(dy), cuda(kernel), cuda(dx));
    }

    @Override
    public void conv2dBackwardFilter(Conv2dSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
        if (replayed("conv2dBackwardFilter", spec, x, dy, dKernel, dBias)) {
            return;
        }
        conv(spec).backwardFilter(cuda(x), cuda(dy), cuda(dKernel), cuda(dBias));
    }

    private CudaConvPlan conv(Conv2dSpec spec) {
        return plan(convPlans, spec, s -> new CudaConvPlan(c, s));
    }

    @Override
    public Tensor maxPool2dWorkspace(Pool2dSpec spec) {
        return allocate(1); // cuDNN finds the maxima again from x and y
    }

    @Override
    public void maxPool2dForward(Pool2dSpec spec, Tensor x, Tensor y, Tensor workspace) {
        Checks.maxPool2dForward(spec, x, y);
        if (replayed("maxPool2dForward", spec, x, y, null, null)) {
            return;
        }
        plan(poolPlans, spec, s -> new CudaPoolPlan(c, s)).forward(cuda(x), cuda(y));
    }

    @Override
    public void maxPool2dBackward(Pool2dSpec spec, Tensor x, Tensor y, Tensor dy, Tensor workspace, Tensor dx) {
        Checks.maxPool2dBackward(spec, x, y, dy, dx);
        if (replayed("maxPool2dBackward", spec, x, y, dy, dx)) {
            return;
        }
        plan(poolPlans, spec, s -> new CudaPoolPlan(c, s)).backward(cuda(x), cuda(y), cuda(dy), cuda(dx));
    }

    // ---- dense: row-major (N, K) x (K, U) through column-major cuBLAS ------------------------------------

    @Override
    public void denseForward(DenseSpec s, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.denseForward(s, x, kernel, bias, y);
        if (replayed("denseForward", s, x, kernel, bias, y)) {
            return;
        }
        // Y^T (U x N) = W^T (U x K) . X^T (K x N): row-major arrays read column-major are the transposes.
        Status.cublas(cublas.cublasSgemm_v2(c.cublasHandle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, s.units(), s.batch(),
                s.inFeatures(), c.one, cuda(kernel).pointer(), s.units(), cuda(x).pointer(), s.inFeatures(), c.zero,
                cuda(y).pointer(), s.units()), "cublasSgemm(dense forward) " + s);
        biasActivation.pointer(0, cuda(y)).pointer(1, cuda(bias)).intValue(2, s.batch()).intValue(3, s.units())
                .intValue(4, s.activation() == Activation.RELU ? 1 : 0).run(y.size(), c.stream);
    }

    @Override
    public void denseBackwardData(DenseSpec s, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.denseBackwardData(s, dy, kernel, dx);
        if (replayed("denseBackwardData", s, dy, kernel, dx, null)) {
            return;
        }
        // dX^T (K x N) = W (K x U) . dY^T (U x N)
        Status.cublas(cublas.cublasSgemm_v2(c.cublasHandle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, s.inFeatures(),
                s.batch(), s.units(), c.one, cuda(kernel).pointer(), s.units(), cuda(dy).pointer(), s.units(), c.zero,
                cuda(dx).pointer(), s.inFeatures()), "cublasSgemm(dense backward-data) " + s);
    }

    @Override
    public void denseBackwardWeights(DenseSpec s, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.denseBackwardWeights(s, x, dy, dKernel, dBias);
        if (replayed("denseBackwardWeights", s, x, dy, dKernel, dBias)) {
            return;
        }
        // dW^T (U x K) = dY^T (U x N) . X (N x K)
        Status.cublas(cublas.cublasSgemm_v2(c.cublasHandle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_T, s.units(),
                s.inFeatures(), s.batch(), c.one, cuda(dy).pointer(), s.units(), cuda(x).pointer(), s.inFeatures(),
                c.zero, cuda(dKernel).pointer(), s.units()), "cublasSgemm(dense backward-weights) " + s);
        biasBackward.pointer(0, cuda(dy)).pointer(1, cuda(dBias)).intValue(2, s.batch()).intValue(3, s.units())
                .run(s.units(), c.stream);
    }

    // ---- element-wise, loss, optimizers ------------------------------------------------------------------

    @Override
    public void activationBackward(Activation activation, Tensor y, Tensor dy, Tensor dx) {
        sameSize("activationBackward", y, dy, dx);
        if (replayed("activationBackward", activation, y, dy, dx, null)) {
            return;
        }
        switch (activation) {
            case LINEAR -> {
                if (dx != dy) {
                    Status.cuda(cudart.cudaMemcpyAsync(cuda(dx).pointer(), cuda(dy).pointer(), dy.size() * Float.BYTES,
                            cudart.cudaMemcpyDeviceToDevice, c.stream), "cudaMemcpyAsync(device to device)");
                }
            }
            case RELU -> {
                cudnnTensorStruct d = flat(y.size());
                Status.cudnn(cudnn.cudnnActivationBackward(c.cudnnHandle, c.relu, c.one, d, cuda(y).pointer(), d,
                        cuda(dy).pointer(), d, cuda(y).pointer(), c.zero, d, cuda(dx).pointer()), "cudnnActivationBackward");
            }
            case SOFTMAX -> throw new IllegalArgumentException(
                    "activationBackward: softmax's gradient is taken together with the cross-entropy loss");
        }
    }

    private cudnnTensorStruct flat(long elements) {
        return plan(flatDescriptors, elements, n -> {
            if (n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("expected at most " + Integer.MAX_VALUE + " elements, received " + n);
            }
            cudnnTensorStruct d = new cudnnTensorStruct();
            Status.cudnn(cudnn.cudnnCreateTensorDescriptor(d), "cudnnCreateTensorDescriptor");
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(d, cudnn.CUDNN_TENSOR_NCHW, cudnn.CUDNN_DATA_FLOAT, 1, 1, 1,
                    (int) (long) n), "cudnnSetTensor4dDescriptor(flat " + n + ")");
            return d;
        });
    }

    @Override
    public void softmaxForward(Tensor logits, Tensor probabilities) {
        int[] shape = rows("softmaxForward", logits);
        sameSize("softmaxForward", logits, probabilities);
        if (replayed("softmaxForward", logits, probabilities, null, null, null)) {
            return;
        }
        softmax.pointer(0, cuda(logits)).pointer(1, cuda(probabilities)).intValue(2, shape[0]).intValue(3, shape[1])
                .run(shape[0], c.stream);
    }

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor dLogits, Tensor stats) {
        int[] shape = Checks.softmaxCrossEntropy(logits, targets, dLogits, stats);
        if (replayed("softmaxCrossEntropy", logits, targets, dLogits, stats, null)) {
            return;
        }
        crossEntropy.pointer(0, cuda(logits)).pointer(1, cuda(targets)).pointer(2, dLogits == null ? null : cuda(dLogits))
                .pointer(3, cuda(stats)).intValue(4, shape[0]).intValue(5, shape[1]).run(shape[0], c.stream);
    }

    @Override
    public void dropoutForward(float rate, long seed, Tensor x, Tensor mask, Tensor y) {
        Checks.dropoutForward(rate, x, mask, y);
        // Recorded: seed and rate come from the step's scalar block, so a replay uses this step's values.
        long slots = recorder == null ? 0L : graphs.slotAddress(recorder.scalar(seed));
        if (recorder != null) {
            recorder.scalar(Float.floatToRawIntBits(rate) & 0xFFFF_FFFFL);
        }
        if (replayed("dropoutForward", x, mask, y, null, null)) {
            return;
        }
        dropout.pointer(0, cuda(x)).pointer(1, cuda(mask)).pointer(2, cuda(y)).longValue(3, x.size()).floatValue(4, rate)
                .longValue(5, seed).address(6, slots).run(x.size(), c.stream);
    }

    @Override
    public void multiply(Tensor a, Tensor b, Tensor out) {
        sameSize("multiply", a, b, out);
        if (replayed("multiply", a, b, out, null, null)) {
            return;
        }
        multiply.pointer(0, cuda(a)).pointer(1, cuda(b)).pointer(2, cuda(out)).longValue(3, a.size()).run(a.size(), c.stream);
    }

    @Override
    public void adamUpdate(AdamSpec s, long step, Tensor params, Tensor grads, Tensor m, Tensor v) {
        sameSize("adamUpdate", params, grads, m, v);
        float alpha = (float) (s.learningRate() * Math.sqrt(1 - Math.pow(s.beta2(), step))
                / (1 - Math.pow(s.beta1(), step)));
        // Recorded: the step size comes from the step's scalar block, so a replay uses this step's value.
        long slot = recorder == null ? 0L
                : graphs.slotAddress(recorder.scalar(Float.floatToRawIntBits(alpha) & 0xFFFF_FFFFL));
        if (replayed("adamUpdate", s, params, grads, m, v)) {
            return;
        }
        adam.pointer(0, cuda(params)).pointer(1, cuda(grads)).pointer(2, cuda(m)).pointer(3, cuda(v))
                .longValue(4, params.size()).floatValue(5, alpha).floatValue(6, s.beta1()).floatValue(7, s.beta2())
                .floatValue(8, s.epsilon()).address(9, slot).run(params.size(), c.stream);
    }

    @Override
    public void sgdUpdate(SgdSpec s, Tensor params, Tensor grads, Tensor velocity) {
        sameSize("sgdUpdate", params, grads, velocity);
        if (replayed("sgdUpdate", s, params, grads, velocity, null)) {
            return;
        }
        sgd.pointer(0, cuda(params)).pointer(1, cuda(grads)).pointer(2, cuda(velocity)).longValue(3, params.size())
                .floatValue(4, s.learningRate()).floatValue(5, s.momentum()).intValue(6, s.nesterov() ? 1 : 0)
                .run(params.size(), c.stream);
    }

    // ---- whole steps and whole data sets ------------------------------------------------------------------

    /** A CUDA-graph recorder, unless {@code -Dosprey.cuda.graphs=false} turned graphs off. */
    @Override
    public StepGraph newStepGraph() {
        checkOpen();
        return graphsEnabled ? graphs.newRecorder() : StepGraph.EAGER;
    }

    @Override
    public ResidentData keepResident(float[] x, int sampleSize, float[] targets, int classes) {
        checkOpen();
        eagerOnly("keepResident");
        return CudaResidentData.keep(this, c, gatherCodes, gatherRows, x, sampleSize, targets, classes);
    }

    @Override
    public long nativeAllocations() {
        return nativeAllocations;
    }

    // ---- plumbing ----------------------------------------------------------------------------------------

    private <K, P> P plan(Map<K, P> cache, K key, Function<K, P> make) {
        checkOpen();
        P plan = cache.get(key);
        if (plan == null) {
            plan = make.apply(key);
            cache.put(key, plan);
            nativeAllocations++;
        }
        return plan;
    }

    /** True when a recorded step is being replayed: the op notes itself and is not queued. */
    private boolean replayed(String op, Object a, Object b, Object c, Object d, Object e) {
        return recorder != null && recorder.note(op, a, b, c, d, e);
    }

    private void eagerOnly(String op) {
        if (recorder != null) {
            throw recorder.notRecordable(op);
        }
    }

    /** For this package's helpers, before they call CUDA: open, and this backend's device current. */
    void enter() {
        checkOpen();
    }

    /** For this package's resident data: the tensor behind a seam tensor. */
    CudaTensor cudaTensor(Tensor t) {
        return cuda(t);
    }

    private CudaTensor cuda(Tensor t) {
        checkOpen();
        if (t instanceof CudaTensor c) {
            return c;
        }
        throw new IllegalArgumentException("expected a tensor made by the CUDA backend, received "
                + (t == null ? "null" : t.getClass().getName()));
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the CUDA backend was already closed");
        }
        if (Thread.currentThread() != lastThread) { // the runtime's current device is per thread
            Status.cuda(cudart.cudaSetDevice(c.device), "cudaSetDevice(" + c.device + ")");
            lastThread = Thread.currentThread();
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (c == null) {
            return;
        }
        c.synchronize();
        if (graphs != null) {
            graphs.close();
        }
        convPlans.values().forEach(CudaConvPlan::close);
        poolPlans.values().forEach(CudaPoolPlan::close);
        flatDescriptors.values().forEach(cudnn::cudnnDestroyTensorDescriptor);
        tensors.forEach(CudaTensor::close);
        if (staging != null) {
            staging.close();
        }
        c.close();
    }
}
