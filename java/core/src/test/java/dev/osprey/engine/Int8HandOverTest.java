package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Precision;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.InputRange;
import dev.osprey.backend.Tensor;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * int8 plans hand 8-bit activations from a convolution to the convolutions that alone read its output (directly or
 * through max poolings, which run on the 8-bit values): the producer writes them mapped by the readers' calibrated
 * range, the readers convert nothing. That must give what converting
 * the fp32 output would (the same rounding of the same sums), on every built-in architecture with convolutions in a
 * row, and happen exactly where every reader is an int8 convolution.
 */
class Int8HandOverTest {
    private static final Backend CPU = Device.cpu().backend();
    private static final dev.osprey.Activation.Kind LOGITS = dev.osprey.Activation.Kind.SOFTMAX; // left out

    private static float[] images(int n, Shape shape, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * shape.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static float[] run(ExecutionPlan plan, float[] x) {
        CPU.copyIn(x, 0, plan.input(0));
        plan.forward(0);
        Tensor out = plan.output(0);
        float[] y = new float[(int) out.size()];
        CPU.copyOut(out, y, 0);
        return y;
    }

    /** Logits with hand-overs against without; returns the plan's hand-over count. */
    private static int compare(String name, Model model, Shape input) {
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU)) {
            org.junit.jupiter.api.Assumptions.assumeTrue(CPU.unavailable(Precision.INT8) == null,
                    () -> CPU.unavailable(Precision.INT8));
            OptimizedInferenceTest.randomize(network.parameters(), 1);
            int batch = 4;
            Map<String, InputRange> ranges = Calibration.inputRanges(network,
                    new NDArray(images(64, input, 1), input.withBatch(64)), 32);
            float[] x = images(batch, input, 2);
            try (ExecutionPlan handing = new ExecutionPlan(graph, network.parameters(), CPU, batch, LOGITS, ranges,
                    true);
                 ExecutionPlan converting = new ExecutionPlan(graph, network.parameters(), CPU, batch, LOGITS,
                         ranges, false)) {
                assertEquals(0, converting.int8HandOvers());
                float[] expected = run(converting, x);
                float[] actual = run(handing, x);
                float largest = 1e-6f;
                for (float v : expected) {
                    largest = Math.max(largest, Math.abs(v));
                }
                double worst = 0;
                for (int i = 0; i < expected.length; i++) {
                    worst = Math.max(worst, Math.abs(expected[i] - actual[i]) / largest);
                }
                // the same sums rounded the same way: equal bits here (AVX2); 1e-4 leaves room for another ISA's
                // kernels, against 0.12 when the hand-over's scale is 2% off
                assertTrue(worst <= 1e-4, name + ": logits with 8-bit hand-overs differ from converting fp32 ones by "
                        + worst + " of the largest");
                return handing.int8HandOvers();
            }
        }
    }

    @Test
    void convolutionsInARowHandOverEightBitActivationsAndGiveTheSameLogits() {
        Shape small = Shape.of(32, 32, 3);
        assertEquals(11, compare("resnet20", Models.resNet(20, small, 10), small),
                "each of ResNet-20's 9 blocks' first convolution hands over to its second, and the 2 blocks before a "
                        + "downsampling hand over to its first convolution and its 1x1 projection shortcut");
        assertEquals(41, compare("mobilenetv2", Models.mobileNetV2(0.35, small, 10), small),
                "MobileNetV2: 16 expansions to their depthwise convolutions, 17 of those to their projections, the 7 "
                        + "projections without a residual sum to the next block (or the last 1x1 convolution), the stem "
                        + "to the first depthwise convolution");
        assertEquals(2, compare("tutorial", Models.tutorialCnn(Shape.of(28, 28, 1), 10), Shape.of(28, 28, 1)),
                "the tutorial's first two convolutions hand over through their max poolings; the third's output goes "
                        + "to Flatten and Dense in fp32");
    }
}
