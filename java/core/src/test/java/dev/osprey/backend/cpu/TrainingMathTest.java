package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import java.util.Collections;
import java.util.Random;
import org.bytedeco.dnnl.global.dnnl;
import org.junit.jupiter.api.Test;

/**
 * Mixed precision on the CPU: a training op whose spec's math is bf16 reads bf16 operands where the CPU has bf16
 * kernels, and lets every oneDNN primitive it makes (forward, backward-data, backward-weights) round to bf16; an fp32
 * one does neither. Either way the results agree within bf16's rounding (on a CPU without bf16 kernels, exactly).
 */
class TrainingMathTest {
    private static final Conv2dSpec CONV = new Conv2dSpec(4, 9, 9, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true,
            Activation.RELU);
    private static final DenseSpec DENSE = new DenseSpec(4, 40, 12, Activation.LINEAR);
    /** Pointwise and wide: folded forward and backward-data, and (fp32, up to 32 threads) a matrix-product filter
     *  gradient; in bf16 on a bf16 CPU, bf16 copies of folded tensors read by an unfolded backward-weights. */
    private static final Conv2dSpec POINTWISE = new Conv2dSpec(2, 3, 3, 128, 1024, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1,
            true, Activation.LINEAR);

    static java.util.stream.Stream<Conv2dSpec> convolutions() {
        return java.util.stream.Stream.of(CONV, POINTWISE);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("convolutions")
    void bf16ConvolutionsAllowBf16InEveryPrimitiveAndAgreeWithFp32(Conv2dSpec spec) {
        float[][] fp32 = convolve(spec, dnnl.fpmath_mode.strict);
        float[][] bf16 = convolve(spec.withMath(Precision.BF16), dnnl.fpmath_mode.bf16);
        for (int i = 0; i < fp32.length; i++) {
            assertClose(fp32[i], bf16[i], "conv output " + i + " of " + spec);
        }
    }

    @Test
    void bf16DenseLayersAllowBf16InEveryPrimitiveAndAgreeWithFp32() {
        float[][] fp32 = dense(DENSE, dnnl.fpmath_mode.strict);
        float[][] bf16 = dense(DENSE.withMath(Precision.BF16), dnnl.fpmath_mode.bf16);
        for (int i = 0; i < fp32.length; i++) {
            assertClose(fp32[i], bf16[i], "dense output " + i);
        }
    }

    @Test
    void trainingMathIsFp32OrBf16AndBf16NeedsTheSameKernelsAsBf16Inference() {
        try (CpuBackend cpu = new CpuBackend()) {
            assertNull(cpu.trainingUnavailable(Precision.FP32));
            assertEquals(cpu.unavailable(Precision.BF16), cpu.trainingUnavailable(Precision.BF16));
            assertTrue(cpu.trainingUnavailable(Precision.INT8).contains("int8 is for inference only"));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DENSE.withMath(Precision.INT8));
        assertTrue(e.getMessage().contains("expected training math fp32, bf16 or fp16, received int8"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CONV.withMath(Precision.INT8));
    }

    /**
     * Both backward directions in one call (ConvPlan.backward: dy converted to bf16 once, for the filter gradient and
     * backward-data) give the bits of the two separate calls, each converting dy itself: on a CPU with bf16 kernels, a
     * 3x3 convolution and a depthwise one (whose filter gradient Osprey takes in fp32), and in fp32 (nothing to share).
     */
    @Test
    void bothBackwardDirectionsInOneCallGiveTheSeparateCallsBits() {
        Conv2dSpec depthwise = new Conv2dSpec(4, 9, 9, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8, true, Activation.RELU);
        for (Conv2dSpec spec : new Conv2dSpec[] {CONV.withMath(Precision.BF16), depthwise.withMath(Precision.BF16),
                CONV}) {
            float[][] separate = backward(spec, false);
            float[][] together = backward(spec, true);
            for (int i = 0; i < separate.length; i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(separate[i], together[i],
                        spec + ": " + new String[] {"dx", "dKernel", "dBias"}[i]);
            }
        }
    }

    /**
     * The backend's conv2dBackward with an addend (a block input's other gradient) gives the bits of the separate calls
     * and an add, in bf16 (one shared conversion of dy) and fp32 (Winograd adds it in its output transform); an addend
     * that is dx itself is refused before anything is written.
     */
    @Test
    void theBackendsOneCallBackwardAddsTheAddendAsTheSeparateCallsDo() {
        try (CpuBackend backend = new CpuBackend()) {
            for (Conv2dSpec spec : new Conv2dSpec[] {CONV.withMath(Precision.BF16), CONV}) {
                float[][] separate = backendBackward(backend, spec, false);
                float[][] together = backendBackward(backend, spec, true);
                for (int i = 0; i < separate.length; i++) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(separate[i], together[i],
                            spec + ": " + new String[] {"dx", "dKernel", "dBias"}[i]);
                }
                try (CpuTensor x = random(spec.inputShape(), 1); CpuTensor kernel = random(spec.kernelShape(), 2);
                     CpuTensor dy = random(spec.outputShape(), 4); CpuTensor dx = random(spec.inputShape(), 5);
                     CpuTensor dKernel = zeros(spec.kernelShape());
                     CpuTensor dBias = zeros(new int[] {spec.filters()})) {
                    assertThrows(IllegalArgumentException.class, () -> backend.conv2dBackward(spec, x, dy, kernel,
                            dKernel, dBias, dx, dx));
                    for (float v : read(dKernel)) {
                        assertEquals(0f, v, spec + ": the refused call wrote the filter gradient");
                    }
                }
            }
        }
    }

    /** {dx, dKernel, dBias} through the backend, with an addend: one conv2dBackward call, or the separate ones. */
    private static float[][] backendBackward(CpuBackend backend, Conv2dSpec spec, boolean oneCall) {
        try (CpuTensor x = random(spec.inputShape(), 1); CpuTensor kernel = random(spec.kernelShape(), 2);
             CpuTensor dy = random(spec.outputShape(), 4); CpuTensor addend = random(spec.inputShape(), 5);
             CpuTensor dx = zeros(spec.inputShape()); CpuTensor dKernel = zeros(spec.kernelShape());
             CpuTensor dBias = zeros(new int[] {spec.filters()})) {
            if (oneCall) {
                backend.conv2dBackward(spec, x, dy, kernel, dKernel, dBias, addend, dx);
            } else {
                backend.conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
                backend.conv2dBackwardData(spec, dy, kernel, dx);
                backend.add(dx, addend, dx);
            }
            return new float[][] {read(dx), read(dKernel), read(dBias)};
        }
    }

    /** {dx, dKernel, dBias} after a forward pass, from the two separate calls or from one. */
    private static float[][] backward(Conv2dSpec spec, boolean oneCall) {
        float[][] all = convolve(spec, null, oneCall);
        return new float[][] {all[1], all[2], all[3]};
    }

    /** {y, dx, dKernel, dBias} of one forward and backward pass; checks the primitives' fpmath modes. */
    private static float[][] convolve(Conv2dSpec spec, dnnl.fpmath_mode mode) {
        return convolve(spec, mode, false);
    }

    /**
     * {y, dx, dKernel, dBias} of one forward and backward pass, the backward directions in one plan call or two; checks
     * the primitives' fpmath modes where mode is not null.
     */
    private static float[][] convolve(Conv2dSpec spec, dnnl.fpmath_mode mode, boolean oneCall) {
        try (DnnlContext context = new DnnlContext(); ConvPlan plan = new ConvPlan(context, spec, PreferredKernels.ALL);
             CpuTensor x = random(spec.inputShape(), 1); CpuTensor kernel = random(spec.kernelShape(), 2);
             CpuTensor bias = random(new int[] {spec.filters()}, 3); CpuTensor y = zeros(spec.outputShape());
             CpuTensor dy = random(spec.outputShape(), 4); CpuTensor dx = zeros(spec.inputShape());
             CpuTensor dKernel = zeros(spec.kernelShape()); CpuTensor dBias = zeros(new int[] {spec.filters()})) {
            plan.forward(x, kernel, bias, y);
            if (oneCall) {
                plan.backward(x, dy, kernel, dKernel, dBias, dx);
            } else {
                plan.backwardData(dy, kernel, dx);
                plan.backwardFilter(x, dy, dKernel, dBias);
            }
            if (mode != null) {
                assertEquals(Collections.nCopies(3, mode), plan.mathModes(), spec.toString());
                assertEquals(spec.math() == Precision.BF16 && context.bf16Kernels, plan.readsBf16(), spec.toString());
            }
            return new float[][] {read(y), read(dx), read(dKernel), read(dBias)};
        }
    }

    private static float[][] dense(DenseSpec spec, dnnl.fpmath_mode mode) {
        try (DnnlContext context = new DnnlContext(); DensePlan plan = new DensePlan(context, spec);
             CpuTensor x = random(spec.inputShape(), 1); CpuTensor kernel = random(spec.kernelShape(), 2);
             CpuTensor bias = random(new int[] {spec.units()}, 3); CpuTensor y = zeros(spec.outputShape());
             CpuTensor dy = random(spec.outputShape(), 4); CpuTensor dx = zeros(spec.inputShape());
             CpuTensor dKernel = zeros(spec.kernelShape()); CpuTensor dBias = zeros(new int[] {spec.units()})) {
            plan.forward(x, kernel, bias, y);
            plan.backwardData(dy, kernel, dx);
            plan.backwardWeights(x, dy, dKernel, dBias);
            assertEquals(Collections.nCopies(3, mode), plan.mathModes(), spec.toString());
            assertEquals(spec.math() == Precision.BF16 && context.bf16Kernels, plan.readsBf16(), spec.toString());
            return new float[][] {read(y), read(dx), read(dKernel), read(dBias)};
        }
    }

    /** Within bf16's rounding of both operands (8 significant bits each) of the largest magnitude, summed. */
    private static void assertClose(float[] expected, float[] actual, String what) {
        double largest = 0;
        for (float v : expected) {
            largest = Math.max(largest, Math.abs(v));
        }
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= 2e-2 * largest, what + "[" + i + "]: fp32 " + expected[i]
                    + ", bf16 " + actual[i] + " (largest " + largest + ")");
        }
    }

    private static CpuTensor random(int[] shape, long seed) {
        CpuTensor t = CpuTensor.allocate(shape);
        Random r = new Random(seed);
        java.nio.FloatBuffer b = t.buffer();
        for (int i = 0; i < t.size(); i++) {
            b.put(i, (float) r.nextGaussian());
        }
        return t;
    }

    private static CpuTensor zeros(int[] shape) {
        CpuTensor t = CpuTensor.allocate(shape);
        java.nio.FloatBuffer b = t.buffer();
        for (int i = 0; i < t.size(); i++) {
            b.put(i, 0f);
        }
        return t;
    }

    private static float[] read(CpuTensor t) {
        float[] out = new float[(int) t.size()];
        t.buffer().get(0, out);
        return out;
    }
}
