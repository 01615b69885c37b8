package dev.osprey.backend.cpu;

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
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.bytedeco.dnnl.dnnl_version_t;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.Loader;

/**
 * The CPU backend on oneDNN. Plans (primitives, descriptors, reorders) are made once per spec record and cached;
 * per call only data pointers are bound. Threads: oneDNN's OpenMP runtime uses every core unless
 * OMP_NUM_THREADS says otherwise (it is read once, when the library loads). Not thread-safe: one model, one thread.
 */
public final class CpuBackend implements Backend {
    private final DnnlContext context;
    private final Map<Conv2dSpec, ConvPlan> convPlans = new HashMap<>();
    private final Map<Pool2dSpec, PoolPlan> poolPlans = new HashMap<>();
    private final Map<DenseSpec, DensePlan> densePlans = new HashMap<>();
    private final Map<Long, ReluBackwardPlan> reluPlans = new HashMap<>();
    private final List<CpuTensor> tensors = new ArrayList<>();
    private final String description;
    private String convImplementation;
    private long nativeAllocations;
    private boolean closed;

    public CpuBackend() {
        refuseDynamicOpenMpTeams(System.getenv("OMP_DYNAMIC"));
        try {
            Loader.load(dnnl.class);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new BackendException("could not load oneDNN (org.bytedeco:dnnl with its linux-x86_64 jar and "
                    + "org.bytedeco:opencl's native jar must be on the class path): " + e.getMessage(), e);
        }
        context = new DnnlContext();
        dnnl_version_t v = dnnl.version();
        description = "cpu: oneDNN " + v.major() + "." + v.minor() + "." + v.patch() + ", " + threads() + " threads";
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
    public String description() {
        return convImplementation == null ? description : description + " (conv kernel: " + convImplementation + ")";
    }

    // ---- memory ------------------------------------------------------------------------------------------

    @Override
    public Tensor allocate(int... shape) {
        checkOpen();
        CpuTensor t = CpuTensor.allocate(shape);
        tensors.add(t);
        nativeAllocations++;
        return t;
    }

    @Override
    public Tensor view(Tensor base, long offset, int... shape) {
        return cpu(base, "view").view(offset, shape);
    }

    @Override
    public void copyIn(float[] source, int sourceOffset, Tensor destination) {
        CpuTensor d = cpu(destination, "copyIn");
        int n = (int) d.size();
        if (sourceOffset < 0 || sourceOffset + n > source.length) {
            throw new IllegalArgumentException("copyIn: expected " + n + " floats from offset " + sourceOffset
                    + ", received an array of " + source.length);
        }
        d.buffer().put(0, source, sourceOffset, n);
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
    public void conv2dForward(Conv2dSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.conv2dForward(spec, x, kernel, bias, y);
        conv(spec).forward(cpu(x), cpu(kernel), cpu(bias), cpu(y));
    }

    @Override
    public void conv2dBackwardData(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.conv2dBackwardData(spec, dy, kernel, dx);
        conv(spec).backwardData(cpu(dy), cpu(kernel), cpu(dx));
    }

    @Override
    public void conv2dBackwardFilter(Conv2dSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
        conv(spec).backwardFilter(cpu(x), cpu(dy), cpu(dKernel), cpu(dBias));
    }

    private ConvPlan conv(Conv2dSpec spec) {
        ConvPlan plan = plan(convPlans, spec, s -> new ConvPlan(context, s));
        convImplementation = plan.implementation;
        return plan;
    }

    // ---- pooling -----------------------------------------------------------------------------------------

    @Override
    public Tensor maxPool2dWorkspace(Pool2dSpec spec) {
        long bytes = plan(poolPlans, spec, s -> new PoolPlan(context, s)).workspaceBytes;
        return allocate((int) Math.max(1, (bytes + Float.BYTES - 1) / Float.BYTES));
    }

    @Override
    public void maxPool2dForward(Pool2dSpec spec, Tensor x, Tensor y, Tensor workspace) {
        Checks.maxPool2dForward(spec, x, y);
        PoolPlan plan = plan(poolPlans, spec, s -> new PoolPlan(context, s));
        checkWorkspace(plan, workspace);
        plan.forward(cpu(x), cpu(y), cpu(workspace));
    }

    @Override
    public void maxPool2dBackward(Pool2dSpec spec, Tensor x, Tensor y, Tensor dy, Tensor workspace, Tensor dx) {
        Checks.maxPool2dBackward(spec, x, y, dy, dx);
        PoolPlan plan = plan(poolPlans, spec, s -> new PoolPlan(context, s));
        checkWorkspace(plan, workspace);
        plan.backward(cpu(dy), cpu(workspace), cpu(dx));
    }

    private static void checkWorkspace(PoolPlan plan, Tensor workspace) {
        if (workspace.size() * Float.BYTES < plan.workspaceBytes) {
            throw new IllegalArgumentException("max-pool: expected a workspace from maxPool2dWorkspace of at least "
                    + plan.workspaceBytes + " bytes, received " + workspace.size() * Float.BYTES);
        }
    }

    // ---- dense -------------------------------------------------------------------------------------------

    @Override
    public void denseForward(DenseSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        Checks.denseForward(spec, x, kernel, bias, y);
        dense(spec).forward(cpu(x), cpu(kernel), cpu(bias), cpu(y));
    }

    @Override
    public void denseBackwardData(DenseSpec spec, Tensor dy, Tensor kernel, Tensor dx) {
        Checks.denseBackwardData(spec, dy, kernel, dx);
        dense(spec).backwardData(cpu(dy), cpu(kernel), cpu(dx));
    }

    @Override
    public void denseBackwardWeights(DenseSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias) {
        Checks.denseBackwardWeights(spec, x, dy, dKernel, dBias);
        dense(spec).backwardWeights(cpu(x), cpu(dy), cpu(dKernel), cpu(dBias));
    }

    private DensePlan dense(DenseSpec spec) {
        return plan(densePlans, spec, s -> new DensePlan(context, s));
    }

    // ---- element-wise and loss ---------------------------------------------------------------------------

    @Override
    public void activationBackward(Activation activation, Tensor y, Tensor dy, Tensor dx) {
        sameSize("activationBackward", y, dy, dx);
        switch (activation) {
            case LINEAR -> {
                if (dx != dy) {
                    cpu(dx).buffer().put(0, cpu(dy).buffer(), 0, (int) dy.size());
                }
            }
            case RELU -> plan(reluPlans, y.size(), n -> new ReluBackwardPlan(context, n))
                    .backward(cpu(y), cpu(dy), cpu(dx));
            case SOFTMAX -> throw new IllegalArgumentException(
                    "activationBackward: softmax's gradient is taken together with the cross-entropy loss");
        }
    }

    @Override
    public void softmaxForward(Tensor logits, Tensor probabilities) {
        int[] shape = rows("softmaxForward", logits);
        sameSize("softmaxForward", logits, probabilities);
        HostOps.softmax(cpu(logits).buffer(), cpu(probabilities).buffer(), shape[0], shape[1]);
    }

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor dLogits, Tensor stats) {
        int[] shape = Checks.softmaxCrossEntropy(logits, targets, dLogits, stats);
        HostOps.softmaxCrossEntropy(cpu(logits).buffer(), cpu(targets).buffer(),
                dLogits == null ? null : cpu(dLogits).buffer(), cpu(stats).buffer(), shape[0], shape[1]);
    }

    @Override
    public void dropoutForward(float rate, long seed, Tensor x, Tensor mask, Tensor y) {
        Checks.dropoutForward(rate, x, mask, y);
        HostOps.dropout(rate, seed, cpu(x).buffer(), cpu(mask).buffer(), cpu(y).buffer(), (int) x.size());
    }

    @Override
    public void multiply(Tensor a, Tensor b, Tensor out) {
        sameSize("multiply", a, b, out);
        HostOps.multiply(cpu(a).buffer(), cpu(b).buffer(), cpu(out).buffer(), (int) a.size());
    }

    // ---- optimizers --------------------------------------------------------------------------------------

    @Override
    public void adamUpdate(AdamSpec spec, long step, Tensor params, Tensor grads, Tensor m, Tensor v) {
        sameSize("adamUpdate", params, grads, m, v);
        HostOps.adam(spec, step, cpu(params).buffer(), cpu(grads).buffer(), cpu(m).buffer(), cpu(v).buffer(),
                (int) params.size());
    }

    @Override
    public void sgdUpdate(SgdSpec spec, Tensor params, Tensor grads, Tensor velocity) {
        sameSize("sgdUpdate", params, grads, velocity);
        HostOps.sgd(spec, cpu(params).buffer(), cpu(grads).buffer(), cpu(velocity).buffer(), (int) params.size());
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
            try {
                plan = make.apply(key);
            } catch (BackendException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new BackendException("oneDNN could not plan " + key + ": " + e.getMessage(), e);
            }
            cache.put(key, plan);
            nativeAllocations++;
        }
        return plan;
    }

    private CpuTensor cpu(Tensor t) {
        return cpu(t, "op");
    }

    private CpuTensor cpu(Tensor t, String op) {
        checkOpen();
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
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        convPlans.values().forEach(ConvPlan::close);
        poolPlans.values().forEach(PoolPlan::close);
        densePlans.values().forEach(DensePlan::close);
        reluPlans.values().forEach(ReluBackwardPlan::close);
        tensors.forEach(CpuTensor::close);
        context.close();
    }
}
