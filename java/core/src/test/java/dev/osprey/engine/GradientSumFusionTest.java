package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Models;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.layers.Add;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.ReLU;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Tensor;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import org.junit.jupiter.api.Test;

/**
 * Two training passes a ResNet block no longer makes on its own. A tensor read by two layers (a block's input: its
 * first convolution and the shortcut) gets the sum of their gradients: the plan offers the last layer due the sum so
 * far, and a convolution adds it as it writes its input gradient (on the CPU in the Winograd kernel's output
 * transform). And the residual sum takes the ReLU after it (one binary pass with the activation as post-op; its
 * backward differentiates the ReLU from the output). The weight gradients must equal those of a backend that does
 * each in two passes (Backend's defaults), and both fusions must happen where a ResNet has them. So must a block's
 * last BatchNormalization writing the residual sum (and its ReLU) in its own pass, against a backend that keeps them
 * apart.
 */
class GradientSumFusionTest {
    private static final Backend CPU = Device.cpu().backend();

    /**
     * The CPU backend, except that conv2dBackward, conv2dBackwardDataAdding and add with an activation are Backend's
     * defaults (the separate calls; compute, then add; add, then activate).
     */
    private static Backend addingAfterwards() {
        return cpuWithDefaults(m -> m.getName().equals("conv2dBackwardDataAdding")
                || m.getName().equals("conv2dBackward") || m.getName().equals("add") && m.getParameterCount() == 4
                || m.getName().equals("fusesReluGate"));
    }

    /** The CPU backend, except that it says it cannot add a residual in its batch normalization (Backend's default). */
    private static Backend normalizingApart() {
        return cpuWithDefaults(m -> m.getName().equals("fusesBatchNormResidual") || m.getName().equals("fusesReluGate"));
    }

    /** The CPU backend, with Backend's default for the methods that asDefault picks. */
    private static Backend cpuWithDefaults(java.util.function.Predicate<java.lang.reflect.Method> asDefault) {
        InvocationHandler h = (proxy, method, args) -> {
            if (asDefault.test(method)) {
                return InvocationHandler.invokeDefault(proxy, method, args);
            }
            try {
                return method.invoke(CPU, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        };
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, h);
    }

    /** Every weight gradient after one forward and backward pass of a seeded batch through backend; fused sums out. */
    private static float[] gradients(Network network, Backend backend, Shape input, int batch, int[] fused) {
        return gradients(network, backend, input, batch, fused, new int[1]);
    }

    /**
     * The same; absorbed gets the plan's count of activation layers that the layer before took, and (where it has room)
     * of sums that the BatchNormalization before them wrote.
     */
    private static float[] gradients(Network network, Backend backend, Shape input, int batch, int[] fused,
                                     int[] absorbed) {
        try (ExecutionPlan plan = new ExecutionPlan(network.graph(), network.parameters(), backend, batch, true,
                true)) {
            CPU.copyIn(OptimizedInferenceTest.images(batch, input, 7), 0, plan.input(0));
            plan.forward(1);
            Tensor dLogits = plan.outputGradient();
            float[] g = new float[(int) dLogits.size()];
            java.util.Random r = new java.util.Random(3);
            for (int i = 0; i < g.length; i++) {
                g[i] = (float) r.nextGaussian() / batch;
            }
            CPU.copyIn(g, 0, dLogits);
            plan.backward();
            fused[0] = plan.gradientSumsFused();
            if (fused.length > 2) { // the bytes the plan holds after its first backward pass
                fused[2] = Math.toIntExact(plan.bytes());
            }
            if (fused.length > 1) {
                fused[1] = plan.reluGatesFused();
            }
            absorbed[0] = plan.absorbedActivations();
            if (absorbed.length > 1) {
                absorbed[1] = plan.sumsWrittenByNormalization();
            }
            return Seeded.weightGradients(CPU, network.parameters());
        }
    }

    /** Runs check on a ResNet-8 for 16x16x3 inputs, its weights seeded at random (the block tests' model). */
    private static void withResNet8(java.util.function.BiConsumer<Network, Shape> check) {
        Shape input = Shape.of(16, 16, 3);
        dev.osprey.Model model = Models.resNet(8, input, 10);
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU)) {
            OptimizedInferenceTest.randomize(network.parameters(), 5);
            check.accept(network, input);
        }
    }

    @Test
    void aResNetsFusedSumsGiveTheSameWeightGradientsAsTwoPasses() {
        withResNet8((network, input) -> {
            int[] fused = new int[1];
            int[] separate = new int[1];
            float[] expected = gradients(network, addingAfterwards(), input, 4, separate);
            int[] absorbed = new int[1];
            float[] actual = gradients(network, CPU, input, 4, fused, absorbed);
            assertEquals(expected.length, actual.length);
            for (int i = 0; i < expected.length; i++) {
                assertTrue(expected[i] == actual[i], "weight gradient " + i + ": " + actual[i] + " where adding "
                        + "afterwards gives " + expected[i]);
            }
            // ResNet-8: 3 blocks; the first's input (the stem's output) has an identity shortcut, the other two a 1x1
            // projection whose gradient the plan adds to the strided first convolution's; each sum is offered to the
            // block's first convolution, due last, which takes it
            assertEquals(3, fused[0], "gradient sums the convolutions added");
            assertEquals(3, separate[0], "the non-fusing backend still takes them, adding afterwards");
            assertEquals(7, absorbed[0], "the stem's and each block's first BatchNormalization take their ReLU, each "
                    + "block's sum the ReLU after it");
        });
    }

    /**
     * A block's output (its sum's ReLU) read by the next block's first convolution, which writes its summed gradient:
     * where that convolution runs the one-pass Winograd backward, it applies the ReLU's gradient as it stores the sum,
     * and the Add's backward skips its pass. The weight gradients are bit for bit those of a backend that leaves the
     * ReLU's gradient to the Add (Backend's default), and the gates are taken where the ResNet has them.
     */
    @Test
    void aResNetsReluGatesAppliedByTheNextConvolutionGiveTheGradientsOfTheAddsOwnPass() {
        Shape input = Shape.of(16, 16, 3);
        dev.osprey.Model model = Models.resNet(14, input, 10);
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU)) {
            OptimizedInferenceTest.randomize(network.parameters(), 11);
            int[] apart = new int[3];
            int[] gated = new int[3];
            int[] reluPassesApart = new int[1];
            int[] reluPasses = new int[1];
            float[] expected = gradients(network, countingReluPasses(reluPassesApart, true), input, 8, apart);
            float[] actual = gradients(network, countingReluPasses(reluPasses, false), input, 8, gated);
            assertEquals(expected.length, actual.length);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                        "weight gradient " + i + ": " + actual[i] + " where the Add's own pass gives " + expected[i]);
            }
            assertEquals(0, apart[1], "a backend without the fusion leaves every ReLU's gradient to its Add");
            // ResNet-14: 3 stages of 2 blocks; the first block of each stage feeds the second, whose first
            // convolution (3x3, stride 1) runs the one-pass Winograd backward at 16x16 and 8x8 (at 4x4 and 64
            // channels its transformed kernel and gradient sums do not fit the one pass's cache budget), and the
            // other blocks feed a strided convolution or the pooling; where the kernel is not here, none
            int due = 0;
            long unneeded = 0; // bytes of the gated Adds' ReLU gradients
            for (int[] stage : new int[][] {{16, 16}, {8, 32}}) {
                boolean fuses = CPU.fusesReluGate(new dev.osprey.backend.Conv2dSpec(8, stage[0], stage[0], stage[1],
                        stage[1], 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, dev.osprey.Activation.LINEAR));
                due += fuses ? 1 : 0;
                unneeded += fuses ? 8L * stage[0] * stage[0] * stage[1] * Float.BYTES : 0;
            }
            assertEquals(due, gated[1], "ReLU gradients the next block's first convolution applied");
            assertEquals(reluPassesApart[0] - due, reluPasses[0], "the Adds gated by their reader skip their pass");
            // and their Adds never make the buffer for the ReLU's gradient that the pass would have written
            assertEquals(apart[2] - unneeded, gated[2], "bytes the plan holds, gated against not");
            // Backend's default conv2dBackwardGated (the convolution's backward, then the ReLU's from the gate) where
            // the gates are taken: the same bits again
            int[] composed = new int[2];
            float[] byDefault = gradients(network, cpuWithDefaults(m -> m.getName().equals("conv2dBackwardGated")),
                    input, 8, composed);
            assertEquals(due, composed[1]);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(byDefault[i]),
                        "weight gradient " + i + " through Backend's default conv2dBackwardGated");
            }
        }
    }

    /**
     * A frozen convolution (no kernel gradient, as when fine-tuning on a frozen backbone) reading a block's output takes
     * no gate (the one-pass backward needs the kernel gradient): the Add keeps its pass, and the gradients are those of
     * the Add's own pass.
     */
    @Test
    void aFrozenConvolutionLeavesTheReluGradientToTheAdd() {
        Shape input = Shape.of(16, 16, 3);
        dev.osprey.Model model = Models.resNet(14, input, 10);
        java.util.List<dev.osprey.Layer> convs = new java.util.ArrayList<>();
        for (dev.osprey.Layer l : model.layers()) {
            if (l instanceof dev.osprey.layers.Conv2D) {
                convs.add(l);
            }
        }
        // the stem, then per block two 3x3 convolutions (and a 1x1 projection where the stage changes): the first
        // block's are convs 1 and 2, the second block's first convolution, which reads the first block's output, is 3
        dev.osprey.Layer reader = convs.get(3);
        reader.trainable(false);
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU)) {
            OptimizedInferenceTest.randomize(network.parameters(), 13);
            int[] apart = new int[3];
            int[] gated = new int[3];
            float[] expected = gradients(network, countingReluPasses(new int[1], true), input, 8, apart);
            float[] actual = gradients(network, CPU, input, 8, gated);
            assertEquals(expected.length, actual.length);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                        "weight gradient " + i + ": " + actual[i] + " where the Add's own pass gives " + expected[i]);
            }
            int due = CPU.fusesReluGate(new dev.osprey.backend.Conv2dSpec(8, 8, 8, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1,
                    1, false, dev.osprey.Activation.LINEAR)) ? 1 : 0;
            assertEquals(due, gated[1], "only the second stage's reader, which trains, takes its gate");
        }
    }

    /** The CPU backend counting ReLU backward passes into count; apart: without the gate fusion (Backend's default). */
    private static Backend countingReluPasses(int[] count, boolean apart) {
        InvocationHandler h = (proxy, method, args) -> {
            if (apart && method.getName().equals("fusesReluGate")) {
                return InvocationHandler.invokeDefault(proxy, method, args);
            }
            if (method.getName().equals("activationBackward")
                    && ((dev.osprey.Activation) args[0]).kind() == dev.osprey.Activation.Kind.RELU) {
                count[0]++;
            }
            try {
                return method.invoke(CPU, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        };
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, h);
    }

    @Test
    void aResNetsSumsWrittenByItsBatchNormalizationsGiveTheGradientsOfSeparatePasses() {
        withResNet8((network, input) -> {
            int[] counts = new int[2];
            int[] apartCounts = new int[2];
            float[] expected = gradients(network, normalizingApart(), input, 4, new int[1], apartCounts);
            float[] actual = gradients(network, CPU, input, 4, new int[1], counts);
            // each block's tail: its second BatchNormalization writes relu(bn + shortcut); the shortcut of a projecting
            // block is its own BatchNormalization's output, computed before (ResNet-8: 3 blocks)
            assertEquals(3, counts[1], "sums written by the BatchNormalization before them");
            assertEquals(0, apartCounts[1], "a backend that cannot add in its batch normalization runs the sums apart");
            assertCloseToLargest(expected, actual);
        });
    }

    @Test
    void onlyANormalizationThatTheSumAloneReadsWritesIt() {
        // three sums: one after a normalization nothing else reads (written by it), one after a normalization a Dense
        // layer also reads (left apart), one after a normalization with a ReLU of its own (left apart: the sum would
        // come after that ReLU), and a sum whose other input is computed after the normalization, which it still takes
        // (the shortcut branch's normalization, computed later, writes it instead)
        Input in = Input.shape(6, 6, 4);
        SymbolicTensor a = new BatchNormalization().apply(new Conv2D(4, 3).padding(Padding.SAME).apply(in));
        SymbolicTensor first = new ReLU().apply(new Add().apply(a, in));
        SymbolicTensor b = new BatchNormalization().apply(new Conv2D(4, 3).padding(Padding.SAME).apply(first));
        SymbolicTensor side = new Dense(2).apply(new Flatten().apply(b));
        SymbolicTensor second = new ReLU().apply(new Add().apply(b, first));
        SymbolicTensor c = new ReLU().apply(new BatchNormalization().apply(
                new Conv2D(4, 3).padding(Padding.SAME).apply(second)));
        SymbolicTensor third = new Add().apply(c, second);
        SymbolicTensor d = new BatchNormalization().apply(new Conv2D(4, 3).padding(Padding.SAME).apply(third));
        SymbolicTensor shortcut = new BatchNormalization().apply(new Conv2D(4, 1).apply(third));
        SymbolicTensor fourth = new ReLU().apply(new Add().apply(d, shortcut));
        SymbolicTensor head = new Dense(3).apply(new Flatten().apply(fourth));
        SymbolicTensor out = new Dense(3, dev.osprey.Activation.SOFTMAX).apply(new Concatenate().apply(head,
                new Dense(3).apply(side)));
        dev.osprey.Model model = new dev.osprey.Model(in, out);
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU)) {
            OptimizedInferenceTest.randomize(network.parameters(), 9);
            int[] counts = new int[2];
            float[] expected = gradients(network, normalizingApart(), Shape.of(6, 6, 4), 3, new int[1], new int[2]);
            float[] actual = gradients(network, CPU, Shape.of(6, 6, 4), 3, new int[1], counts);
            assertEquals(2, counts[1], "sums written by the normalization before them: the first and the fourth");
            assertCloseToLargest(expected, actual);
        }
    }

    /**
     * Each weight gradient within 1e-4 of the largest of those normalizing apart gives: the two normalize in different
     * kernels (Osprey's and oneDNN's), which round apart; a sum left out or added twice is off by whole units.
     */
    private static void assertCloseToLargest(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        float largest = 0;
        for (float e : expected) {
            largest = Math.max(largest, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= 1e-4f * largest, "weight gradient " + i + ": " + actual[i]
                    + " where normalizing apart gives " + expected[i] + " (largest " + largest + ")");
        }
    }
}
