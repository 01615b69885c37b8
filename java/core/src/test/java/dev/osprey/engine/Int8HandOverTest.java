package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Precision;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.InputRange;
import dev.osprey.layers.Add;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.MaxPooling2D;
import java.util.List;
import java.util.Map;
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
    private static final Activation.Kind LOGITS = Activation.Kind.SOFTMAX; // left out

    /**
     * Logits with hand-overs (of residuals too, or not) against without; returns [hand-overs, residual ones, max
     * poolings run inside the convolution before them].
     */
    private static int[] compare(String name, Model model, Shape input, boolean residuals, double tolerance) {
        Graph graph = new Graph(model.inputs(), model.outputs());
        try (Network network = new Network(graph, CPU)) {
            org.junit.jupiter.api.Assumptions.assumeTrue(CPU.unavailable(Precision.INT8) == null,
                    () -> CPU.unavailable(Precision.INT8));
            OptimizedInferenceTest.randomize(network.parameters(), 1);
            int batch = 4;
            Map<String, InputRange> ranges = Calibration.inputRanges(network,
                    new NDArray(OptimizedInferenceTest.images(64, input, 1), input.withBatch(64)), 32);
            float[] x = OptimizedInferenceTest.images(batch, input, 2);
            try (ExecutionPlan handing = new ExecutionPlan(graph, network.parameters(), CPU, batch, LOGITS, ranges,
                    true, residuals);
                 ExecutionPlan converting = new ExecutionPlan(graph, network.parameters(), CPU, batch, LOGITS,
                         ranges, false, false)) {
                assertEquals(0, converting.int8HandOvers());
                float[] expected = OptimizedInferenceTest.run(converting, x);
                float[] actual = OptimizedInferenceTest.run(handing, x);
                float largest = 1e-6f;
                for (float v : expected) {
                    largest = Math.max(largest, Math.abs(v));
                }
                double worst = 0;
                for (int i = 0; i < expected.length; i++) {
                    worst = Math.max(worst, Math.abs(expected[i] - actual[i]) / largest);
                }
                assertTrue(worst <= tolerance, name + ": logits with 8-bit hand-overs differ from converting fp32 "
                        + "ones by " + worst + " of the largest");
                if (!residuals) {
                    assertEquals(0, handing.int8ResidualHandOvers(), name + ": residuals were not to be handed over");
                }
                assertEquals(converting.maxPoolFusions(), handing.maxPoolFusions(), name + ": the same poolings fused");
                return new int[] {handing.int8HandOvers(), handing.int8ResidualHandOvers(), handing.maxPoolFusions()};
            }
        }
    }

    /** compare's [hand-overs, residual ones]. */
    private static int[] handOvers(String name, Model model, Shape input, boolean residuals, double tolerance) {
        return java.util.Arrays.copyOf(compare(name, model, input, residuals, tolerance), 2);
    }

    /**
     * Without residual hand-overs: the same sums rounded the same way, equal bits on AVX2; 1e-4 leaves room for
     * another ISA's kernels, against 0.12 when the hand-over's scale is 2% off.
     */
    private static int exact(String name, Model model, Shape input) {
        return compare(name, model, input, false, 1e-4)[0];
    }

    /** Conv2D(4, 3, same, relu) on x. */
    private static SymbolicTensor conv(SymbolicTensor x) {
        return new Conv2D(4, 3, Activation.RELU).padding(Padding.SAME).apply(x);
    }

    private static Model withHead(Input in, SymbolicTensor features, SymbolicTensor... moreOutputs) {
        SymbolicTensor logits = new Dense(3).apply(new GlobalAveragePooling2D().apply(features));
        List<SymbolicTensor> outputs = new java.util.ArrayList<>(List.of(logits));
        outputs.addAll(List.of(moreOutputs));
        return new Model(List.of(in), outputs);
    }

    /**
     * Where a reader is not an int8 convolution (a sum, a model output) the tensor stays fp32, and the convolutions
     * after it still hand over among themselves; a max pooling with 'same' padding passes 8 bits through exactly.
     */
    @Test
    void onlyTensorsThatEveryReaderTakesInEightBitsAreHandedOver() {
        Shape shape = Shape.of(9, 9, 3);
        Input in = Input.shape(9, 9, 3);
        SymbolicTensor a = conv(in);
        SymbolicTensor b = new Conv2D(4, 3).padding(Padding.SAME).apply(a);
        SymbolicTensor sum = new Add().apply(a, b); // a is read by b and by the sum: fp32
        assertEquals(1, exact("a convolution read by a sum", withHead(in, conv(sum)), shape),
                "only b, which adds the sum itself, hands over (to the last convolution)");

        Input in2 = Input.shape(9, 9, 3);
        SymbolicTensor shown = conv(in2);          // a model output as well: fp32
        SymbolicTensor c = conv(conv(shown));      // conv to conv: one hand-over
        assertEquals(1, exact("a convolution that is a model output", withHead(in2, c, shown), shape));

        Input in3 = Input.shape(9, 9, 3);
        SymbolicTensor pooled = new MaxPooling2D(3).strides(2).padding(Padding.SAME).apply(conv(in3));
        assertEquals(1, exact("through a padded max pooling", withHead(in3, conv(pooled)), shape));
    }

    @Test
    void convolutionsInARowHandOverEightBitActivationsAndGiveTheSameLogits() {
        Shape small = Shape.of(32, 32, 3);
        assertEquals(11, exact("resnet20", Models.resNet(20, small, 10), small),
                "each of ResNet-20's 9 blocks' first convolution hands over to its second, and the 2 blocks before a "
                        + "downsampling hand over to its first convolution and its 1x1 projection shortcut");
        assertEquals(41, exact("mobilenetv2", Models.mobileNetV2(0.35, small, 10), small),
                "MobileNetV2: 16 expansions to their depthwise convolutions, 17 of those to their projections, the 7 "
                        + "projections whose output only the next block's expansion (or the last 1x1 convolution) reads "
                        + "(5 of them adding a residual themselves), the stem to the first depthwise convolution");
        Shape image = Shape.of(28, 28, 1);
        int[] tutorial = compare("tutorial", Models.tutorialCnn(image, 10), image, false, 1e-4);
        assertEquals(2, tutorial[0], "the tutorial's first convolution hands its pooled map over in 8 bits, whether it "
                + "runs in int8 or in fp32 with its max pooling (where the backend keeps them so: 1 input channel); the "
                + "second hands over through its pooling (run inside it or not); the third's output goes to Flatten "
                + "and Dense in fp32");
        // the poolings run inside the convolutions before them where the backend runs such pairs in int8 (or keeps the
        // first in fp32)
        InputRange range = new InputRange(0f, 1f);
        dev.osprey.backend.Conv2dSpec first = new dev.osprey.backend.Conv2dSpec(4, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0,
                0, 0, 1, 1, 1, true, Activation.RELU);
        dev.osprey.backend.Conv2dSpec second = new dev.osprey.backend.Conv2dSpec(4, 13, 13, 32, 64, 3, 3, 1, 1, 0, 0,
                0, 0, 1, 1, 1, true, Activation.RELU);
        dev.osprey.backend.Pool2dSpec firstPool = new dev.osprey.backend.Pool2dSpec(
                dev.osprey.backend.Pool2dSpec.Mode.MAX, 4, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0);
        dev.osprey.backend.Pool2dSpec secondPool = new dev.osprey.backend.Pool2dSpec(
                dev.osprey.backend.Pool2dSpec.Mode.MAX, 4, 11, 11, 64, 2, 2, 2, 2, 0, 0, 0, 0);
        int fused = (CPU.fusesMaxPoolInInt8(first, firstPool, range)
                || CPU.fusesMaxPool(first, firstPool) && CPU.keepsFp32InInt8(first, firstPool) ? 1 : 0)
                + (CPU.fusesMaxPoolInInt8(second, secondPool, range) ? 1 : 0);
        assertEquals(fused, tutorial[2], "the tutorial's poolings run inside their convolutions in int8");
    }

    /**
     * With residual hand-overs a ResNet's block outputs stay 8-bit: the convolution that adds one reads it in 8 bits
     * (its producer wrote them for the next block's first convolution anyway). The residual is then rounded to the
     * 8-bit grid where fp32 hand-overs add it exactly, so the logits move by that rounding, not more.
     */
    @Test
    void residualsHandedOverInEightBitsMoveTheLogitsByTheirRoundingOnly() {
        Shape small = Shape.of(32, 32, 3);
        // measured: 0.008 of the largest logit on ResNet-20, 0.012 on MobileNetV2; a residual taken into its units
        // at a step 3% off moved ResNet-20's by 0.11
        int[] resnet = compare("resnet20", Models.resNet(20, small, 10), small, true, 0.03);
        assertEquals(18, resnet[0], "ResNet-20: the 11 hand-overs without residuals, the stem and the 6 block outputs "
                + "that only the next block's first convolution and sum read");
        assertEquals(7, resnet[1], "the 7 blocks with an identity shortcut add their residual in 8 bits; the 2 with a "
                + "1x1 projection add its fp32 output");
        int[] mobile = compare("mobilenetv2", Models.mobileNetV2(0.35, small, 10), small, true, 0.03);
        assertEquals(51, mobile[0], "MobileNetV2: the 41 without residuals and 10 projections' outputs that the next "
                + "block's expansion and sum read");
        assertEquals(10, mobile[1], "every block with a residual adds it in 8 bits");
    }

    /**
     * With residuals: a tensor read by a convolution and by the sum that convolution adds itself goes over in 8 bits;
     * it stays fp32 when the activation after the sum has a cap (ReLU6 does not commute with scaling), or when the
     * only convolutions reading it do so through a max pooling (whose output's range would not be the tensor's).
     */
    @Test
    void residualsAreHandedOverOnlyWhereTheirOwnRangeIsKnownAndTheActivationAllows() {
        Shape shape = Shape.of(9, 9, 3);
        Input in = Input.shape(9, 9, 3);
        SymbolicTensor a = conv(in);
        SymbolicTensor sum = new Add().apply(a, new Conv2D(4, 3).padding(Padding.SAME).apply(a));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {2, 1},
                handOvers("a convolution read by the sum the next one adds", withHead(in, conv(sum)), shape, true,
                        0.03), "a goes over to b and to b's sum; b to the last convolution");

        Input in2 = Input.shape(9, 9, 3);
        SymbolicTensor a2 = conv(in2);
        SymbolicTensor capped = new dev.osprey.layers.ReLU(6f, 0f).apply(
                new Add().apply(a2, new Conv2D(4, 3).padding(Padding.SAME).apply(a2)));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {1, 0},
                handOvers("a sum with ReLU6 after it", withHead(in2, conv(capped)), shape, true, 1e-4),
                "only the adding convolution hands over (to the last one); its residual stays fp32");

        Input in3 = Input.shape(9, 9, 3);
        SymbolicTensor t = conv(in3);
        SymbolicTensor pooled = new MaxPooling2D(3).strides(1).padding(Padding.SAME).apply(t);
        SymbolicTensor added = new Add().apply(t, new Conv2D(4, 3).padding(Padding.SAME).apply(pooled));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {1, 0},
                handOvers("a residual whose convolution reads it through a max pooling", withHead(in3, conv(added)),
                        shape, true, 1e-4), "t stays fp32; the adding convolution hands over to the last one");
    }
}
