package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Models;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import org.junit.jupiter.api.Test;

/**
 * An optimized inference plan runs the stretches of calls its backend chains as op chains, and computes exactly what it
 * computes with chains off: MobileNetV2 at 32x32x3, whose 1x1 and depthwise convolutions at batch 1 are Osprey's
 * kernels on the CPU, before and after its weights change.
 */
class OpChainPlanTest {
    private static final Backend CPU = Device.cpu().backend();

    private static ExecutionPlan optimized(Network network, Graph graph, int batch) {
        return new ExecutionPlan(graph, network.parameters(), CPU, batch, false, true, true);
    }

    /** A plan made and first run with -Dosprey.cpu.opChains set to chains (its chains are made at the first run). */
    private static float[] firstRun(ExecutionPlan plan, float[] x, boolean chains) {
        return dev.osprey.backend.cpu.SystemProperties.with("osprey.cpu.opChains", Boolean.toString(chains),
                () -> OptimizedInferenceTest.run(plan, x));
    }

    @Test
    void mobileNetV2RunsItsSmallConvolutionsInChainsAndGetsTheSameBits() {
        Shape input = Shape.of(32, 32, 3);
        dev.osprey.Model model = Models.mobileNetV2(1.0, input, 10);
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU)) {
            OptimizedInferenceTest.randomize(network.parameters(), 1);
            for (int batch : new int[] {1, 3}) {
                float[] x = OptimizedInferenceTest.images(batch, input, 2);
                try (ExecutionPlan chained = optimized(network, graph, batch);
                     ExecutionPlan alone = optimized(network, graph, batch);
                     ExecutionPlan plain = new ExecutionPlan(graph, network.parameters(), CPU, batch, false, true,
                             false)) {
                    float[] expected = firstRun(alone, x, false);
                    assertArrayEquals(expected, firstRun(chained, x, true), 0f, "batch " + batch);
                    assertEquals(0, alone.chainedOps(), "chains off");
                    OptimizedInferenceTest.run(plain, x);
                    assertEquals(0, plain.chainedOps(), "a plain plan runs every call on its own");
                    // Osprey's kernels are built wherever gcc is and run on AVX2 + FMA: CI has both
                    if (chained.chainedOps() > 0 || "true".equals(System.getenv("CI"))) {
                        assertTrue(chained.chainedOps() >= 45, "52 convolutions, the first two oneDNN's; chained at "
                                + "batch " + batch + ": " + chained.chainedOps());
                    }
                    OptimizedInferenceTest.randomize(network.parameters(), 3 + batch);
                    assertArrayEquals(OptimizedInferenceTest.run(alone, x), OptimizedInferenceTest.run(chained, x),
                            0f, "batch " + batch + " after the weights changed");
                }
            }
        }
    }
}
