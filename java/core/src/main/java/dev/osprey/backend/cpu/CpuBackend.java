package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.BatchMatMulSpec;
import dev.osprey.backend.BatchNormSpec;
import dev.osprey.backend.LayerNormSpec;
import dev.osprey.backend.Checks;
import static dev.osprey.backend.Checks.sameSize;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.DenseInference;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.LossKind;
import dev.osprey.backend.Memory;
import dev.osprey.backend.OwnedTensors;
import dev.osprey.backend.Pad2dSpec;
import dev.osprey.backend.PlanCache;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.Tensor;
import java.nio.FloatBuffer;
import java.util.List;
import org.bytedeco.dnnl.dnnl_version_t;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.Loader;

/**
 * The CPU backend on oneDNN. Plans (primitives, descriptors, reorders) are made once per spec record and cached, least
 * recently used out; per call only data pointers are bound. Ops are serialized (they share one scratchpad), so any
 * thread may call. Threads: oneDNN's OpenMP runtime uses every core unless OMP_NUM_THREADS says otherwise (it is read
 * once, when the library loads).
 */
public final class CpuBackend implements Backend {
    /**
     * Plans kept per kind of op: every layer of a large model (ResNet-50 has 23 distinct convolutions) at a few batch
     * sizes. Each plan holds JIT-compiled kernels, so a process that has seen many shapes frees the stalest.
     */
    private static final int PLANS_PER_KIND = 160;

    private final DnnlContext context;
    private final PlanCache<Conv2dSpec, ConvPlan> convPlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<ConvInference, ConvInferencePlan> convInferencePlans =
            new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<ConvInference, WinogradConvPlan> winogradPlans =
            new PlanCache<>("Osprey's Winograd kernel", PLANS_PER_KIND);
    private final PlanCache<ConvInference, PooledConvPlan> pooledPlans =
            new PlanCache<>("Osprey's pooled convolution", PLANS_PER_KIND);
    private final PlanCache<ConvInference, Int8ConvPlan> int8ConvPlans =
            new PlanCache<>("Osprey's int8 3x3 convolution", PLANS_PER_KIND);
    private final PlanCache<ConvInference, PointwiseConvPlan> pointwisePlans =
            new PlanCache<>("Osprey's pointwise convolution", PLANS_PER_KIND);
    private final PlanCache<ConvInference, DepthwiseConvPlan> depthwisePlans =
            new PlanCache<>("Osprey's depthwise convolution", PLANS_PER_KIND);
    private final PlanCache<Conv2dSpec, WinogradTrainingConv> winogradTrainingPlans =
            new PlanCache<>("Osprey's Winograd kernel", PLANS_PER_KIND);
    private final PlanCache<DenseInference, DenseInferencePlan> denseInferencePlans =
            new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<Pool2dSpec, PoolPlan> poolPlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<Int8MaxPoolPlan.Key, Int8MaxPoolPlan> int8PoolPlans =
            new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<DenseSpec, DensePlan> densePlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<BatchNormSpec, BatchNormPlan> batchNormPlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<BatchNormSpec, BatchNormKernels> batchNormKernels =
            new PlanCache<>("Osprey's batch normalization kernels", PLANS_PER_KIND);
    private final PlanCache<EltwisePlan.Key, EltwisePlan> eltwisePlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<SoftmaxPlan.Key, SoftmaxPlan> softmaxPlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<LayerNormSpec, LayerNormPlan> layerNormPlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<BinaryPlan.Key, BinaryPlan> binaryPlans = new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<BatchMatMulSpec, BatchMatMulPlan> batchMatMulPlans =
            new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final PlanCache<dev.osprey.backend.PermuteSpec, PermutePlan> permutePlans =
            new PlanCache<>("oneDNN", PLANS_PER_KIND);
    private final String description;
    /** The OpenMP team each inference, pooling and element-wise plan is made for and runs on (see OpenMpTeam). */
    private final TeamSize teams;
    /** Which inference convolutions run through Osprey's Winograd kernel (-Dosprey.cpu.winograd). */
    private final Winograd winograd;
    /** Which batch normalizations run through Osprey's kernels rather than oneDNN (-Dosprey.cpu.batchNorm). */
    private final BatchNormKernels.Choice batchNormChoice;
    /** Whether the batch-norm kernels may take their 512-bit loops: -Dosprey.cpu.wideVectors when this was made. */
    private final boolean batchNormWide;
    /** Where kernels other than oneDNN's first choice run (see PreferredKernels for the three properties). */
    private final PreferredKernels preferredKernels;
    private String convImplementation;
    /** Op chains made by {@link #newChain} (each holds native memory), counted in {@link #nativeAllocations}. */
    private long chainsCreated;
    private long tensorsAllocated;
    private boolean closed;
    /**
     * The instruction set oneDNN's kernels use, fixed for the process once read: asked once, since every inference
     * call checks its precision against it (one native call and an object each time otherwise: 1.6% of a MobileNetV2
     * batch-1 prediction).
     */
    private final dnnl.cpu_isa isa;

    /** Which thread compute runs on (see {@link #execute}). */
    private final ComputeAffinity affinity;

    /**
     * Loads oneDNN and makes its engine and stream, and decides where compute runs ({@link ComputeAffinity}). Throws
     * BackendException when oneDNN's native library can't be loaded, when OMP_DYNAMIC=true would give oneDNN fewer
     * OpenMP threads than it plans for, or when -Dosprey.cpu.deviceThread, -Dosprey.cpu.minMicrosPerThread,
     * -Dosprey.cpu.winograd or -Dosprey.cpu.winogradAvx512 is malformed; IllegalArgumentException when
     * -Dosprey.cpu.batchNorm, -Dosprey.cpu.wideVectors or one of {@link PreferredKernels}' properties is. Use
     * {@link dev.osprey.backend.Device#cpu()}'s backend rather than making another.
     */
    public CpuBackend() {
        this(Winograd.fromProperties());
    }

    /** As {@link #CpuBackend()}, with inference convolutions through the Winograd kernel where winograd says. */
    CpuBackend(Winograd winograd) {
        this.winograd = java.util.Objects.requireNonNull(winograd, "winograd");
        refuseDynamicOpenMpTeams(System.getenv("OMP_DYNAMIC"));
        try {
            Loader.load(dnnl.class);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new BackendException("could not load oneDNN (org.bytedeco:dnnl with its linux-x86_64 jar and "
                    + "org.bytedeco:opencl's native jar must be on the class path): " + e.getMessage(), e);
        }
        // OpenMP's own team size (it can differ from availableProcessors() under a container's CPU quota)
        ComputeAffinity.Mode where = ComputeAffinity.mode(System.getProperty("osprey.cpu.deviceThread"),
                OpenMpTeam.defaultSize());
        teams = TeamSize.fromProperties(); // before anything native is made: a malformed setting leaks nothing
        batchNormChoice = BatchNormKernels.choice();
        batchNormWide = NativeCpu.wideVectorsAllowed();
        preferredKernels = PreferredKernels.fromProperties();
        // Plans are cached here, per spec; oneDNN's own cache of primitives would only keep evicted ones alive.
        dnnl.set_primitive_cache_capacity(PLANS_PER_KIND);
        context = new DnnlContext();
        isa = dnnl.get_effective_cpu_isa();
        dnnl_version_t v = dnnl.version();
        description = "cpu: oneDNN " + v.major() + "." + v.minor() + "." + v.patch() + ", " + threads() + " threads";
        affinity = new ComputeAffinity(where, "osprey-cpu"); // last: nothing leaks
    }

    /**
     * Initializes the oneDNN binding classes that the first inference plans use. Each one's static initializer
     * registers its natives through JavaCPP, about 40 ms in all on the thread that plans first; a start-up thread
     * (the CLI's) calls this while the main thread still reads the command line and the model file.
     */
    public static void initializeBindings() {
        Class<?>[] bindings = {org.bytedeco.dnnl.memory.format_tag.class, org.bytedeco.dnnl.memory.desc.class,
            org.bytedeco.dnnl.memory.class, org.bytedeco.dnnl.dnnl_memory_handle.class,
            org.bytedeco.dnnl.dnnl_memory_desc_handle.class, org.bytedeco.dnnl.primitive_attr.class,
            org.bytedeco.dnnl.dnnl_primitive_attr_handle.class, org.bytedeco.dnnl.post_ops.class,
            org.bytedeco.dnnl.dnnl_post_ops_handle.class, org.bytedeco.dnnl.primitive.class,
            org.bytedeco.dnnl.dnnl_primitive_handle.class, org.bytedeco.dnnl.primitive_desc_base.class,
            org.bytedeco.dnnl.primitive_desc.class, org.bytedeco.dnnl.dnnl_primitive_desc_handle.class,
            org.bytedeco.dnnl.IntMemoryMap.class, org.bytedeco.javacpp.BytePointer.class,
            org.bytedeco.dnnl.reorder.class, org.bytedeco.dnnl.reorder.primitive_desc.class,
            org.bytedeco.dnnl.convolution_forward.class, org.bytedeco.dnnl.convolution_forward.primitive_desc.class,
            org.bytedeco.dnnl.inner_product_forward.class, org.bytedeco.dnnl.inner_product_forward.primitive_desc.class,
            org.bytedeco.dnnl.pooling_forward.class, org.bytedeco.dnnl.pooling_forward.primitive_desc.class,
            org.bytedeco.dnnl.softmax_forward.class, org.bytedeco.dnnl.softmax_forward.primitive_desc.class,
            org.bytedeco.dnnl.layer_normalization_forward.class,
            org.bytedeco.dnnl.layer_normalization_forward.primitive_desc.class,
            org.bytedeco.dnnl.eltwise_forward.class, org.bytedeco.dnnl.eltwise_forward.primitive_desc.class,
            org.bytedeco.dnnl.binary.class, org.bytedeco.dnnl.binary.primitive_desc.class};
        for (Class<?> c : bindings) {
            try {
                Class.forName(c.getName(), true, c.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException("oneDNN binding class missing: " + c.getName(), e);
            }
        }
    }

    /** Runs work on the thread {@link ComputeAffinity} picks: the caller's, or one of the backend's own. */
    @Override
    public <T> T execute(java.util.concurrent.Callable<T> work) {
        return affinity.run(work);
    }

    /**
     * oneDNN's kernels split work for the team size they ask OpenMP for; with OMP_DYNAMIC=true OpenMP may hand them
     * fewer threads. Measured here: a 15-second benchmark had not finished after 15 minutes, and stopping it left a
     * native crash in a backward-weights kernel (SIGTERM during normal training leaves none).
     */
    static void refuseDynamicOpenMpTeams(String ompDynamic) {
        if (ompDynamic != null && (ompDynamic.trim().equalsIgnoreCase("true") || ompDynamic.trim().equals("1"))) {
            throw new BackendException("the CPU backend can't run with OMP_DYNAMIC=" + ompDynamic.trim() + ": oneDNN "
                    + "needs the OpenMP teams it asks for (unset OMP_DYNAMIC, or set it to false)");
        }
    }

    /** The thread count oneDNN's OpenMP runtime uses: OMP_NUM_THREADS if set, else every available core. */
    public static int threads() {
        String env = System.getenv("OMP_NUM_THREADS");
        if (env != null) {
            try {
                return Integer.parseInt(env.split(",")[0].trim());
            } catch (NumberFormatException ignored) {
                // OpenMP ignores a malformed value as well.
            }
        }
        return Runtime.getRuntime().availableProcessors();
    }

    @Override
    public synchronized String description() {
        return convImplementation == null ? description : description + " (conv kernel: " + convImplementation + ")";
    }

    // ---- memory ------------------------------------------------------------------------------------------

    @Override
    public synchronized Memory newMemory() {
        checkOpen();
        return new OwnedTensors<CpuTensor>(shape -> {
            CpuTensor t = CpuTensor.allocate(shape);
            countTensor();
            return t;
        }, tensors -> tensors.forEach(CpuTensor::close));
    }

    private synchronized void countTensor() {
        tensorsAllocated++;
    }

    @Override
    public Tensor view(Tensor base, long offset, int... shape) {
        return cpu(base, "view").view(offset, shape);
    }

    @Override
    public void copyIn(float[] source, int sourceOffset, Tensor destination) {
        CpuTensor d = copyInTarget("copyIn", source, sourceOffset, destination);
        d.buffer().put(0, source, sourceOffset, (int) d.size());
    }

    /** copyIn and the scan in one native pass on the calling thread's team ({@link FiniteScan}). */
    @Override
    public long copyInFinite(float[] source, int sourceOffset, Tensor destination) {
        return FiniteScan.copyIn(source, sourceOffset, copyInTarget("copyInFinite", source, sourceOffset, destination));
    }

    /** destination as this backend's, once source holds all its floats from sourceOffset on. */
    private CpuTensor copyInTarget(String op, float[] source, int sourceOffset, Tensor destination) {
        CpuTensor d = cpu(destination, op);
        int n = Math.toIntExact(d.size()); // a Java array holds no more
        if (sourceOffset < 0 || sourceOffset > source.length - n) { // (no int overflow: the native copy trusts it)
            throw new IllegalArgumentException(op + ": expected " + n + " floats from offset " + sourceOffset
                    + ", received an array of " + source.length);
        }
        return d;
    }

    @Override
    public void copyOut(Tensor source, float[] destination, int destinationOffset) {
        CpuTensor s = cpu(source, "copyOut");
        int n = (int) s.size();
        if (destinationOffset < 0 || destinationOffset + n > destination.length) {
            throw new IllegalArgumentException("copyOut: expected room for " + n + " floats at offset "
                    + destinationOffset + ", received an array of " + destination.length);
        }
        s.buffer().get(0, destination, destinationOffset, n);
    }

    @Override
    public void fill(Tensor tensor, float value) {
        CpuTensor t = cpu(tensor, "fill");
        HostOps.fill(t.buffer(), value, (int) t.size());
    }

    // ---- convolution -------------------------------------------------------------------------------------

    @Override
    public synchronized void conv2dForward(Conv2dSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.conv2dForward(spec, x, kernel, bias, y);
        WinogradTrainingConv w = WinogradTrainingConv.candidate(spec) ? winogradTraining(spec) : null;
        if (w != null && w.forwardTile() != 0) {
            w.forward(cpu(x), cpu(kernel), bias == null ? null : cpu(bias), cpu(y));
            return;
        }
        conv(spec).forward(cpu(x), cpu(kernel), bias == null ? null : cpu(bias), cpu(y));
    }

    @Override
    public synchronized void conv2dBackwardData(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.conv2dBackwardData(spec, dy, kernel, dx);
        WinogradTrainingConv w = WinogradTrainingConv.candidate(spec) ? winogradTraining(spec) : null;
        if (w != null && w.backwardTile() != 0) {
            w.backwardData(cpu(dy), cpu(kernel), cpu(dx));
            return;
        }
        conv(spec).backwardData(cpu(dy), cpu(kernel), cpu(dx));
    }

    /**
     * -Dosprey.cpu.fuseGradientSums=false adds gradient sums in a pass of their own, to compare; a convolution whose
     * input gradient takes such a sum then also runs its backward directions as two passes (as with
     * -Dosprey.cpu.fuseConvBackward=false).
     */
    private static final boolean FUSE_GRADIENT_SUMS =
            Boolean.parseBoolean(System.getProperty("osprey.cpu.fuseGradientSums", "true"));

    /** Where Osprey's Winograd kernel takes backward-data, its output transform adds addend as it stores dx. */
    @Override
    public synchronized void conv2dBackwardDataAdding(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor addend,
                                                      Tensor dx) {
        WinogradTrainingConv w = FUSE_GRADIENT_SUMS && WinogradTrainingConv.candidate(spec) ? winogradTraining(spec)
                : null;
        if (w == null || w.backwardTile() == 0 || addend == dx) {
            Backend.super.conv2dBackwardDataAdding(spec, dy, kernel, addend, dx);
            return;
        }
        Checks.conv2dBackwardData(spec, dy, kernel, dx);
        Checks.expect("conv2dBackwardDataAdding addend", addend, spec.inputShape());
        w.backwardData(cpu(dy), cpu(kernel), cpu(addend), cpu(dx));
    }

    @Override
    public synchronized void conv2dBackwardFilter(Conv2dSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
        WinogradTrainingConv w = WinogradTrainingConv.candidate(spec) ? winogradTraining(spec) : null;
        if (w != null && w.filterTile() != 0) {
            w.backwardFilter(cpu(x), cpu(dy), cpu(dKernel), dBias == null ? null : cpu(dBias));
            return;
        }
        conv(spec).backwardFilter(cpu(x), cpu(dy), cpu(dKernel), dBias == null ? null : cpu(dBias));
    }

    /**
     * With both directions asked: in fp32, where Osprey's Winograd kernel takes both and dx and dy tile alike, one
     * pass of it over the tiles, which reads dy from memory once (see {@link WinogradTrainingConv#backward}); in bf16
     * (oneDNN's kernels), one plan call that converts dy once for both (then adds addend, where there is one);
     * otherwise the separate calls.
     */
    @Override
    public synchronized void conv2dBackward(Conv2dSpec spec, Tensor x, Tensor dy, Tensor kernel, Tensor dKernel,
                                            Tensor dBias, Tensor addend, Tensor dx) {
        WinogradTrainingConv w = dKernel != null && dx != null && addend != dx
                && (addend == null || FUSE_GRADIENT_SUMS) && WinogradTrainingConv.candidate(spec) // fp32, a 3x3 shape
                ? winogradTraining(spec) : null;
        if (w != null && w.oneBackwardPass()) {
            Checks.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
            Checks.conv2dBackwardData(spec, dy, kernel, dx);
            if (addend != null) {
                Checks.expect("conv2dBackward addend", addend, spec.inputShape());
            }
            if (!w.backward(cpu(x), cpu(dy), cpu(kernel), cpu(dKernel), dBias == null ? null : cpu(dBias),
                    addend == null ? null : cpu(addend), null, cpu(dx))) {
                throw new IllegalStateException("conv2dBackward: expected the one-pass Winograd backward to take "
                        + spec + ", as its plan said it would; it declined");
            }
            return;
        }
        if (spec.math() != Precision.BF16 || dKernel == null || dx == null || addend == dx) {
            Backend.super.conv2dBackward(spec, x, dy, kernel, dKernel, dBias, addend, dx); // refuses addend == dx
            return;
        }
        Checks.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
        Checks.conv2dBackwardData(spec, dy, kernel, dx);
        if (addend != null) {
            Checks.expect("conv2dBackward addend", addend, spec.inputShape());
        }
        conv(spec).backward(cpu(x), cpu(dy), cpu(kernel), cpu(dKernel), dBias == null ? null : cpu(dBias), cpu(dx));
        if (addend != null) {
            add(dx, addend, dx);
        }
    }

    /**
     * Where the one-pass Winograd backward runs spec (fp32, a 3x3 shape it takes) and gradient sums are fused: its
     * output transform then applies the ReLU's gradient as it stores dx, saving the producer's pass over the gradient
     * (a ResNet block's Add and ReLU: about 2 ms of ResNet-20's step at batch 128).
     */
    @Override
    public synchronized boolean fusesReluGate(Conv2dSpec spec) {
        return FUSE_GRADIENT_SUMS && WinogradTrainingConv.candidate(spec) && winogradTraining(spec).oneBackwardPass();
    }

    @Override
    public synchronized void conv2dBackwardGated(Conv2dSpec spec, Tensor x, Tensor dy, Tensor kernel, Tensor dKernel,
                                                 Tensor dBias, Tensor addend, Tensor gate, Tensor dx) {
        if (!fusesReluGate(spec) || dKernel == null) { // the two calls (the one pass needs the kernel's gradient)
            Backend.super.conv2dBackwardGated(spec, x, dy, kernel, dKernel, dBias, addend, gate, dx);
            return;
        }
        if (dx == null || addend == null || gate == null || addend == dx || gate == dx) {
            throw new IllegalArgumentException("conv2dBackwardGated: expected dx, an addend and a gate, the last two "
                    + "other than dx, received dx " + dx + ", addend " + addend + ", gate " + gate);
        }
        Checks.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
        Checks.conv2dBackwardData(spec, dy, kernel, dx);
        Checks.expect("conv2dBackwardGated addend", addend, spec.inputShape());
        Checks.expect("conv2dBackwardGated gate", gate, spec.inputShape());
        if (!winogradTraining(spec).backward(cpu(x), cpu(dy), cpu(kernel), cpu(dKernel),
                dBias == null ? null : cpu(dBias), cpu(addend), cpu(gate), cpu(dx))) {
            throw new IllegalStateException("conv2dBackwardGated: expected the one-pass Winograd backward to take "
                    + spec + ", as its plan said it would; it declined");
        }
    }

    /** Which directions of a training convolution Osprey's Winograd kernel runs (see {@link WinogradTrainingConv}). */
    WinogradTrainingConv winogradTraining(Conv2dSpec spec) { // package-private: tests read its tiles
        checkOpen();
        return winogradTrainingPlans.get(spec, s -> new WinogradTrainingConv(context, s, winograd));
    }

    private ConvPlan conv(Conv2dSpec spec) {
        checkOpen();
        ConvPlan plan = convPlans.get(spec, s -> new ConvPlan(context, s, preferredKernels));
        convImplementation = plan.implementation;
        return plan;
    }

    // ---- inference ---------------------------------------------------------------------------------------

    /** bf16 needs oneDNN's bf16 kernels: AVX512_BF16 (or AMX, or AVX10) on this CPU. */
    @Override
    public String unavailable(Precision precision) {
        return unavailable(precision, isa);
    }

    /** bf16 training needs the same kernels as bf16 inference: AVX512_BF16 (or AMX, or AVX10) on this CPU. */
    @Override
    public String trainingUnavailable(Precision math) {
        return math == Precision.INT8 ? "int8 is for inference only (Model.quantize); training on CPUs multiplies in fp32 or bf16"
                : unavailable(math);
    }

    /** Null when oneDNN has kernels for this precision at this instruction set, else why not. */
    static String unavailable(Precision precision, dnnl.cpu_isa isa) {
        int bf16 = dnnl.cpu_isa.avx512_core_bf16.value; // instruction sets are bit masks, each holding those below
        if (precision == Precision.BF16 && (isa.value & bf16) != bf16) {
            return "this CPU lacks AVX512_BF16 and AMX, which oneDNN's bf16 kernels need (its instruction set: "
                    + isa + ")";
        }
        if (precision == Precision.FP16) {
            return "fp16 products are for NVIDIA GPUs with tensor cores; on CPUs Osprey multiplies in fp32, or in bf16 "
                    + "where the CPU has AVX512_BF16 or AMX";
        }
        int avx2 = dnnl.cpu_isa.avx2.value;
        if (precision == Precision.INT8 && (isa.value & avx2) != avx2) {
            return "this CPU lacks AVX2, which oneDNN's int8 kernels need (its instruction set: " + isa + ")";
        }
        return null;
    }

    @Override
    public synchronized long conv2dInferenceKernelSize(ConvInference op) {
        return inferenceConv(op).preparedFloats();
    }

    @Override
    public synchronized void conv2dPrepareInferenceKernel(ConvInference op, Tensor kernel, Tensor prepared) {
        InferenceConv plan = inferenceConv(op);
        Checks.expect("conv2dPrepareInferenceKernel kernel", kernel, op.spec().kernelShape());
        Checks.preparedKernel("conv2dPrepareInferenceKernel prepared", prepared, plan.preparedFloats(),
                op.spec().kernelShape());
        plan.prepare(cpu(kernel), cpu(prepared));
    }

    @Override
    public synchronized void conv2dInference(ConvInference op, Tensor x, Tensor kernel, Tensor bias, Tensor residual,
                                             Tensor y) {
        Checks.notFused("conv2dInference", op);
        InferenceConv plan = inferenceConv(op);
        Checks.conv2dInference(op, x, kernel, plan.preparedFloats(), bias, residual, y);
        plan.forward(cpu(x), cpu(kernel), bias == null ? null : cpu(bias), residual == null ? null : cpu(residual),
                cpu(y));
    }

    /**
     * A chain of Osprey's pointwise, depthwise, Winograd and int8 3x3 passes ({@link CpuOpChain}); null where chains
     * are off.
     */
    @Override
    public synchronized dev.osprey.backend.OpChain newChain() {
        checkOpen();
        CpuOpChain chain = CpuOpChain.create(this);
        if (chain != null) {
            chainsCreated++;
        }
        return chain;
    }

    /** Appends op where its plan is one of Osprey's kernels that run in chains; checked as conv2dInference checks. */
    @Override
    public synchronized boolean chainConv2dInference(dev.osprey.backend.OpChain chain, ConvInference op, Tensor x,
                                                     Tensor kernel, Tensor bias, Tensor residual, Tensor y) {
        CpuOpChain cpuChain = ownChain("chainConv2dInference", chain);
        cpuChain.handle(); // a closed chain is refused, whatever the op
        Checks.notFused("chainConv2dInference", op);
        InferenceConv plan = inferenceConv(op);
        Checks.conv2dInference(op, x, kernel, plan.preparedFloats(), bias, residual, y);
        CpuTensor[] tensors = {cpu(x), cpu(kernel), bias == null ? null : cpu(bias),
            residual == null ? null : cpu(residual), cpu(y)};
        if (!plan.appendTo(cpuChain, tensors[0], tensors[1], tensors[2], tensors[3], tensors[4])) {
            return false;
        }
        cpuChain.captured(tensors);
        return true;
    }

    @Override
    public synchronized void runChain(dev.osprey.backend.OpChain chain) {
        checkOpen();
        ownChain("runChain", chain).run(context.scratchpad().address());
    }

    /** chain as this backend's own (made by its newChain: its passes use this backend's scratchpad). */
    private CpuOpChain ownChain(String what, dev.osprey.backend.OpChain chain) {
        checkOpen();
        if (!(chain instanceof CpuOpChain cpuChain) || cpuChain.owner() != this) {
            throw new IllegalArgumentException(what + ": expected an op chain this backend made (newChain), received "
                    + (chain == null ? "null" : chain instanceof CpuOpChain ? "one of another CPU backend"
                    : chain.getClass().getName()));
        }
        return cpuChain;
    }

    /**
     * Where {@link DepthwiseFusion#fits} (shapes oneDNN's depthwise post-op takes, maps where it was measured faster)
     * and oneDNN runs the post-op inside its 1x1 kernel on this CPU, not through its reference composition (which
     * gains nothing). The fused op is planned here as the plan will run it, and kept in the plan cache.
     */
    @Override
    public synchronized boolean fusesDepthwise(Conv2dSpec pointwise, Conv2dSpec depthwise) {
        checkOpen();
        if (!DepthwiseFusion.ENABLED || !DepthwiseFusion.fits(pointwise, depthwise)) {
            return false;
        }
        try {
            ConvInferencePlan plan = convInference(new ConvInference(pointwise, false, Precision.FP32)
                    .withDepthwise(depthwise));
            return !plan.implementation.startsWith("ref");
        } catch (RuntimeException e) { // e.g. a oneDNN build without the post-op: run them one after the other
            return false;
        }
    }

    @Override
    public synchronized long conv2dInferenceDepthwiseKernelSize(ConvInference op) {
        return convInference(requireDepthwise(op)).depthwiseFloats;
    }

    @Override
    public synchronized void conv2dPrepareInferenceDepthwiseKernel(ConvInference op, Tensor kernel, Tensor prepared) {
        ConvInferencePlan plan = convInference(requireDepthwise(op));
        Checks.expect("conv2dPrepareInferenceDepthwiseKernel kernel", kernel, op.depthwise().kernelShape());
        Checks.preparedKernel("conv2dPrepareInferenceDepthwiseKernel prepared", prepared, plan.depthwiseFloats,
                op.depthwise().kernelShape());
        plan.prepareDepthwise(cpu(kernel), cpu(prepared));
    }

    @Override
    public synchronized void conv2dInferenceWithDepthwise(ConvInference op, Tensor x, Tensor kernel, Tensor bias,
                                                          Tensor depthwiseKernel, Tensor depthwiseBias, Tensor y) {
        ConvInferencePlan plan = convInference(requireDepthwise(op));
        Checks.conv2dInference(op, x, kernel, plan.preparedFloats, bias, null, y);
        Conv2dSpec dw = op.depthwise();
        Checks.preparedKernel("conv2dInferenceWithDepthwise depthwise kernel", depthwiseKernel, plan.depthwiseFloats,
                dw.kernelShape());
        Checks.bias("conv2dInferenceWithDepthwise depthwise bias", dw, depthwiseBias);
        plan.forward(cpu(x), cpu(kernel), bias == null ? null : cpu(bias), cpu(depthwiseKernel),
                depthwiseBias == null ? null : cpu(depthwiseBias), cpu(y));
    }

    private static ConvInference requireDepthwise(ConvInference op) {
        if (op.depthwise() == null) {
            throw new IllegalArgumentException("expected a convolution with a depthwise one after it, received " + op);
        }
        return op;
    }

    /** -Dosprey.cpu.inferenceSliceBytes as given (null: unset), parsed by {@link #inferenceSliceBytes()}. */
    private static final String INFERENCE_SLICE_BYTES = System.getProperty("osprey.cpu.inferenceSliceBytes");

    /** The budget from the property's value (null: 1 MiB a thread); refuses what is not a count of bytes >= 0. */
    static long inferenceSliceBytes(String property, int threads) {
        if (property == null) {
            return (1L << 20) * Math.max(1, threads);
        }
        try {
            long bytes = Long.parseLong(property.trim());
            if (bytes >= 0) {
                return bytes;
            }
        } catch (NumberFormatException ignored) {
            // refused below
        }
        throw new IllegalArgumentException("-Dosprey.cpu.inferenceSliceBytes: expected a count of bytes >= 0 (0 runs "
                + "inference batches whole), received '" + property + "'");
    }

    /**
     * Inference slices of at most this many bytes in their largest activation: 1 MiB per thread of the team (each
     * thread's share about its core's L2 cache here), 2 MiB on 2 threads, unless -Dosprey.cpu.inferenceSliceBytes
     * gives the bytes (0: batches run whole). A slice's busiest layer then holds its input, output and a residual
     * (about 6 MiB on 2 threads) in the last-level cache, not in memory: ResNet-20 at batch 256, whose first stage
     * writes 16 MiB a layer, ran 1.23x faster in slices of 32 (2 threads, median of 4 interleaved rounds,
     * inference-slices-2026-12-04T1828Z.md; the probe before it, 1.29x), and MobileNetV2, whose expansions never
     * reach memory, unchanged. Measured on 2 threads only: scaling with the team keeps each thread's work per slice,
     * and so the share of each op's fixed cost, where it was measured.
     * Parsed per model (a network asks once), so that a bad value fails its first prediction, not the backend.
     */
    @Override
    public long inferenceSliceBytes() {
        return inferenceSliceBytes(INFERENCE_SLICE_BYTES, threads());
    }

    /**
     * Where a 2x2 max pooling follows a convolution that Osprey's pooled kernel ({@link PooledConvPlan#fits}: at most 4
     * input channels) or its Winograd kernel (where {@link #winograd} picks it) runs: either pools before it stores.
     */
    @Override
    public synchronized boolean fusesMaxPool(Conv2dSpec conv, Pool2dSpec pool) {
        checkOpen();
        return PooledConvPlan.fits(conv, pool) || MaxPoolFusion.takes(conv, pool)
                && winograd.tile(new ConvInference(conv, false, Precision.FP32).withMaxPool(pool)) != 0;
    }

    /**
     * Where Osprey's pooled kernel takes the layer in int8 ({@link PooledConvPlan#int8Fits}: VNNI, output channels in
     * sixteens), unless -Dosprey.cpu.pooledInt8=false turns that off (the few-channel first layer then stays fp32 in
     * Osprey's kernel where {@link #keepsFp32InInt8} says so, the rest goes to oneDNN's int8 kernels).
     */
    @Override
    public synchronized boolean fusesMaxPoolInInt8(Conv2dSpec conv, Pool2dSpec pool,
                                                   dev.osprey.backend.InputRange range) {
        checkOpen();
        return POOLED_INT8 && PooledConvPlan.int8Fits(conv, pool, range);
    }

    /**
     * Where Osprey's pooled kernel takes the layer (at most {@link PooledConvPlan#MAX_INPUT_CHANNELS} input channels):
     * the tutorial CNN's first layer, 1 channel, took 1.3 ms in oneDNN's int8 convolution and 0.64 ms in its pooling
     * at batch 256 on 2 AVX512-VNNI cores (op-profile-int8-2026-12-04T1557Z.md).
     */
    @Override
    public synchronized boolean keepsFp32InInt8(Conv2dSpec conv, Pool2dSpec pool) {
        checkOpen();
        return POOLED_FP32_IN_INT8 && PooledConvPlan.fits(conv, pool)
                && conv.filters() <= PooledConvPlan.MAX_QUANTIZED_CHANNELS;
    }

    /** -Dosprey.cpu.pooledInt8=false leaves the int8 pooled kernel out, to compare. */
    private static final boolean POOLED_INT8 = Boolean.parseBoolean(System.getProperty("osprey.cpu.pooledInt8",
            "true"));

    /** -Dosprey.cpu.pooledFp32InInt8=false runs such layers in oneDNN's int8 kernels, to compare. */
    private static final boolean POOLED_FP32_IN_INT8 =
            Boolean.parseBoolean(System.getProperty("osprey.cpu.pooledFp32InInt8", "true"));

    /**
     * The plan that runs op: Osprey's pooled kernel (fp32 or int8), its int8 3x3 kernel ({@link Int8ConvPlan#fits}),
     * pointwise or depthwise kernel where one fits, its Winograd kernel where {@link #winograd} picks it (with a max
     * pooling after it too), else oneDNN's.
     */
    InferenceConv inferenceConv(ConvInference op) { // package-private: tests read its plan
        if (op.maxPool() != null && (op.precision() == Precision.INT8
                ? PooledConvPlan.int8Fits(op.spec(), op.maxPool(), op.inputRange())
                : PooledConvPlan.fits(op.spec(), op.maxPool()))) {
            checkOpen();
            PooledConvPlan plan = pooledPlans.get(op, k -> OpenMpTeam.sized(teams.of(k), () -> new PooledConvPlan(k)));
            convImplementation = plan.implementation();
            return plan;
        }
        if (Int8ConvPlan.fits(op)) {
            checkOpen();
            Int8ConvPlan plan = int8ConvPlans.get(op, k -> OpenMpTeam.sized(teams.of(k), () -> new Int8ConvPlan(context, k)));
            convImplementation = plan.implementation();
            return plan;
        }
        if (PointwiseConvPlan.fits(op)) {
            checkOpen();
            PointwiseConvPlan plan = pointwisePlans.get(op,
                    k -> new PointwiseConvPlan(k, PointwiseConvPlan.team(k, teams.whole())));
            convImplementation = plan.implementation();
            return plan;
        }
        if (DepthwiseConvPlan.fits(op)) {
            checkOpen();
            DepthwiseConvPlan plan = depthwisePlans.get(op,
                    k -> OpenMpTeam.sized(teams.of(k), () -> new DepthwiseConvPlan(k)));
            convImplementation = plan.implementation();
            return plan;
        }
        int tile = winograd.tile(op);
        if (tile == 0 && op.maxPool() != null) {
            throw new IllegalArgumentException("expected a convolution with a max pooling after it that this backend "
                    + "fuses (fusesMaxPool, or in int8 fusesMaxPoolInInt8 or keepsFp32InInt8), received " + op);
        }
        if (tile == 0) {
            return convInference(op);
        }
        checkOpen();
        WinogradConvPlan plan = winogradPlans.get(op,
                k -> OpenMpTeam.sized(teams.of(k), () -> new WinogradConvPlan(context, k, tile)));
        convImplementation = plan.implementation();
        return plan;
    }

    /** oneDNN's plan for op (a pointwise convolution with a depthwise one after it always runs there). */
    ConvInferencePlan convInference(ConvInference op) { // package-private: tests read its plan
        checkOpen();
        requireAvailable(op.precision());
        ConvInferencePlan plan = convInferencePlans.get(op,
                k -> OpenMpTeam.sized(teams.of(k), () -> new ConvInferencePlan(context, k, preferredKernels)));
        convImplementation = plan.implementation;
        return plan;
    }

    @Override
    public synchronized long denseInferenceKernelSize(DenseInference op) {
        checkOpen();
        return InferenceDense.fits(op) ? 0 : denseInference(op).preparedFloats;
    }

    @Override
    public synchronized void densePrepareInferenceKernel(DenseInference op, Tensor kernel, Tensor prepared) {
        checkOpen();
        if (InferenceDense.fits(op)) {
            throw new IllegalArgumentException("densePrepareInferenceKernel: " + op + " reads Keras' layout "
                    + "(denseInferenceKernelSize is 0): expected no preparation");
        }
        DenseInferencePlan plan = denseInference(op);
        Checks.expect("densePrepareInferenceKernel kernel", kernel, op.spec().kernelShape());
        Checks.preparedKernel("densePrepareInferenceKernel prepared", prepared, plan.preparedFloats,
                op.spec().kernelShape());
        plan.prepare(cpu(kernel), cpu(prepared));
    }

    @Override
    public synchronized void denseInference(DenseInference op, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        checkOpen();
        if (InferenceDense.fits(op)) { // Osprey's kernel, on Keras' layout: the same sums at every batch size
            Checks.denseInference(op.spec(), x, kernel, 0, bias, y);
            InferenceDense.forward(op, cpu(x), cpu(kernel), cpu(bias), cpu(y), teams.of(op.spec()));
            return;
        }
        DenseInferencePlan plan = denseInference(op);
        Checks.denseInference(op.spec(), x, kernel, plan.preparedFloats, bias, y);
        plan.forward(cpu(x), cpu(kernel), cpu(bias), cpu(y));
    }

    private DenseInferencePlan denseInference(DenseInference op) {
        checkOpen();
        requireAvailable(op.precision());
        return denseInferencePlans.get(op,
                k -> OpenMpTeam.sized(teams.of(k.spec()), () -> new DenseInferencePlan(context, k)));
    }

    private void requireAvailable(Precision precision) {
        String reason = unavailable(precision);
        if (reason != null) {
            throw new UnsupportedOperationException(reason);
        }
    }

    // ---- pooling -----------------------------------------------------------------------------------------

    @Override
    public synchronized long pool2dWorkspaceSize(Pool2dSpec spec) {
        return pool(spec).workspaceFloats;
    }

    @Override
    public synchronized void pool2dForward(Pool2dSpec spec, Tensor x, Tensor y, Tensor workspace) {
        PoolPlan plan = pool(spec);
        Checks.pool2dForward(spec, x, y, workspace, plan.workspaceFloats);
        plan.forward(cpu(x), cpu(y), workspace == null ? null : cpu(workspace));
    }

    @Override
    public synchronized void pool2dBackward(Pool2dSpec spec, Tensor x, Tensor y, Tensor dy, Tensor workspace,
                                            Tensor dx) {
        PoolPlan plan = pool(spec);
        Checks.pool2dBackward(spec, x, y, dy, workspace, dx, plan.workspaceFloats);
        plan.backward(cpu(dy), workspace == null ? null : cpu(workspace), cpu(dx));
    }

    @Override
    public synchronized void pool2dInference(Pool2dSpec spec, Tensor x, Tensor y) {
        Checks.pool2dForward(spec, x, y, null, 0);
        if (spec.poolH() == 1 && spec.poolW() == 1 && spec.padTop() == 0 && spec.padLeft() == 0
                && spec.padBottom() == 0 && spec.padRight() == 0 && spec.outH() == spec.inH()
                && spec.outW() == spec.inW()) {
            // every window one value, in place: the identity (a global pooling of a 1x1 map, MobileNetV2's at
            // 32x32x3, which took oneDNN 3-7 us at batch 1 for 1,280 floats)
            cpu(y).buffer().put(0, cpu(x).buffer(), 0, Math.toIntExact(x.size()));
            return;
        }
        pool(spec).inference(cpu(x), cpu(y));
    }

    @Override
    public synchronized void maxPool2dInt8(Pool2dSpec spec, boolean unsigned, Tensor x, Tensor y) {
        Checks.pool2dForward(spec, x, y, null, 0);
        checkOpen();
        int8PoolPlans.get(new Int8MaxPoolPlan.Key(spec, unsigned),
                        k -> OpenMpTeam.sized(teams.of(k.spec(), Byte.BYTES), () -> new Int8MaxPoolPlan(context, k)))
                .forward(cpu(x), cpu(y));
    }

    PoolPlan pool(Pool2dSpec spec) { // package-private: tests read its plan
        checkOpen();
        return poolPlans.get(spec, s -> OpenMpTeam.sized(teams.of(s, Float.BYTES), () -> new PoolPlan(context, s)));
    }

    // ---- dense -------------------------------------------------------------------------------------------

    @Override
    public synchronized void denseForward(DenseSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.denseForward(spec, x, kernel, bias, y);
        dense(spec).forward(cpu(x), cpu(kernel), cpu(bias), cpu(y));
    }

    @Override
    public synchronized void denseBackwardData(DenseSpec spec, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.denseBackwardData(spec, dy, kernel, dx);
        dense(spec).backwardData(cpu(dy), cpu(kernel), cpu(dx));
    }

    @Override
    public synchronized void denseBackwardWeights(DenseSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.denseBackwardWeights(spec, x, dy, dKernel, dBias);
        dense(spec).backwardWeights(cpu(x), cpu(dy), cpu(dKernel), cpu(dBias));
    }

    private DensePlan dense(DenseSpec spec) {
        checkOpen();
        return densePlans.get(spec, s -> new DensePlan(context, s));
    }

    // ---- normalization -----------------------------------------------------------------------------------

    @Override
    public synchronized long batchNormWorkspaceSize(BatchNormSpec spec) {
        return runsHere(spec) ? kernels(spec).workspaceFloats() : batchNorm(spec).workspaceFloats();
    }

    @Override
    public synchronized void batchNormForwardTraining(BatchNormSpec spec, Tensor x, Tensor gamma, Tensor beta,
                                                      Tensor movingMean, Tensor movingVariance, Tensor y,
                                                      Tensor batchMean, Tensor batchVariance, Tensor workspace) {
        Checks.batchNorm("batchNormForwardTraining", spec, x, y, gamma, beta, movingMean, movingVariance, batchMean,
                batchVariance);
        if (runsHere(spec)) {
            BatchNormKernels kernels = kernels(spec);
            Checks.workspace("batchNormForwardTraining", workspace, kernels.workspaceFloats());
            kernels.forwardTraining(cpu(x), cpu(gamma), cpu(beta), cpu(y), cpu(batchMean), cpu(batchVariance),
                    workspace == null ? null : cpu(workspace));
        } else {
            BatchNormPlan plan = batchNorm(spec);
            Checks.workspace("batchNormForwardTraining", workspace, plan.workspaceFloats());
            plan.forwardTraining(cpu(x), cpu(gamma), cpu(beta), cpu(y), cpu(batchMean), cpu(batchVariance),
                    workspace == null ? null : cpu(workspace));
            clipAbove(spec, y);
        }
        HostOps.moveStatistics(cpu(movingMean).buffer(), cpu(batchMean).buffer(), spec.momentum(), spec.channels());
        HostOps.moveStatistics(cpu(movingVariance).buffer(), cpu(batchVariance).buffer(), spec.momentum(),
                spec.channels());
    }

    @Override
    public synchronized void layerNormForward(LayerNormSpec spec, Tensor x, Tensor gamma, Tensor beta, Tensor y,
                                              Tensor mean, Tensor variance) {
        Checks.layerNormForward(spec, x, gamma, beta, y, mean, variance);
        LayerNormPlan plan = layerNorm(spec);
        if (mean == null) {
            plan.forwardInference(cpu(x), cpu(gamma), cpu(beta), cpu(y));
        } else {
            plan.forwardTraining(cpu(x), cpu(gamma), cpu(beta), cpu(y), cpu(mean), cpu(variance));
        }
    }

    @Override
    public synchronized void layerNormBackward(LayerNormSpec spec, Tensor x, Tensor dy, Tensor gamma, Tensor mean,
                                               Tensor variance, Tensor dx, Tensor dGamma, Tensor dBeta) {
        Checks.layerNormBackward(spec, x, dy, gamma, mean, variance, dx, dGamma, dBeta);
        layerNorm(spec).backward(cpu(x), cpu(dy), cpu(gamma), cpu(mean), cpu(variance), cpu(dx), cpu(dGamma),
                cpu(dBeta));
    }

    @Override
    public synchronized void batchMatMul(BatchMatMulSpec spec, Tensor a, Tensor b, Tensor c) {
        Checks.batchMatMul(spec, a, b, c);
        checkOpen();
        batchMatMulPlans.get(spec, s -> OpenMpTeam.sized(teams.of((double) s.items() * s.m() * s.n() * s.k(),
                        ((double) s.items() * s.m() * s.k() + (double) s.items() * s.k() * s.n()
                                + (double) s.items() * s.m() * s.n()) * Float.BYTES),
                () -> new BatchMatMulPlan(context, s))).run(cpu(a), cpu(b), cpu(c));
    }

    private LayerNormPlan layerNorm(LayerNormSpec spec) {
        checkOpen();
        return layerNormPlans.get(spec, s -> OpenMpTeam.sized(teams.elementwise((long) s.rows() * s.width(), 2),
                () -> new LayerNormPlan(context, s)));
    }

    /** -Dosprey.cpu.fuseNormResiduals=false runs a training plan's residual sums in a pass of their own, to compare. */
    private static final boolean FUSE_NORM_RESIDUALS =
            Boolean.parseBoolean(System.getProperty("osprey.cpu.fuseNormResiduals", "true"));

    /**
     * Where Osprey's batch-norm kernels are loaded (they add the residual in the pass that writes y) and after is what
     * they apply: linear, or a ReLU without a negative slope, capped or not.
     */
    @Override
    public boolean fusesBatchNormResidual(Activation after) {
        return FUSE_NORM_RESIDUALS && NativeCpu.unavailableReason() == null && appliesAfterSum(after);
    }

    private static boolean appliesAfterSum(Activation after) {
        return after.kind() == Activation.Kind.LINEAR || after.kind() == Activation.Kind.RELU && after.alpha() == 0f;
    }

    @Override
    public synchronized void batchNormForwardTrainingAdding(BatchNormSpec spec, Tensor x, Tensor residual,
                                                           Activation after, Tensor gamma, Tensor beta,
                                                           Tensor movingMean, Tensor movingVariance, Tensor y,
                                                           Tensor batchMean, Tensor batchVariance) {
        Checks.batchNorm("batchNormForwardTrainingAdding", spec, x, y, gamma, beta, movingMean, movingVariance,
                batchMean, batchVariance);
        Checks.expect("batchNormForwardTrainingAdding residual", residual, spec.shape());
        if (spec.relu()) {
            throw new IllegalArgumentException("batchNormForwardTrainingAdding: expected a spec without a ReLU (the "
                    + "activation after the sum is its own argument), received " + spec);
        }
        if (!appliesAfterSum(after)) {
            throw new IllegalArgumentException("batchNormForwardTrainingAdding: expected a linear activation or a ReLU "
                    + "without a negative slope after the sum, received " + after);
        }
        if (NativeCpu.unavailableReason() != null) {
            throw new UnsupportedOperationException("batchNormForwardTrainingAdding: Osprey's batch-norm kernels are "
                    + "not loaded here (" + NativeCpu.unavailableReason() + ")");
        }
        BatchNormSpec run = after.kind() == Activation.Kind.RELU ? spec.withCappedRelu(after.maxValue()) : spec;
        kernels(run).forwardTrainingAdding(cpu(x), cpu(residual), cpu(gamma), cpu(beta), cpu(y), cpu(batchMean),
                cpu(batchVariance));
        HostOps.moveStatistics(cpu(movingMean).buffer(), cpu(batchMean).buffer(), spec.momentum(), spec.channels());
        HostOps.moveStatistics(cpu(movingVariance).buffer(), cpu(batchVariance).buffer(), spec.momentum(),
                spec.channels());
    }

    @Override
    public synchronized void batchNormForwardInference(BatchNormSpec spec, Tensor x, Tensor gamma, Tensor beta,
                                                       Tensor movingMean, Tensor movingVariance, Tensor y) {
        Checks.batchNorm("batchNormForwardInference", spec, x, y, gamma, beta, movingMean, movingVariance);
        if (runsHere(spec)) {
            kernels(spec).forwardInference(cpu(x), cpu(gamma), cpu(beta), cpu(movingMean), cpu(movingVariance),
                    cpu(y));
            return;
        }
        batchNorm(spec).forwardInference(cpu(x), cpu(gamma), cpu(beta), cpu(movingMean), cpu(movingVariance), cpu(y));
        clipAbove(spec, y);
    }

    @Override
    public synchronized void batchNormBackward(BatchNormSpec spec, Tensor x, Tensor y, Tensor dy, Tensor gamma,
                                               Tensor batchMean, Tensor batchVariance, Tensor workspace, Tensor dx,
                                               Tensor dGamma, Tensor dBeta) {
        Checks.batchNorm("batchNormBackward", spec, x, dx, gamma, batchMean, batchVariance, dGamma, dBeta);
        Checks.expect("batchNormBackward dy", dy, spec.shape());
        boolean here = runsHere(spec);
        if (here || spec.capped()) { // the ReLU's gradient is read from y (or from the kernels' gate bits)
            Checks.expect("batchNormBackward y", y, spec.shape());
        }
        if (here) {
            BatchNormKernels kernels = kernels(spec);
            Checks.workspace("batchNormBackward", workspace, kernels.workspaceFloats());
            kernels.backward(cpu(x), cpu(y), workspace == null ? null : cpu(workspace), cpu(dy), cpu(gamma),
                    cpu(batchMean), cpu(batchVariance), cpu(dx), cpu(dGamma), cpu(dBeta));
            return;
        }
        BatchNormPlan plan = batchNorm(spec);
        Checks.workspace("batchNormBackward", workspace, plan.workspaceFloats());
        Tensor normalizedGradient = dy;
        if (spec.capped()) { // the clip's gradient first, into dx, which the normalization's backward then overwrites
            activationBackward(Activation.relu(spec.reluCap(), 0f), y, y, dy, dx);
            normalizedGradient = dx;
        }
        plan.backward(cpu(x), cpu(normalizedGradient), cpu(gamma), cpu(batchMean), cpu(batchVariance),
                workspace == null ? null : cpu(workspace), cpu(dx), cpu(dGamma), cpu(dBeta));
    }

    /**
     * The oneDNN plan: oneDNN fuses only an uncapped ReLU, so a capped one is left out of it (its workspace too) and
     * applied by {@link #clipAbove}.
     */
    private BatchNormPlan batchNorm(BatchNormSpec spec) {
        checkOpen();
        BatchNormSpec fused = spec.capped() ? spec.withRelu(false) : spec;
        return batchNormPlans.get(fused, s -> new BatchNormPlan(context, s));
    }

    /** Without Osprey's kernels, a capped ReLU as a clip of y in place, after oneDNN's normalization. */
    private void clipAbove(BatchNormSpec spec, Tensor y) {
        if (spec.capped()) {
            activationForward(Activation.relu(spec.reluCap(), 0f), y, y);
        }
    }

    /** Which batch normalizations run through Osprey's kernels rather than oneDNN. */
    BatchNormKernels.Choice batchNormChoice() {
        return batchNormChoice;
    }

    private BatchNormKernels kernels(BatchNormSpec spec) {
        checkOpen();
        return batchNormKernels.get(spec, s -> new BatchNormKernels(context, s, batchNormWide));
    }

    /** Whether spec's batch normalization runs in Osprey's kernels here (the choice, with this backend's width). */
    private boolean runsHere(BatchNormSpec spec) {
        return batchNormChoice.runsHere(spec, batchNormWide);
    }

    // ---- element-wise ------------------------------------------------------------------------------------

    @Override
    public synchronized void activationForward(Activation activation, Tensor x, Tensor y) {
        int[] rows = Checks.activation("activationForward", activation, x, y);
        checkOpen();
        if (activation.kind() == Activation.Kind.SOFTMAX) {
            softmax(rows).forward(cpu(x), cpu(y));
            return;
        }
        Eltwise e = Eltwise.of(activation);
        if (e == null) {
            HostOps.reluForward(activation.alpha(), activation.maxValue(), cpu(x).buffer(), cpu(y).buffer(), rows[0]);
            return;
        }
        eltwise(e, y.size()).forward(cpu(x), cpu(y));
    }

    @Override
    public synchronized void activationBackward(Activation activation, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        int[] rows = Checks.activation("activationBackward", activation, x, y);
        sameSize("activationBackward", y, dy, dx);
        checkOpen();
        switch (activation.kind()) {
            case LINEAR -> {
                if (dx != dy) {
                    cpu(dx).buffer().put(0, cpu(dy).buffer(), 0, (int) dy.size());
                }
                return;
            }
            case SOFTMAX -> {
                softmax(rows).backward(cpu(y), cpu(dy), cpu(dx));
                return;
            }
            default -> {
            }
        }
        Eltwise e = Eltwise.of(activation);
        if (e == null) {
            HostOps.reluBackward(activation.alpha(), activation.maxValue(), cpu(y).buffer(), cpu(dy).buffer(),
                    cpu(dx).buffer(), rows[0]);
            return;
        }
        if (!e.backwardFromOutput() && x == null) {
            throw new IllegalArgumentException("activationBackward: " + activation + " needs the forward's input x, "
                    + "received null");
        }
        eltwise(e, y.size()).backward(x == null ? null : cpu(x), cpu(y), cpu(dy), cpu(dx));
    }

    private SoftmaxPlan softmax(int[] rows) {
        return softmaxPlans.get(new SoftmaxPlan.Key(rows[0], rows[1]), k -> OpenMpTeam.sized(
                teams.elementwise((long) k.rows() * k.width(), 1), () -> new SoftmaxPlan(context, k)));
    }

    private EltwisePlan eltwise(Eltwise e, long elements) {
        return eltwisePlans.get(new EltwisePlan.Key(e, elements),
                k -> OpenMpTeam.sized(teams.elementwise(elements, 1), () -> new EltwisePlan(context, k)));
    }

    @Override
    public synchronized void add(Tensor a, Tensor b, Tensor out) {
        binary(dnnl.algorithm.binary_add, "add", a, b, Activation.LINEAR, out);
    }

    /** The activation runs as the binary op's post-op: one pass. */
    @Override
    public synchronized void add(Tensor a, Tensor b, Activation activation, Tensor out) {
        Checks.elementwise("add", activation);
        binary(dnnl.algorithm.binary_add, "add", a, b, activation, out);
    }

    @Override
    public synchronized void multiply(Tensor a, Tensor b, Tensor out) {
        binary(dnnl.algorithm.binary_mul, "multiply", a, b, Activation.LINEAR, out);
    }

    @Override
    public synchronized void multiplyChannels(Tensor x, Tensor gate, Tensor out) {
        int[] bpc = dev.osprey.backend.Checks.channelGate("multiplyChannels", x, gate, out);
        checkOpen();
        ChannelGate.multiply(cpu(x), cpu(gate), cpu(out), bpc[0], bpc[1], bpc[2],
                teams.elementwise(x.size(), 2));
    }

    private void binary(dnnl.algorithm algorithm, String what, Tensor a, Tensor b, Activation activation, Tensor out) {
        sameSize(what, a, b, out);
        checkOpen();
        binaryPlans.get(new BinaryPlan.Key(algorithm, a.size(), activation),
                        k -> OpenMpTeam.sized(teams.elementwise(k.elements(), 2), () -> new BinaryPlan(context, k)))
                .run(cpu(a), cpu(b), cpu(out));
    }

    @Override
    public synchronized void scale(Tensor x, float scale, float offset, Tensor y) {
        sameSize("scale", x, y);
        checkOpen();
        eltwise(new Eltwise(dnnl.algorithm.eltwise_linear, dnnl.algorithm.eltwise_linear, false, scale, offset),
                x.size()).forward(cpu(x), cpu(y));
    }

    @Override
    public void pad2dForward(Pad2dSpec spec, Tensor x, Tensor y) {
        Checks.pad2d("pad2dForward", spec, x, y);
        HostOps.pad(spec, cpu(x).buffer(), cpu(y).buffer());
    }

    @Override
    public void pad2dBackward(Pad2dSpec spec, Tensor dy, Tensor dx) {
        Checks.pad2d("pad2dBackward", spec, dx, dy);
        HostOps.crop(spec, cpu(dy).buffer(), cpu(dx).buffer());
    }

    @Override
    public void sumOfSquares(Tensor x, Tensor result) {
        if (result.size() != 1) {
            throw new IllegalArgumentException("sumOfSquares: expected a result of 1 value, received " + result.size());
        }
        java.nio.FloatBuffer b = cpu(x).buffer();
        double sum = 0;
        for (int i = 0, n = (int) x.size(); i < n; i++) {
            float v = b.get(i);
            sum += (double) v * v;
        }
        cpu(result).buffer().put(0, (float) sum);
    }

    @Override
    public void scaleToNorm(Tensor x, Tensor sumOfSquares, float maxNorm) {
        double norm = Math.sqrt(cpu(sumOfSquares).buffer().get(0));
        if (norm > maxNorm) {
            float scale = (float) (maxNorm / norm);
            java.nio.FloatBuffer b = cpu(x).buffer();
            for (int i = 0, n = (int) x.size(); i < n; i++) {
                b.put(i, b.get(i) * scale);
            }
        }
    }

    @Override
    public void clipByValue(Tensor x, float limit) {
        java.nio.FloatBuffer b = cpu(x).buffer();
        for (int i = 0, n = (int) x.size(); i < n; i++) {
            b.put(i, Math.max(-limit, Math.min(limit, b.get(i))));
        }
    }

    @Override
    public void movingAverage(Tensor average, Tensor values, float momentum) {
        sameSize("movingAverage", average, values);
        Checks.movingAverageMomentum(momentum);
        java.nio.FloatBuffer a = cpu(average).buffer();
        java.nio.FloatBuffer v = cpu(values).buffer();
        float rest = 1f - momentum;
        for (int i = 0, n = (int) average.size(); i < n; i++) {
            a.put(i, momentum * a.get(i) + rest * v.get(i));
        }
    }

    @Override
    public synchronized void permute(dev.osprey.backend.PermuteSpec spec, Tensor x, Tensor y) {
        Checks.permute("permute", spec, x, y);
        checkOpen();
        if (spec.size() == 0) {
            return;
        }
        permutePlans.get(spec, s -> OpenMpTeam.sized(teams.elementwise(s.size(), 2), () -> new PermutePlan(context, s)))
                .run(cpu(x), cpu(y));
    }

    @Override
    public void concat(int rows, List<Tensor> parts, Tensor whole) {
        int[] widths = Checks.concat("concat", rows, parts, whole);
        HostOps.concat(rows, buffers(parts), widths, cpu(whole).buffer(), false);
    }

    @Override
    public void split(int rows, Tensor whole, List<Tensor> parts) {
        int[] widths = Checks.concat("split", rows, parts, whole);
        HostOps.concat(rows, buffers(parts), widths, cpu(whole).buffer(), true);
    }

    private FloatBuffer[] buffers(List<Tensor> tensors) {
        FloatBuffer[] out = new FloatBuffer[tensors.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = cpu(tensors.get(i)).buffer();
        }
        return out;
    }

    // ---- loss and regularization -------------------------------------------------------------------------

    @Override
    public void loss(LossKind kind, Tensor outputs, Tensor targets, Tensor dOutputs, Tensor stats) {
        int[] shape = Checks.loss(kind, outputs, targets, dOutputs, stats);
        HostOps.loss(kind, cpu(outputs).buffer(), cpu(targets).buffer(), dOutputs == null ? null : cpu(dOutputs).buffer(),
                cpu(stats).buffer(), shape[0], shape[1], shape[2] == 1);
    }

    @Override
    public void classificationCounts(Tensor outputs, Activation.Kind scores, Tensor targets, int k, Tensor counts,
                                     long firstRow) {
        int[] shape = Checks.classificationCounts(outputs, scores, targets, k, counts, firstRow);
        HostOps.classificationCounts(cpu(outputs).buffer(), scores == null ? 0 : scores.ordinal(), cpu(targets).buffer(),
                k, cpu(counts).buffer(), shape[0], shape[1], shape[2], firstLane(firstRow));
    }

    @Override
    public void errorSums(Tensor outputs, Activation.Kind scores, Tensor targets, Tensor sums, long firstRow) {
        int[] shape = Checks.errorSums(outputs, scores, targets, sums, firstRow);
        HostOps.errorSums(cpu(outputs).buffer(), scores == null ? 0 : scores.ordinal(), cpu(targets).buffer(),
                cpu(sums).buffer(), shape[0], shape[1], shape[2], firstLane(firstRow));
    }

    /** The error-sum lane of a batch's first row (the ops take it, not the row, so it fits an int). */
    private static int firstLane(long firstRow) {
        return (int) (firstRow % dev.osprey.metrics.ErrorSums.LANES);
    }

    @Override
    public void regularize(Tensor weights, Tensor gradient, float l1, float l2, float lossScale, Tensor stats) {
        Checks.regularize(weights, gradient, l1, l2, stats);
        HostOps.regularize(cpu(weights).buffer(), gradient == null ? null : cpu(gradient).buffer(), l1, l2, lossScale,
                cpu(stats).buffer(), Math.toIntExact(weights.size()));
    }

    @Override
    public void dropoutForward(float rate, long seed, Tensor x, Tensor mask, Tensor y) {
        Checks.dropoutForward(rate, x, mask, y);
        HostOps.dropout(rate, seed, cpu(x).buffer(), cpu(mask).buffer(), cpu(y).buffer(), (int) x.size());
    }

    // ---- optimizers --------------------------------------------------------------------------------------

    @Override
    public void adamUpdate(AdamSpec spec, long step, Tensor params, Tensor grads, Tensor m, Tensor v,
                           Tensor decayMask) {
        sameSize("adamUpdate", params, grads, m, v);
        if (decayMask != null) {
            sameSize("adamUpdate decayMask", params, decayMask);
        }
        HostOps.adam(spec, step, cpu(params).buffer(), cpu(grads).buffer(), cpu(m).buffer(), cpu(v).buffer(), null,
                decayMask == null ? null : cpu(decayMask).buffer(), (int) params.size());
    }

    @Override
    public void sgdUpdate(SgdSpec spec, Tensor params, Tensor grads, Tensor velocity, Tensor decayMask) {
        sameSize("sgdUpdate", params, grads, velocity);
        if (decayMask != null) {
            sameSize("sgdUpdate decayMask", params, decayMask);
        }
        HostOps.sgd(spec, cpu(params).buffer(), cpu(grads).buffer(), cpu(velocity).buffer(),
                decayMask == null ? null : cpu(decayMask).buffer(), (int) params.size());
    }

    @Override
    public void adamAmsgradUpdate(AdamSpec spec, long step, Tensor params, Tensor grads, Tensor m, Tensor v,
                                  Tensor vhat, Tensor decayMask) {
        sameSize("adamAmsgradUpdate", params, grads, m, v, vhat);
        if (decayMask != null) {
            sameSize("adamAmsgradUpdate decayMask", params, decayMask);
        }
        HostOps.adam(spec, step, cpu(params).buffer(), cpu(grads).buffer(), cpu(m).buffer(), cpu(v).buffer(),
                cpu(vhat).buffer(), decayMask == null ? null : cpu(decayMask).buffer(), (int) params.size());
    }

    @Override
    public void rmspropUpdate(dev.osprey.backend.RmspropSpec spec, Tensor params, Tensor grads, Tensor velocity,
                              Tensor momentumBuffer, Tensor meanGrad, Tensor decayMask) {
        sameSize("rmspropUpdate", params, grads, velocity);
        for (Tensor optional : new Tensor[] {momentumBuffer, meanGrad, decayMask}) {
            if (optional != null) {
                sameSize("rmspropUpdate", params, optional);
            }
        }
        HostOps.rmsprop(spec, cpu(params).buffer(), cpu(grads).buffer(), cpu(velocity).buffer(),
                momentumBuffer == null ? null : cpu(momentumBuffer).buffer(),
                meanGrad == null ? null : cpu(meanGrad).buffer(), decayMask == null ? null : cpu(decayMask).buffer(),
                (int) params.size());
    }

    @Override
    public synchronized long nativeAllocations() {
        return tensorsAllocated + chainsCreated + convPlans.created() + convInferencePlans.created()
                + winogradPlans.created()
                + winogradTrainingPlans.created() + pooledPlans.created() + int8ConvPlans.created()
                + pointwisePlans.created()
                + depthwisePlans.created() + poolPlans.created() + int8PoolPlans.created() + densePlans.created()
                + denseInferencePlans.created()
                + batchNormPlans.created() + batchNormKernels.created() + eltwisePlans.created()
                + softmaxPlans.created() + layerNormPlans.created() + binaryPlans.created()
                + batchMatMulPlans.created() + permutePlans.created();
    }

    // ---- plumbing ----------------------------------------------------------------------------------------

    private CpuTensor cpu(Tensor t) {
        return cpu(t, "op");
    }

    private CpuTensor cpu(Tensor t, String op) {
        if (closed) {
            throw new IllegalStateException("the CPU backend was already closed");
        }
        if (t instanceof CpuTensor c) {
            return c;
        }
        throw new IllegalArgumentException(op + ": expected a tensor made by the CPU backend, received "
                + (t == null ? "null" : t.getClass().getName()));
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the CPU backend was already closed");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (PlanCache<?, ?> cache : List.of(convPlans, convInferencePlans, winogradPlans, winogradTrainingPlans,
                pooledPlans, int8ConvPlans, pointwisePlans, depthwisePlans, poolPlans, int8PoolPlans, densePlans,
                denseInferencePlans, batchNormPlans, batchNormKernels, eltwisePlans, softmaxPlans, layerNormPlans, binaryPlans,
                batchMatMulPlans, permutePlans)) {
            cache.close();
        }
        context.close();
    }
}
