package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.layers.Add;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.ReLU;
import java.lang.reflect.Proxy;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * A plan given a {@link CallClock} reads it around every call, or every chain of calls, once per pass, waits for the
 * backend before each reading, and computes what it computes untimed.
 */
class CallClockTest {
    private static final Backend CPU = Device.cpu().backend();

    /** A residual block: the input feeds two calls, so backward sums two gradients into it. */
    private static Graph residualGraph() {
        Input in = Input.shape(8, 8, 8);
        SymbolicTensor x = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).useBias(false).apply(in);
        x = new BatchNormalization().apply(x);
        x = new ReLU().apply(x);
        x = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(x);
        x = new Add().apply(x, in);
        x = new GlobalAveragePooling2D().apply(x);
        SymbolicTensor out = new Dense(4).apply(x);
        return new Graph(List.of(in), List.of(out));
    }

    /** A backend that counts synchronize calls and leaves every other call to CPU. */
    private static Backend counting(AtomicLong synchronizations) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("synchronize") && method.getParameterCount() == 0) {
                        synchronizations.incrementAndGet();
                        return null;
                    }
                    try {
                        return method.invoke(CPU, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Test
    void timesEveryForwardAndBackwardCallOncePerPassAndWaitsForTheBackendAroundEach() {
        Graph graph = residualGraph();
        int nodes = graph.nodes().size();
        AtomicLong ticks = new AtomicLong();
        AtomicLong synchronizations = new AtomicLong();
        CallClock clock = new CallClock(counting(synchronizations), nodes, () -> ticks.addAndGet(1000));
        try (Network network = new Network(graph, CPU);
             ExecutionPlan timed = new ExecutionPlan(graph, network.parameters(), CPU, 3, true, false);
             ExecutionPlan untimed = new ExecutionPlan(graph, network.parameters(), CPU, 3, true, false)) {
            float[] x = new float[3 * 8 * 8 * 8];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) Math.sin(i * 0.37);
            }
            for (ExecutionPlan plan : List.of(timed, untimed)) {
                CPU.copyIn(x, 0, plan.input(0));
                CPU.fill(plan.outputGradient(), 0.25f);
            }
            for (int pass = 0; pass < 2; pass++) {
                timed.forward(7, clock);
                timed.backward(null, clock);
                untimed.forward(7);
                untimed.backward();
            }
            float[] a = new float[3 * 4];
            float[] b = new float[3 * 4];
            CPU.copyOut(timed.output(0), a, 0);
            CPU.copyOut(untimed.output(0), b, 0);
            assertArrayEquals(b, a, 0f, "timing changes nothing");
            int timedCalls = 0;
            for (int n = 0; n < nodes; n++) {
                // the ReLU after the normalization is applied by it (a run that computes nothing: not timed)
                boolean absorbed = graph.nodes().get(n).layer() instanceof ReLU;
                assertEquals(absorbed ? 0 : 2, clock.forwardCalls(n), "node " + n + " forward, once per pass");
                assertEquals(absorbed ? 0 : 2000L, clock.forwardNanos(n), "node " + n + ": one tick a call");
                assertEquals(1000L * clock.backwardCalls(n), clock.backwardNanos(n), "node " + n);
                assertTrue(clock.backwardCalls(n) == 0 || clock.backwardCalls(n) == 2, "node " + n);
                timedCalls += clock.forwardCalls(n) + clock.backwardCalls(n);
            }
            // the dense layer and both convolutions run backward in every pass (the first needs no input gradient)
            int denseNode = nodes - 1;
            assertEquals(2, clock.backwardCalls(denseNode));
            assertEquals(2, clock.backwardCalls(0), "the first convolution's weight gradient");
            assertEquals(2L * timedCalls, synchronizations.get(), "the backend waited for before and after each call");
            assertTrue(clock.chains().isEmpty(), "a training plan runs no chains");
            clock.reset();
            assertEquals(0, clock.forwardCalls(0));
            assertEquals(0L, clock.backwardNanos(denseNode));
        }
    }

    @Test
    void aChainIsTimedAsOneAndEveryCallIsCountedExactlyOnce() {
        Shape input = Shape.of(32, 32, 3);
        Model model = Models.mobileNetV2(1.0, input, 10);
        Graph graph = new Graph(model.inputs(), model.outputs());
        int nodes = graph.nodes().size();
        AtomicLong ticks = new AtomicLong();
        CallClock clock = new CallClock(CPU, nodes, () -> ticks.addAndGet(10));
        try (Network network = new Network(graph, CPU);
             ExecutionPlan plan = new ExecutionPlan(graph, network.parameters(), CPU, 1, false, true, true)) {
            OptimizedInferenceTest.randomize(network.parameters(), 1);
            float[] x = OptimizedInferenceTest.images(1, input, 2);
            float[] untimed = OptimizedInferenceTest.run(plan, x);
            plan.forward(0, clock);
            float[] timed = new float[untimed.length];
            CPU.copyOut(plan.output(0), timed, 0);
            assertArrayEquals(untimed, timed, 0f);
            Set<Integer> seen = new HashSet<>();
            for (CallClock.Chain chain : clock.chains()) {
                assertEquals(1, chain.runs());
                assertEquals(10L, chain.nanos());
                for (int n : chain.nodes()) {
                    assertTrue(seen.add(n), "node " + n + " in two chains");
                    assertEquals(0, clock.forwardCalls(n), "node " + n + " timed alone and in a chain");
                }
            }
            for (int n = 0; n < nodes; n++) {
                if (clock.forwardCalls(n) > 0) {
                    assertTrue(seen.add(n));
                }
            }
            // the rest were folded into a convolution beside them (padding, normalization, activation, residual sum)
            Set<String> folded = Set.of("ZeroPadding2D", "BatchNormalization", "ReLU", "Add");
            for (int n = 0; n < nodes; n++) {
                String type = graph.nodes().get(n).layer().getClass().getSimpleName();
                assertTrue(seen.contains(n) || folded.contains(type), "node " + n + " (" + type + ") not timed");
            }
            long convolutions = graph.nodes().stream().filter(n -> n.layer() instanceof dev.osprey.layers.Conv2D
                    || n.layer() instanceof dev.osprey.layers.DepthwiseConv2D).count();
            assertTrue(seen.size() >= convolutions + 2, seen.size() + " of " + nodes + " timed"); // + pooling, dense
            if (plan.chainedOps() > 0 || "true".equals(System.getenv("CI"))) { // Osprey's kernels need gcc, AVX2
                assertTrue(clock.chains().size() >= 1 && clock.chains().stream().anyMatch(c -> c.nodes().size() > 1),
                        "chains: " + clock.chains());
            }
        }
    }
}
