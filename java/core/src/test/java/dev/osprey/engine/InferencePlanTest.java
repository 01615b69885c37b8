package dev.osprey.engine;

import static dev.osprey.backend.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Tensor;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.DepthwiseConv2D;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.ReLU;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Inference plans: BatchNormalization (and the activation after it) folded into the convolution before it gives the
 * unfolded plan's outputs; output memory reused across layers takes far less than a training plan's; and the few plans
 * kept per model keep its memory flat across many batch sizes.
 */
class InferencePlanTest {
    private static final Backend CPU = Device.cpu().backend();

    /** Moving statistics and gammas away from their initial 0/1, as after training. */
    private static void perturbStatistics(Parameters p, long seed) {
        Random r = new Random(seed);
        for (Parameters.Slot s : p.slots()) {
            String name = s.spec().name();
            if (name.startsWith("moving_") || name.equals("gamma") || name.equals("beta")) {
                float[] v = new float[s.spec().size()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = name.equals("moving_variance") || name.equals("gamma") ? 0.5f + r.nextFloat()
                            : (float) r.nextGaussian();
                }
                CPU.copyIn(v, 0, s.value());
            }
        }
        p.changed();
    }

    private static float[] run(ExecutionPlan plan, float[] x) {
        CPU.copyIn(x, 0, plan.input(0));
        plan.forward(0);
        Tensor out = plan.output(0);
        float[] y = new float[(int) out.size()];
        CPU.copyOut(out, y, 0);
        return y;
    }

    @Test
    void foldedBatchNormGivesTheUnfoldedOutputs() {
        Input in = Input.shape(9, 9, 3);
        SymbolicTensor x = new Conv2D(8, 3).padding(Padding.SAME).useBias(false).apply(in);
        x = new ReLU(6f, 0f).apply(new BatchNormalization().apply(x));
        x = new DepthwiseConv2D(3).strides(2).apply(x);
        x = new BatchNormalization().epsilon(1e-5).apply(x);
        x = new Conv2D(5, 1, Activation.RELU).apply(x); // an activated layer: nothing to fold into it
        x = new BatchNormalization().apply(x);
        SymbolicTensor out = new Dense(4).apply(new GlobalAveragePooling2D().apply(x));
        Graph graph = new Graph(List.of(in), List.of(out));
        try (Network network = new Network(graph, CPU)) {
            network.parameters().initialize(3);
            perturbStatistics(network.parameters(), 4);
            float[] input = new float[6 * 9 * 9 * 3];
            Random r = new Random(5);
            for (int i = 0; i < input.length; i++) {
                input[i] = (float) r.nextGaussian();
            }
            try (ExecutionPlan folded = new ExecutionPlan(graph, network.parameters(), CPU, 6, false, false, true);
                 ExecutionPlan plain = new ExecutionPlan(graph, network.parameters(), CPU, 6, false, false, false)) {
                assertEquals(2, folded.folds(), "conv+BN+ReLU6 and depthwise+BN fold; BN after an activation does not");
                assertClose("folded vs unfolded", run(plain, input), run(folded, input), 1e-5);
                perturbStatistics(network.parameters(), 9); // new weights: the fold must follow them
                assertClose("after the weights changed", run(plain, input), run(folded, input), 1e-5);
            }
        }
    }

    @Test
    void activationLayersRunInsideTheLayerBeforeThem() {
        Input in = Input.shape(6, 6, 3);
        SymbolicTensor x = new dev.osprey.layers.LeakyReLU(0.1f).apply(new Conv2D(4, 3).apply(in));
        x = new ReLU().apply(new BatchNormalization().apply(new Conv2D(4, 3).useBias(false).apply(x)));
        SymbolicTensor branch = new ReLU().apply(x); // read by two: stays a layer of its own
        SymbolicTensor out = new Dense(2).apply(new GlobalAveragePooling2D().apply(
                new dev.osprey.layers.Add().apply(branch, x)));
        Graph graph = new Graph(List.of(in), List.of(out));
        try (Network network = new Network(graph, CPU);
             ExecutionPlan training = new ExecutionPlan(graph, network.parameters(), CPU, 2, true, false);
             ExecutionPlan inference = new ExecutionPlan(graph, network.parameters(), CPU, 2, false, false)) {
            assertEquals(2, training.absorbedActivations(), "the conv takes the LeakyReLU, batch norm the ReLU");
            assertEquals(1, inference.absorbedActivations(), "inference folds conv + batch norm + ReLU instead");
            assertEquals(1, inference.folds());
        }
    }

    @Test
    void convolutionsPadTheirInputThemselves() {
        Model mobile = Models.mobileNetV2(1.0, Shape.of(32, 32, 3), 10); // stride-2 convolutions after ZeroPadding2D
        Graph graph = new Graph(mobile.inputs(), mobile.outputs());
        try (Network network = new Network(graph, CPU);
             ExecutionPlan training = new ExecutionPlan(graph, network.parameters(), CPU, 2, true, true)) {
            long paddings = graph.nodes().stream().filter(n -> n.layer() instanceof dev.osprey.layers.ZeroPadding2D)
                    .count();
            assertTrue(paddings >= 5, "MobileNetV2 pads before its strided convolutions");
            assertEquals(paddings, training.absorbedPaddings());
        }
    }

    @Test
    void inferencePlansReuseOutputMemory() {
        Model model = Models.resNet(20, Shape.of(32, 32, 3), 10);
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU);
             ExecutionPlan training = new ExecutionPlan(graph, network.parameters(), CPU, 16, true, true);
             ExecutionPlan inference = new ExecutionPlan(graph, network.parameters(), CPU, 16, false, true)) {
            long image = 16L * 32 * 32 * 16 * Float.BYTES; // one full-resolution activation of the batch
            long activations = inference.bytes() - inference.preparedWeightBytes();
            assertTrue(activations < 6 * image, "inference holds a few activations: " + activations
                    + " bytes, against " + image + " per activation");
            // weights in the inference ops' layouts: at most a Winograd F(4x4, 3x3) transform's 4x the parameters
            long parameters = model.countParams() * Float.BYTES;
            assertTrue(inference.preparedWeightBytes() <= 4 * parameters, "prepared weights: "
                    + inference.preparedWeightBytes() + " bytes, against " + parameters + " of parameters");
            // training keeps every activation (its input gradients share one arena: GradientArenaTest)
            assertTrue(training.bytes() > 6 * activations, "training keeps every activation: " + training.bytes()
                    + " against inference's " + activations);
        }
    }
}
