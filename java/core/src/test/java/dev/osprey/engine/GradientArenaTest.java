package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Tensor;
import dev.osprey.layers.Add;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.layers.ReLU;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Training plans lay their input gradients out in one arena (GradientArena), each sharing memory with gradients whose
 * lives do not overlap its own. The layout's rules on small call graphs; and on whole models, the weight gradients of
 * two training passes with the arena equal, bit for bit, those with a tensor per gradient, in less memory.
 */
class GradientArenaTest {
    /** The CPU backend, made on first use: the GPU bundle runs compareOn with no CPU backend at hand. */
    private static Backend cpu() {
        return Device.cpu().backend();
    }
    private static final long F = 2048; // floats a value takes in the small graphs (a multiple of the alignment)

    private static long[] sizes(int values) {
        long[] s = new long[values];
        java.util.Arrays.fill(s, F);
        return s;
    }

    /** Value 0 is the model input; call n computes value n + 1. */
    private static int[] producers(int calls) {
        int[] p = new int[calls + 1];
        p[0] = -1;
        for (int n = 0; n < calls; n++) {
            p[n + 1] = n;
        }
        return p;
    }

    private static boolean[] allBut(int values, int without) {
        boolean[] b = new boolean[values];
        java.util.Arrays.fill(b, true);
        b[without] = false;
        return b;
    }

    @Test
    void aChainOfConvolutionsHoldsTwoGradientsAtATime() {
        // in -> c0 -> c1 -> c2 -> c3: c1's input gradient lives through the backwards of c1 and c0, c2's through c2
        // and c1, c3's through c3 and c2; c1's and c3's never meet
        int[][] reads = {{0}, {1}, {2}, {3}};
        GradientArena.Layout layout = GradientArena.plan(reads, producers(4), new boolean[] {true, true, true, true},
                allBut(5, 0), sizes(5));
        long[][] at = layout.offsets();
        assertEquals(-1, at[0][0], "the model input's gradient is never computed");
        assertEquals(at[1][0], at[3][0], "lives that do not meet share memory");
        assertNotEquals(at[1][0], at[2][0]);
        assertNotEquals(at[2][0], at[3][0]);
        assertEquals(2 * F, layout.floats());
        assertEquals(3 * F, layout.unshared());
        // sizes off the 4 KiB alignment: offsets rounded up, the unshared figure exact
        GradientArena.Layout odd = GradientArena.plan(reads, producers(4), new boolean[] {true, true, true, true},
                allBut(5, 0), new long[] {100, 100, 100, 100, 100});
        assertEquals(2 * GradientArena.ALIGN_FLOATS, odd.floats());
        assertEquals(300, odd.unshared());
        assertEquals(GradientArena.ALIGN_FLOATS, Math.abs(odd.offsets()[2][0] - odd.offsets()[1][0]));
    }

    @Test
    void aGradientHandedOnLivesUntilItsLastReader() {
        // in -> c0 -> c1 -> view -> c3: the view (not owning its input gradients) hands c3's input gradient on as its
        // own input's, which c1's backward reads: c3's lives through c1's backward, where c1's own gradient is written
        int[][] reads = {{0}, {1}, {2}, {3}};
        boolean[] owns = {true, true, false, true};
        GradientArena.Layout layout = GradientArena.plan(reads, producers(4), owns, allBut(5, 0), sizes(5));
        long[][] at = layout.offsets();
        assertEquals(-1, at[2][0], "a call that does not own its input gradients gets none from the arena");
        assertNotEquals(at[1][0], at[3][0], "c3's gradient is read by c1's backward, which writes c1's");
        assertEquals(2 * F, layout.floats());
    }

    @Test
    void aGradientAddedToAnotherEndsWithTheSum() {
        // in -> c0 -> c1 -> add(c1, c0) -> c3 -> c4: the sum hands c3's input gradient to both its inputs; c0's output
        // has two readers, so there it is added to c1's input gradient by c1's backward (the last to contribute) and
        // goes no further. c3's lives from c3 down to c1; c4's (c4 and c3) can take c1's place (c1 and c0)
        int[][] reads = {{0}, {1}, {2, 1}, {3}, {4}};
        boolean[] owns = {true, true, false, true, true};
        GradientArena.Layout layout = GradientArena.plan(reads, producers(5), owns, allBut(6, 0), sizes(6));
        long[][] at = layout.offsets();
        assertEquals(at[1][0], at[4][0]);
        assertNotEquals(at[3][0], at[1][0], "c3's gradient is read by c1's backward");
        assertNotEquals(at[3][0], at[4][0], "c4's backward writes its gradient while reading c3's");
        assertEquals(2 * F, layout.floats());
    }

    /** Weight gradients after two seeded training passes (and the plan's bytes), the arena on or off. */
    private static float[] gradients(Network network, Shape input, int batch, boolean arena, long[] bytes) {
        return gradients(cpu(), dev.osprey.Precision.FP32, network, input, batch, arena, bytes);
    }

    /** The same on a backend (GpuGradientArenaTest runs it on the GPU), its products in math (fp32, or bf16). */
    static float[] gradients(Backend backend, dev.osprey.Precision math, Network network, Shape input, int batch,
                             boolean arena, long[] bytes) {
        // the property is read as the plan is made
        ExecutionPlan made = dev.osprey.backend.cpu.SystemProperties.with(ExecutionPlan.GRADIENT_ARENA_PROPERTY,
                String.valueOf(arena), () -> ExecutionPlan.training(network.graph(), network.parameters(), backend,
                        batch, dev.osprey.Activation.Kind.SOFTMAX, math));
        try (ExecutionPlan plan = made) {
            plan.poisonGradientArena(arena); // NaN in each gradient before its writer and after its last reader
            for (int pass = 0; pass < 2; pass++) {
                backend.copyIn(Seeded.images(batch, input, 7 + pass), 0, plan.input(0));
                plan.forward(1 + pass);
                java.util.Random r = new java.util.Random(3 + pass);
                for (int o = 0; o < network.graph().outputs().size(); o++) { // each output's loss gradient
                    Tensor dOutput = plan.outputGradient(o);
                    float[] g = new float[(int) dOutput.size()];
                    for (int i = 0; i < g.length; i++) {
                        g[i] = (float) r.nextGaussian() / batch;
                    }
                    backend.copyIn(g, 0, dOutput);
                }
                plan.backward();
            }
            bytes[0] = plan.bytes();
            bytes[1] = plan.gradientArenaSaving();
            return Seeded.weightGradients(backend, network.parameters());
        }
    }

    /**
     * A small functional model beside the built-in ones: a layer applied twice (its two calls' kernel gradients
     * summed), a ReLU layer the convolution before it takes, a sum over a long shortcut, a concatenation, an activation
     * layer that runs on its own (LeakyReLU, and a softmax mid-network), rescaling, dropout, a product, a frozen
     * BatchNormalization, a padding and a permutation no layer takes over, max pooling, a view.
     */
    private static Model functional(Shape input) {
        Input in = Input.shape(input.dim(0), input.dim(1), input.dim(2));
        SymbolicTensor a = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(in);
        Conv2D shared = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME);
        SymbolicTensor b = new ReLU().apply(shared.apply(a));
        SymbolicTensor c = shared.apply(b);
        SymbolicTensor d = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(c);
        SymbolicTensor e = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(d);
        SymbolicTensor sum = new Add().apply(a, e);
        // an activation layer no layer before it takes (after a concatenation), dropout, a frozen normalization
        SymbolicTensor joined = new dev.osprey.layers.LeakyReLU(0.1f).apply(
                new dev.osprey.layers.Concatenate().apply(sum, a));
        SymbolicTensor scaled = new dev.osprey.layers.Rescaling(0.5).apply(joined);
        SymbolicTensor squeezed = new Conv2D(8, 1).apply(new dev.osprey.layers.Dropout(0.25).apply(scaled));
        SymbolicTensor gated = new dev.osprey.layers.Multiply().apply(squeezed, new Conv2D(8, 1).apply(scaled));
        // a squeeze-and-excitation gate, (1, 1, C) times the map: its gradient is a sum over the pixels
        SymbolicTensor se = new Conv2D(8, 1, dev.osprey.Activation.SIGMOID).apply(
                new dev.osprey.layers.GlobalAveragePooling2D().keepDims(true).apply(gated));
        gated = new dev.osprey.layers.Multiply().apply(se, gated);
        SymbolicTensor frozen = new dev.osprey.layers.BatchNormalization().trainable(false).apply(gated);
        // a padding no convolution takes over, and a permutation of rows and columns
        SymbolicTensor padded = new dev.osprey.layers.ZeroPadding2D(1).apply(frozen);
        SymbolicTensor pooled = new MaxPooling2D(2, 2).apply(new dev.osprey.layers.Permute(2, 1, 3).apply(padded));
        SymbolicTensor hidden = new dev.osprey.layers.Softmax().apply(new Dense(16).apply(new Flatten().apply(pooled)));
        SymbolicTensor logits = new Dense(10).apply(hidden);
        return new Model(in, logits);
    }

    /**
     * A model of three outputs on a shared trunk: a convolution tower's output, a classifier head and a head on a
     * shortcut, so that trunk values get gradients from several outputs, summed where their readers meet.
     */
    private static Model threeOutputs(Shape input) {
        Input in = Input.shape(input.dim(0), input.dim(1), input.dim(2));
        SymbolicTensor a = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(in);
        SymbolicTensor b = new Conv2D(8, 3, dev.osprey.Activation.RELU).padding(dev.osprey.Padding.SAME).apply(a);
        SymbolicTensor c = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(b);
        SymbolicTensor d = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(c);
        SymbolicTensor e = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(d);
        SymbolicTensor sum = new ReLU().apply(new Add().apply(a, e));
        SymbolicTensor pooled = new dev.osprey.layers.GlobalAveragePooling2D().apply(sum);
        SymbolicTensor classes = new Dense(10).apply(new Dense(16, dev.osprey.Activation.RELU).apply(pooled));
        SymbolicTensor box = new Dense(4).apply(pooled);
        SymbolicTensor shortcut = new Dense(3).apply(new Flatten().apply(new MaxPooling2D(2, 2).apply(b)));
        return new Model(List.of(in), List.of(classes, box, shortcut));
    }

    /**
     * threeOutputs' layers with two hidden tensors as outputs too, each listed after the outputs whose layers read it:
     * the residual sum (read by the pooling) and a ReLU convolution's output (read by the next convolution and by a
     * pooling, whose last reader may apply the ReLU gradient to the sum its gradients and the loss's make).
     */
    private static Model readOutputs(Shape input) {
        Model three = threeOutputs(input);
        Graph graph = new Graph(three.inputs(), three.outputs());
        List<SymbolicTensor> outputs = new java.util.ArrayList<>(three.outputs());
        for (Node node : graph.nodes()) {
            boolean addSum = node.layer() instanceof ReLU;
            boolean reluConv = node.layer() instanceof Conv2D conv
                    && conv.activation().kind() == dev.osprey.Activation.Kind.RELU;
            if (addSum || reluConv) {
                outputs.add(node.output());
            }
        }
        assertEquals(5, outputs.size(), "the sum and the ReLU convolution's output added");
        return new Model(three.inputs(), outputs);
    }

    @Test
    void trainingPassesWithTheArenaGiveTheGradientsOfATensorPerGradient() {
        compareOn(cpu(), dev.osprey.Precision.FP32);
    }

    /** Mixed-precision training (bf16 products, fp32 gradients), where the CPU has bf16 kernels: the same. */
    @Test
    void bf16MixedPrecisionTrainingPassesToo() {
        String reason = cpu().unavailable(dev.osprey.Precision.BF16);
        org.junit.jupiter.api.Assumptions.assumeTrue(reason == null, reason);
        compareOn(cpu(), dev.osprey.Precision.BF16);
    }

    /** The models' weight gradients with and without the arena on backend, bit for bit (see above). */
    static void compareOn(Backend backend, dev.osprey.Precision math) {
        Map<String, Shape> models = new java.util.LinkedHashMap<>();
        models.put("resnet14", Shape.of(16, 16, 3));
        models.put("mobilenetv2", Shape.of(32, 32, 3));
        models.put("tutorial", Shape.of(28, 28, 1));
        models.put("functional", Shape.of(32, 30, 3));
        models.put("three outputs", Shape.of(12, 12, 3));
        models.put("outputs read by layers", Shape.of(12, 12, 3));
        for (Map.Entry<String, Shape> e : models.entrySet()) {
            Shape input = e.getValue();
            Model model = switch (e.getKey()) {
                case "resnet14" -> Models.resNet(14, input, 10);
                case "mobilenetv2" -> Models.mobileNetV2(0.35, input, 10);
                case "tutorial" -> Models.tutorialCnn();
                case "three outputs" -> threeOutputs(input);
                case "outputs read by layers" -> readOutputs(input);
                default -> functional(input);
            };
            Graph graph = new Graph(model.inputs(), model.outputs());
            try (Network network = new Network(graph, backend)) {
                Seeded.randomize(backend, network.parameters(), 11);
                long[] apart = new long[2];
                long[] shared = new long[2];
                float[] expected = gradients(backend, math, network, input, 4, false, apart);
                float[] actual = gradients(backend, math, network, input, 4, true, shared);
                assertEquals(expected.length, actual.length);
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                            e.getKey() + ": weight gradient " + i + ": " + actual[i] + " with the arena, "
                                    + expected[i] + " with a tensor per gradient");
                }
                assertEquals(0, apart[1]);
                assertTrue(shared[1] > 0, e.getKey() + ": the arena shares some memory");
                assertEquals(apart[0] - shared[1], shared[0], e.getKey() + ": the plan's bytes, less what it saves");
            }
        }
    }

    /** A layer that claims to own its input gradients but hands its output gradient on (as Flatten does). */
    private static final class Mislabelled extends Layer implements Fusion.OwnInputGradients {
        @Override
        public Shape outputShape(List<Shape> inputs) {
            return inputs.get(0);
        }

        @Override
        public LayerRun plan(PlanContext ctx) {
            Tensor output = ctx.allocateOutput();
            Backend b = ctx.backend();
            Tensor input = ctx.input();
            return new LayerRun() {
                @Override
                public Tensor output() {
                    return output;
                }

                @Override
                public void forward(long seed) {
                    b.activationForward(dev.osprey.Activation.LINEAR, input, output);
                }

                @Override
                public List<Tensor> backward(Tensor dOutput) {
                    return LayerRun.gradients(dOutput);
                }
            };
        }

        @Override
        protected Map<String, Object> layerConfig() {
            return new java.util.LinkedHashMap<>();
        }
    }

    @Test
    void aLayerMarkedAsOwningItsGradientsThatHandsThemOnFailsItsBackward() {
        Input in = Input.shape(32, 32, 2);
        SymbolicTensor a = new Conv2D(4, 3).padding(dev.osprey.Padding.SAME).apply(in);
        SymbolicTensor b = new Mislabelled().apply(new Conv2D(4, 3).padding(dev.osprey.Padding.SAME).apply(a));
        SymbolicTensor logits = new Dense(3).apply(new Flatten().apply(new Conv2D(4, 3).apply(b)));
        Model model = new Model(in, logits);
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, cpu())) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> gradients(network, Shape.of(32, 32, 2), 2, true, new long[2]));
            assertTrue(e.getMessage().contains("is marked Fusion.OwnInputGradients, but its backward returned"),
                    e.getMessage());
        }
    }
}
