package dev.osprey.bench;

import dev.osprey.Activation;
import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Device;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Each backend op of the tutorial CNN at batch 256, through the backend seam. An "operation" is one FLOP for
 * compute-bound ops and one byte moved for memory-bound ones, so the reported ops/ns read as GFLOP/s or GB/s
 * (benchmarks/run-jmh.sh labels them). Ops are queued; each invocation ends with a one-float read so a GPU's
 * queue is drained inside the measurement.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class OpBenchmark {
    // The tutorial's second convolution, its first pooling and its first dense layer, at batch 256.
    static final Conv2dSpec CONV = new Conv2dSpec(256, 13, 13, 32, 64, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU);
    static final Pool2dSpec POOL = new Pool2dSpec(256, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0);
    static final DenseSpec DENSE = new DenseSpec(256, 576, 64, Activation.RELU);
    static final int PARAMETERS = 93_322;

    static final int CONV_FLOPS = 1_141_899_264;      // 2 x 256 x 11 x 11 x 64 x 3 x 3 x 32, each direction
    static final int DENSE_FLOPS = 18_874_368;        // 2 x 256 x 576 x 64, each direction
    static final int POOL_BYTES = 27_688_960;         // (256x26x26x32 + 256x13x13x32) floats read or written
    static final int SOFTMAX_CE_BYTES = 30_720;       // logits, targets and gradients of 256 x 10
    static final int ADAM_BYTES = 2_613_016;          // 93,322 parameters: read p, g, m, v; write p, m, v

    @Param({"cpu"})
    String device;

    private Backend b;
    private Memory memory;
    private Tensor x, kernel, bias, y, dy, dx, dKernel, dBias;
    private Tensor poolIn, poolOut, poolWorkspace, poolGrad, poolInGrad;
    private Tensor denseIn, denseKernel, denseBias, denseOut, denseGrad, denseInGrad, denseKernelGrad, denseBiasGrad;
    private Tensor logits, targets, dLogits, stats;
    private Tensor params, grads, m, v;
    private Tensor probe;
    private final float[] sink = new float[1];
    private long step;

    @Setup(Level.Trial)
    public void setUp() {
        b = Device.parse(device).backend();
        memory = b.newMemory();
        x = filled(0.1f, CONV.inputShape());
        kernel = filled(0.01f, CONV.kernelShape());
        bias = filled(0f, CONV.filters());
        y = memory.allocate(CONV.outputShape());
        dy = filled(0.001f, CONV.outputShape());
        dx = memory.allocate(CONV.inputShape());
        dKernel = memory.allocate(CONV.kernelShape());
        dBias = memory.allocate(CONV.filters());
        poolIn = filled(0.2f, POOL.inputShape());
        poolOut = memory.allocate(POOL.outputShape());
        long workspace = b.pool2dWorkspaceSize(POOL);
        poolWorkspace = workspace > 0 ? memory.allocate((int) workspace) : null;
        poolGrad = filled(0.01f, POOL.outputShape());
        poolInGrad = memory.allocate(POOL.inputShape());
        denseIn = filled(0.1f, DENSE.inputShape());
        denseKernel = filled(0.01f, DENSE.kernelShape());
        denseBias = filled(0f, DENSE.units());
        denseOut = memory.allocate(DENSE.outputShape());
        denseGrad = filled(0.01f, DENSE.outputShape());
        denseInGrad = memory.allocate(DENSE.inputShape());
        denseKernelGrad = memory.allocate(DENSE.kernelShape());
        denseBiasGrad = memory.allocate(DENSE.units());
        logits = filled(0.3f, 256, 10);
        targets = filled(0.1f, 256, 10);
        dLogits = memory.allocate(256, 10);
        stats = memory.allocate(2);
        params = filled(0.05f, PARAMETERS);
        grads = filled(0.001f, PARAMETERS);
        m = memory.allocate(PARAMETERS);
        v = memory.allocate(PARAMETERS);
        probe = memory.allocate(1);
        b.pool2dForward(POOL, poolIn, poolOut, poolWorkspace);
    }

    private Tensor filled(float value, int... shape) {
        Tensor t = memory.allocate(shape);
        b.fill(t, value);
        return t;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        memory.close();
    }

    private float drain(Tensor t) {
        b.copyOut(b.view(t, 0, 1), sink, 0);
        return sink[0];
    }

    @Benchmark
    @OperationsPerInvocation(CONV_FLOPS)
    public float conv2dForward() {
        b.conv2dForward(CONV, x, kernel, bias, y);
        return drain(y);
    }

    @Benchmark
    @OperationsPerInvocation(CONV_FLOPS)
    public float conv2dBackwardData() {
        b.conv2dBackwardData(CONV, dy, kernel, dx);
        return drain(dx);
    }

    @Benchmark
    @OperationsPerInvocation(CONV_FLOPS)
    public float conv2dBackwardFilter() {
        b.conv2dBackwardFilter(CONV, x, dy, dKernel, dBias);
        return drain(dKernel);
    }

    @Benchmark
    @OperationsPerInvocation(POOL_BYTES)
    public float maxPool2dForward() {
        b.pool2dForward(POOL, poolIn, poolOut, poolWorkspace);
        return drain(poolOut);
    }

    @Benchmark
    @OperationsPerInvocation(POOL_BYTES)
    public float maxPool2dBackward() {
        b.pool2dBackward(POOL, poolIn, poolOut, poolGrad, poolWorkspace, poolInGrad);
        return drain(poolInGrad);
    }

    @Benchmark
    @OperationsPerInvocation(DENSE_FLOPS)
    public float denseForward() {
        b.denseForward(DENSE, denseIn, denseKernel, denseBias, denseOut);
        return drain(denseOut);
    }

    @Benchmark
    @OperationsPerInvocation(2 * DENSE_FLOPS)
    public float denseBackward() {
        b.denseBackwardData(DENSE, denseGrad, denseKernel, denseInGrad);
        b.denseBackwardWeights(DENSE, denseIn, denseGrad, denseKernelGrad, denseBiasGrad);
        return drain(denseKernelGrad);
    }

    @Benchmark
    @OperationsPerInvocation(SOFTMAX_CE_BYTES)
    public float softmaxCrossEntropy() {
        b.softmaxCrossEntropy(logits, targets, dLogits, stats);
        return drain(dLogits);
    }

    @Benchmark
    @OperationsPerInvocation(ADAM_BYTES)
    public float adamUpdate() {
        b.adamUpdate(new AdamSpec(1e-3f, 0.9f, 0.999f, 1e-7f), ++step, params, grads, m, v);
        return drain(params);
    }
}
