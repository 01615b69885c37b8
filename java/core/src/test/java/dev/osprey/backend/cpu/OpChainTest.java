package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Memory;
import dev.osprey.backend.OpChain;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Chains of Osprey's pointwise, depthwise and Winograd passes (native/cpu/op_chain.c) compute what the same ops compute
 * one at a time, bit for bit, also where a pass on one thread reads what a pass on the whole team wrote just before and
 * the other way round (the barriers between them).
 */
class OpChainTest {
    private static CpuBackend backend;

    @BeforeAll
    static void kernelsAvailable() {
        NativeKernels.require(PointwiseConvPlan.unavailableReason(), "the small pointwise convolution");
        NativeKernels.require(DepthwiseConvPlan.unavailableReason(), "the small depthwise convolution");
        backend = new CpuBackend();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static Conv2dSpec pointwise(int h, int w, int in, int out, Activation a) {
        return new Conv2dSpec(1, h, w, in, out, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, a);
    }

    /** A 3x3 depthwise convolution, 'same' padding (stride 2: one row and column of it at the bottom and right). */
    private static Conv2dSpec depthwise(int h, int w, int c, int stride) {
        int pad = stride == 1 ? 1 : 0;
        return new Conv2dSpec(1, h, w, c, c, 3, 3, stride, stride, pad, pad, 1, 1, 1, 1, c, true, Activation.RELU6);
    }

    /** One op of the test's network: its spec, its operands, and whether it adds a residual. */
    private record Op(ConvInference op, Tensor x, Tensor kernel, Tensor bias, Tensor residual, Tensor y) {
    }

    /**
     * MobileNetV2-like blocks on small maps, each op reading the output before it: expand (the whole team), depthwise
     * of stride 2 (one thread), project (one thread), expand (the whole team), depthwise, project with a residual;
     * then a 1x1 map through the panels (the whole team, the channels split between the threads) and a depthwise
     * convolution of it (one thread: without a barrier before it, it would read the other thread's channels early).
     */
    private static List<Op> network(Memory memory, Random r) {
        Conv2dSpec[] specs = {
            pointwise(8, 8, 24, 96, Activation.RELU6),
            depthwise(8, 8, 96, 2),
            pointwise(4, 4, 96, 24, Activation.LINEAR),
            pointwise(4, 4, 24, 640, Activation.RELU6),
            depthwise(4, 4, 640, 1),
            pointwise(4, 4, 640, 24, Activation.LINEAR), // + the output of the first projection
            pointwise(1, 1, 320, 1280, Activation.RELU6),
            depthwise(1, 1, 1280, 1), // one thread, reading first the channels thread 1 wrote last
        };
        List<Op> ops = new ArrayList<>();
        Tensor x = upload(memory, random(r, 8 * 8 * 24), 1, 8, 8, 24);
        Tensor projected = null;
        for (int i = 0; i < specs.length; i++) {
            Conv2dSpec s = specs[i];
            if (i == 6) {
                x = upload(memory, random(r, 320), 1, 1, 1, 320); // a map of its own
            }
            boolean residual = i == 5;
            ConvInference op = new ConvInference(s, residual, Precision.FP32);
            float[] k = random(r, s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters());
            for (int j = 0; j < k.length; j++) {
                k[j] /= (float) Math.sqrt(s.kernelH() * s.kernelW() * (s.inC() / s.groups()));
            }
            Tensor kernel = ConvInferenceRuns.asPlanned(backend, memory, op, upload(memory, k, s.kernelShape()));
            Tensor y = memory.allocate(op.outputShape());
            ops.add(new Op(op, x, kernel, upload(memory, random(r, s.filters()), s.filters()),
                    residual ? projected : null, y));
            if (i == 2) {
                projected = y;
            }
            x = y;
        }
        return ops;
    }

    private static Tensor upload(Memory memory, float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        backend.copyIn(values, 0, t);
        return t;
    }

    /**
     * A residual block of convolutions (each reading the output before it, the last adding the first's input), with
     * random inputs, biases and kernels scaled to keep outputs near the inputs' size, kernels prepared as planned.
     */
    private static List<Op> residualBlock(Memory memory, Random r, Conv2dSpec... specs) {
        List<Op> ops = new ArrayList<>();
        Tensor x = upload(memory, random(r, Math.toIntExact(specs[0].inH() * specs[0].inW() * specs[0].inC())),
                specs[0].inputShape());
        Tensor first = x;
        for (int i = 0; i < specs.length; i++) {
            Conv2dSpec s = specs[i];
            boolean last = i == specs.length - 1;
            ConvInference op = new ConvInference(s, last, Precision.FP32);
            float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
            for (int j = 0; j < k.length; j++) {
                k[j] /= (float) Math.sqrt(s.kernelH() * s.kernelW() * s.inC());
            }
            Tensor prepared = ConvInferenceRuns.asPlanned(backend, memory, op, upload(memory, k, s.kernelShape()));
            Tensor y = memory.allocate(op.outputShape());
            ops.add(new Op(op, x, prepared, upload(memory, random(r, s.filters()), s.filters()), last ? first : null,
                    y));
            x = y;
        }
        return ops;
    }

    /** Runs each op on its own, in order, and returns their outputs. */
    private static float[][] runAlone(List<Op> ops) {
        for (Op o : ops) {
            backend.conv2dInference(o.op(), o.x(), o.kernel(), o.bias(), o.residual(), o.y());
        }
        return outputs(ops);
    }

    /** Zeroes each op's output (so that a pass the chain skipped shows) and appends the op to chain. */
    private static void appendWithOutputsZeroed(OpChain chain, List<Op> ops) {
        for (Op o : ops) {
            backend.copyIn(new float[Math.toIntExact(o.y().size())], 0, o.y());
            assertTrue(backend.chainConv2dInference(chain, o.op(), o.x(), o.kernel(), o.bias(), o.residual(), o.y()));
        }
    }

    private static float[][] outputs(List<Op> ops) {
        float[][] out = new float[ops.size()][];
        for (int i = 0; i < ops.size(); i++) {
            out[i] = new float[Math.toIntExact(ops.get(i).y().size())];
            backend.copyOut(ops.get(i).y(), out[i], 0);
        }
        return out;
    }

    /** Runs make with -Dosprey.cpu.chainBarrier set to barrier, then restores it. */
    private static <T> T withBarrier(String barrier, java.util.function.Supplier<T> make) {
        return SystemProperties.with(CpuOpChain.BARRIER_PROPERTY, barrier, make);
    }

    /** The chain's own barrier between passes (the default where OMP_WAIT_POLICY is not passive), and OpenMP's. */
    @ParameterizedTest
    @ValueSource(strings = {"own", "openmp"})
    void aChainComputesWhatItsOpsComputeOneAtATime(String barrier) {
        try (Memory memory = backend.newMemory()) {
            List<Op> ops = network(memory, new Random(7));
            int[] threads = new int[ops.size()];
            for (int i = 0; i < ops.size(); i++) {
                Op o = ops.get(i);
                threads[i] = backend.inferenceConv(o.op()).threads();
                backend.conv2dInference(o.op(), o.x(), o.kernel(), o.bias(), o.residual(), o.y());
            }
            float[][] alone = outputs(ops);
            for (Op o : ops) { // outputs cleared: the chain must write every one
                backend.copyIn(new float[Math.toIntExact(o.y().size())], 0, o.y());
            }
            try (OpChain chain = withBarrier(barrier, backend::newChain)) {
                assertNotNull(chain, "chains are on by default");
                for (Op o : ops) {
                    assertTrue(backend.chainConv2dInference(chain, o.op(), o.x(), o.kernel(), o.bias(), o.residual(),
                            o.y()), o.op().spec() + " runs in chains");
                }
                assertEquals(ops.size(), chain.ops());
                // again and again: nothing carried over from a run, and a missing barrier (a race) shows in some run
                for (int run = 0; run < 200; run++) {
                    backend.runChain(chain);
                    float[][] chained = outputs(ops);
                    for (int i = 0; i < ops.size(); i++) {
                        assertArrayEquals(alone[i], chained[i], 0f, "op " + i + " (" + threads[i] + " threads), run "
                                + run);
                    }
                }
            }
            if (OpenMpTeam.defaultSize() > 1) { // what the test is about: passes on one thread and on the team
                assertEquals(1, threads[1], "the first depthwise convolution runs on one thread");
                assertTrue(threads[0] > 1 && threads[3] > 1 && threads[6] > 1 && threads[7] == 1,
                        java.util.Arrays.toString(threads));
            }
        }
    }

    /** A 3x3 convolution of stride 1, 'same' padding: Osprey's Winograd kernel takes those of 16 channels and more. */
    private static Conv2dSpec conv3x3(int h, int w, int in, int out) {
        return new Conv2dSpec(1, h, w, in, out, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, Activation.RELU);
    }

    /**
     * ResNet's basic block on a 16x16 map through the Winograd kernel (which needs the backend's scratchpad, passed
     * when the chain runs), a 1x1 convolution between: the same bits chained as alone.
     */
    @Test
    void winogradPassesChainWithTheScratchpadOfTheRun() {
        Conv2dSpec[] specs = {conv3x3(16, 16, 16, 32), pointwise(16, 16, 32, 16, Activation.LINEAR),
            conv3x3(16, 16, 16, 16)};
        try (Memory memory = backend.newMemory()) {
            List<Op> ops = residualBlock(memory, new Random(11), specs);
            assertInstanceOf(WinogradConvPlan.class, backend.inferenceConv(ops.get(0).op()));
            assertInstanceOf(WinogradConvPlan.class, backend.inferenceConv(ops.get(2).op()));
            float[][] alone = runAlone(ops);
            try (OpChain chain = backend.newChain()) {
                appendWithOutputsZeroed(chain, ops);
                // a larger Winograd plan made now grows (moves) the scratchpad the chain's passes use when it runs
                ConvInference larger = new ConvInference(new Conv2dSpec(8, 32, 32, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1,
                        1, 1, true, Activation.RELU), false, Precision.FP32);
                assertInstanceOf(WinogradConvPlan.class, backend.inferenceConv(larger));
                backend.runChain(chain);
                float[][] chained = outputs(ops);
                for (int i = 0; i < ops.size(); i++) {
                    assertArrayEquals(alone[i], chained[i], 0f, "op " + i);
                }
            }
        }
    }

    /**
     * ResNet-20's last stage at batch 1: 3x3 convolutions of 64 channels on an 8x8 map are 4 tiles of 4x4 outputs, one
     * block, so the team shares their output channels; a 1x1 convolution between them, the second adding the block's
     * input. Chained, every pass gives the bits it gives alone (each pass's threads write only their channels, and
     * the barriers keep a pass from reading the one before early).
     */
    @Test
    void winogradPassesThatShareChannelsChainBetweenOtherPasses() {
        Conv2dSpec[] specs = {conv3x3(8, 8, 64, 64), pointwise(8, 8, 64, 64, Activation.LINEAR), conv3x3(8, 8, 64, 64)};
        try (Memory memory = backend.newMemory()) {
            List<Op> ops = residualBlock(memory, new Random(23), specs);
            for (int i : new int[] {0, 2}) {
                WinogradConvPlan plan = assertInstanceOf(WinogradConvPlan.class,
                        backend.inferenceConv(ops.get(i).op()));
                int team = plan.threads(); // this machine's: channels are shared by 2 to 4 threads (16 each or more)
                assertEquals(team > 1 && 16 * team <= 64, plan.sharesOutputChannels(), "op " + i + " on " + team);
                assumeTrue(plan.sharesOutputChannels(), "a team of " + team + " threads does not share 64 channels");
            }
            float[][] alone = runAlone(ops);
            try (OpChain chain = backend.newChain()) {
                appendWithOutputsZeroed(chain, ops);
                for (int run = 0; run < 20; run++) { // a missing barrier shows only now and then
                    backend.runChain(chain);
                    float[][] chained = outputs(ops);
                    for (int i = 0; i < ops.size(); i++) {
                        assertArrayEquals(alone[i], chained[i], 0f, "run " + run + ", op " + i);
                    }
                }
            }
        }
    }

    /** A chain holds native memory: the backend's count of native allocations takes it in, once; runs add none. */
    @Test
    void aChainCountsAsOneNativeAllocationAndItsRunsAsNone() {
        long before = backend.nativeAllocations();
        try (OpChain chain = backend.newChain()) {
            assertEquals(before + 1, backend.nativeAllocations(), "a new chain");
            backend.runChain(chain); // an empty chain runs, doing nothing
            assertEquals(before + 1, backend.nativeAllocations(), "a run");
        }
    }

    @Test
    void opsItCannotChainAreLeftToTheCaller() {
        Conv2dSpec first = new Conv2dSpec(1, 32, 32, 3, 32, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 1, true, Activation.RELU6);
        ConvInference op = new ConvInference(first, false, Precision.FP32);
        assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op), "oneDNN runs it");
        try (Memory memory = backend.newMemory(); OpChain chain = backend.newChain()) {
            assertFalse(backend.chainConv2dInference(chain, op, memory.allocate(first.inputShape()),
                    ConvInferenceRuns.asPlanned(backend, memory, op, memory.allocate(first.kernelShape())),
                    memory.allocate(32), null, memory.allocate(first.outputShape())));
            assertEquals(0, chain.ops());
        }
    }

    @Test
    void badOperandsAndForeignOrClosedChainsAreRefused() {
        Conv2dSpec s = pointwise(2, 2, 16, 32, Activation.RELU);
        ConvInference op = new ConvInference(s, false, Precision.FP32);
        try (Memory memory = backend.newMemory(); OpChain chain = backend.newChain()) {
            Tensor kernel = memory.allocate(Math.toIntExact(backend.conv2dInferenceKernelSize(op)));
            IllegalArgumentException wrongInput = assertThrows(IllegalArgumentException.class,
                    () -> backend.chainConv2dInference(chain, op, memory.allocate(1, 2, 2, 15), kernel,
                            memory.allocate(32), null, memory.allocate(s.outputShape())));
            assertTrue(wrongInput.getMessage().contains("expected shape") && wrongInput.getMessage()
                    .contains("received"), wrongInput.getMessage());
            assertEquals(0, chain.ops());
            OpChain foreign = new OpChain() {
                @Override
                public int ops() {
                    return 0;
                }

                @Override
                public void close() {
                }
            };
            assertThrows(IllegalArgumentException.class, () -> backend.runChain(foreign));
            assertThrows(IllegalArgumentException.class, () -> backend.chainConv2dInference(foreign, op,
                    memory.allocate(s.inputShape()), kernel, memory.allocate(32), null,
                    memory.allocate(s.outputShape())));
            chain.close();
            assertThrows(IllegalStateException.class, () -> backend.runChain(chain));
        }
    }

    @Test
    void aChainRunsOnlyOnItsOwnBackendAndWhileItsTensorsAreOpen() {
        Conv2dSpec s = pointwise(2, 2, 16, 32, Activation.RELU);
        ConvInference op = new ConvInference(s, false, Precision.FP32);
        try (CpuBackend other = new CpuBackend(); OpChain chain = backend.newChain()) {
            IllegalArgumentException foreign = assertThrows(IllegalArgumentException.class,
                    () -> other.runChain(chain));
            assertTrue(foreign.getMessage().contains("another CPU backend"), foreign.getMessage());
            Memory memory = backend.newMemory();
            Tensor kernel = memory.allocate(Math.toIntExact(backend.conv2dInferenceKernelSize(op)));
            assertTrue(backend.chainConv2dInference(chain, op, memory.allocate(s.inputShape()), kernel,
                    memory.allocate(32), null, memory.allocate(s.outputShape())));
            backend.runChain(chain);
            memory.close(); // the tensors the pass reads and writes are freed: the chain must not run
            IllegalStateException closed = assertThrows(IllegalStateException.class, () -> backend.runChain(chain));
            assertTrue(closed.getMessage().contains("after its backend closed it"), closed.getMessage());
        }
    }

    /** A kernel in Keras' shape where a prepared one is expected is refused, even where the sizes agree. */
    @Test
    void anUnpreparedKernelIsRefused() {
        Conv2dSpec s = pointwise(2, 2, 16, 32, Activation.RELU);
        ConvInference op = new ConvInference(s, false, Precision.FP32);
        assertEquals(16 * 32, backend.conv2dInferenceKernelSize(op), "a prepared kernel as large as Keras' one");
        try (Memory memory = backend.newMemory(); OpChain chain = backend.newChain()) {
            Tensor keras = memory.allocate(s.kernelShape());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> backend.conv2dInference(op, memory.allocate(s.inputShape()), keras, memory.allocate(32),
                            null, memory.allocate(s.outputShape())));
            assertTrue(e.getMessage().contains("expected a prepared kernel")
                    && e.getMessage().contains("(1, 1, 16, 32)"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> backend.chainConv2dInference(chain, op,
                    memory.allocate(s.inputShape()), keras, memory.allocate(32), null,
                    memory.allocate(s.outputShape())));
            assertEquals(0, chain.ops());
        }
    }

    /** A pass of a plan made for a team of its own, on CPU tensors, for chains of teams other than the default. */
    private record Pass(ChainableConv plan, CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual,
                        CpuTensor y) {
    }

    private static CpuTensor cpuTensor(float[] values) {
        CpuTensor t = CpuTensor.allocate(new int[] {values.length});
        t.buffer().put(0, values);
        return t;
    }

    /**
     * Teams of 3, 5 and 8 threads (more than this machine's CPUs, which the barrier must survive: it yields): there the
     * barrier takes 2 or 3 rounds, each thread waiting for a different one in each. A chain of expansion, depthwise
     * (the team, or one thread) and projection passes, each reading the one before, gives the passes' own bits run
     * after run.
     */
    @ParameterizedTest
    @ValueSource(ints = {3, 5, 8})
    void largerTeamsMeetAtEveryBarrier(int team) {
        Conv2dSpec[] specs = {
            pointwise(4, 4, 24, 96, Activation.RELU6),
            depthwise(4, 4, 96, 1),
            pointwise(4, 4, 96, 24, Activation.LINEAR),
            pointwise(4, 4, 24, 128, Activation.RELU6),
            depthwise(4, 4, 128, 1),
            pointwise(4, 4, 128, 24, Activation.LINEAR), // + the first projection's output
        };
        Random r = new Random(team);
        List<Pass> passes = new ArrayList<>();
        List<CpuTensor> owned = new ArrayList<>();
        try {
            CpuTensor x = cpuTensor(random(r, 4 * 4 * 24));
            owned.add(x);
            CpuTensor projected = null;
            for (int i = 0; i < specs.length; i++) {
                Conv2dSpec s = specs[i];
                ConvInference op = new ConvInference(s, i == specs.length - 1, Precision.FP32);
                ChainableConv plan = s.groups() > 1
                        ? OpenMpTeam.sized(i == 4 ? 1 : team, () -> new DepthwiseConvPlan(op))
                        : new PointwiseConvPlan(op, team);
                float[] k = random(r, s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters());
                for (int j = 0; j < k.length; j++) {
                    k[j] /= (float) Math.sqrt(s.kernelH() * s.kernelW() * (s.inC() / s.groups()));
                }
                CpuTensor keras = cpuTensor(k);
                owned.add(keras);
                CpuTensor kernel = keras;
                if (plan.preparedFloats() > 0) {
                    kernel = CpuTensor.allocate(new int[] {Math.toIntExact(plan.preparedFloats())});
                    owned.add(kernel);
                    plan.prepare(keras, kernel);
                }
                CpuTensor bias = cpuTensor(random(r, s.filters()));
                CpuTensor y = CpuTensor.allocate(new int[] {s.outH() * s.outW() * s.filters()});
                owned.add(bias);
                owned.add(y);
                passes.add(new Pass(plan, x, kernel, bias, i == specs.length - 1 ? projected : null, y));
                if (i == 2) {
                    projected = y;
                }
                x = y;
            }
            float[][] alone = new float[passes.size()][];
            for (int i = 0; i < passes.size(); i++) {
                Pass p = passes.get(i);
                p.plan().forward(p.x(), p.kernel(), p.bias(), p.residual(), p.y());
                alone[i] = new float[Math.toIntExact(p.y().size())];
                p.y().buffer().get(0, alone[i]);
            }
            try (CpuOpChain chain = (CpuOpChain) withBarrier("own", backend::newChain)) {
                for (Pass p : passes) {
                    p.y().buffer().put(0, new float[Math.toIntExact(p.y().size())]);
                    assertTrue(p.plan().appendTo(chain, p.x(), p.kernel(), p.bias(), p.residual(), p.y()));
                }
                for (int run = 0; run < 30; run++) {
                    chain.run(0);
                    for (int i = 0; i < passes.size(); i++) {
                        float[] chained = new float[alone[i].length];
                        passes.get(i).y().buffer().get(0, chained);
                        assertArrayEquals(alone[i], chained, 0f, "pass " + i + " (" + passes.get(i).plan().threads()
                                + " threads), run " + run + ", a team of " + team);
                    }
                }
            }
            assertEquals(team, passes.get(0).plan().threads(), "the expansion is planned for the whole team");
        } finally {
            for (CpuTensor t : owned) {
                t.close();
            }
        }
    }

    @Test
    void anUnknownBarrierIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> withBarrier("spin", backend::newChain));
        assertEquals("-Dosprey.cpu.chainBarrier: expected auto, own or openmp, received 'spin'", e.getMessage());
        assertTrue(withBarrier(" OpenMP ", CpuOpChain::openMpBarrier), "case and spaces do not matter");
        assertFalse(withBarrier("own", CpuOpChain::openMpBarrier));
    }

    /** By default OpenMP's barrier where OMP_WAIT_POLICY is passive (the suite's setting: see the pom), else its own. */
    @Test
    void byDefaultThePassiveWaitPolicyPicksOpenMpsBarrier() {
        String policy = System.getenv("OMP_WAIT_POLICY");
        assertEquals(policy != null && policy.trim().equalsIgnoreCase("passive"),
                withBarrier("auto", CpuOpChain::openMpBarrier));
    }

    @Test
    void chainsCanBeTurnedOff() {
        String before = System.getProperty("osprey.cpu.opChains");
        System.setProperty("osprey.cpu.opChains", "false");
        try {
            assertNull(backend.newChain());
        } finally {
            if (before == null) {
                System.clearProperty("osprey.cpu.opChains");
            } else {
                System.setProperty("osprey.cpu.opChains", before);
            }
        }
    }
}
