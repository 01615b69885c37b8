package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.InputRange;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Osprey's int8 3x3 convolution to 16 channels (native/cpu/conv_pool8.c, {@link Int8ConvPlan}) against oneDNN's int8
 * convolution of the same op, the plan it replaces: inputs of 16 channels in 8 bits and stems of 1, 3 and 4 channels
 * (fp32 images or 8 bits), signed and unsigned, residuals none, fp32 and 8-bit,
 * outputs fp32 and 8-bit, odd map sizes (a last output row alone, a last block of pixels part-filled), padding of 0 or
 * 1 on each side, on the backend's team and on teams of 1 and 3.
 */
class Int8ConvPlanTest {
    private static CpuBackend backend;

    @BeforeAll
    static void kernelAvailable() {
        NativeKernels.requireInt8Conv3x3();
        backend = new CpuBackend();
        context = new DnnlContext();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
        if (context != null) {
            context.close();
        }
    }

    /** The scratchpad of the plans made here on teams of their own. */
    private static DnnlContext context;

    private static Conv2dSpec conv(int batch, int h, int w, int[] pad, boolean bias, Activation a) {
        return conv(batch, h, w, 16, pad, bias, a);
    }

    private static Conv2dSpec conv(int batch, int h, int w, int channels, int[] pad, boolean bias, Activation a) {
        return new Conv2dSpec(batch, h, w, channels, 16, 3, 3, 1, 1, pad[0], pad[1], pad[2], pad[3], 1, 1, 1, bias,
                a);
    }

    private static final InputRange UNSIGNED = new InputRange(0f, 2f);
    private static final InputRange SIGNED = new InputRange(-1.5f, 2f);

    /** One case: the op and the residual's format (null: none; "f32"; or 8 bits in the op's residual range). */
    private record Case(ConvInference op, String residual) {
    }

    @Test
    void itGivesOneDnnsValuesOnEveryOperandFormat() {
        Case[] cases = {
            // a ResNet's first stage: 8 bits in, an 8-bit residual, 8 bits out; and a block's first, without one
            new Case(new ConvInference(conv(2, 9, 13, new int[] {1, 1, 1, 1}, true, Activation.RELU), false,
                    Precision.INT8, UNSIGNED, true, UNSIGNED), null),
            new Case(new ConvInference(conv(2, 32, 32, new int[] {1, 1, 1, 1}, true, Activation.RELU), true,
                    Precision.INT8, UNSIGNED, true, UNSIGNED).withResidualRange(new InputRange(0f, 3f)), "8"),
            // odd rows and columns (a row alone, a block of 5 pixels), signed input, fp32 residual, signed output
            new Case(new ConvInference(conv(2, 9, 13, new int[] {1, 1, 1, 1}, false, Activation.LINEAR), true,
                    Precision.INT8, SIGNED, true, new InputRange(-4f, 4f)), "f32"),
            // no padding, no residual, fp32 output, a capped leaky ReLU
            new Case(new ConvInference(conv(3, 7, 11, new int[] {0, 0, 0, 0}, true, Activation.relu(6f, 0.1f)),
                    false, Precision.INT8, UNSIGNED, true, null), null),
            // uneven padding, a signed 8-bit residual, signed input, unsigned output
            new Case(new ConvInference(conv(1, 10, 17, new int[] {1, 0, 0, 1}, true, Activation.RELU), true,
                    Precision.INT8, SIGNED, true, new InputRange(0f, 4f))
                    .withResidualRange(new InputRange(-2f, 2f)), "8"),
            // a ReLU before a signed output: rectified, not only clamped
            new Case(new ConvInference(conv(1, 8, 8, new int[] {1, 1, 1, 1}, true, Activation.RELU), false,
                    Precision.INT8, UNSIGNED, true, new InputRange(-3f, 3f)), null),
            // stems: fp32 images of 3 channels (a row of 9 bytes in 3 groups, the last one's fourth byte weighing 0),
            // signed and unsigned, mapped onto 8 bits as they are copied; 1 and 4 channels; 8 bits handed over
            new Case(new ConvInference(conv(2, 11, 10, 3, new int[] {1, 1, 1, 1}, true, Activation.RELU), false,
                    Precision.INT8, SIGNED, false, UNSIGNED), null),
            new Case(new ConvInference(conv(1, 9, 9, 3, new int[] {0, 1, 1, 0}, false, Activation.LINEAR), false,
                    Precision.INT8, UNSIGNED, false, null), null),
            new Case(new ConvInference(conv(2, 7, 12, 1, new int[] {1, 1, 1, 1}, true, Activation.RELU), false,
                    Precision.INT8, UNSIGNED, false, new InputRange(-2f, 2f)), null),
            new Case(new ConvInference(conv(1, 6, 10, 2, new int[] {1, 1, 1, 1}, false, Activation.RELU), false,
                    Precision.INT8, SIGNED, false, UNSIGNED), null), // 2 groups a row, the second half-filled
            new Case(new ConvInference(conv(1, 8, 9, 4, new int[] {1, 1, 1, 1}, true, Activation.RELU), true,
                    Precision.INT8, SIGNED, true, UNSIGNED).withResidualRange(new InputRange(0f, 3f)), "8"),
            // no activation into an unsigned output, whole blocks of 8 (the four-output store): clamped at 0 all the
            // same
            new Case(new ConvInference(conv(2, 6, 16, new int[] {1, 1, 1, 1}, true, Activation.LINEAR), true,
                    Precision.INT8, UNSIGNED, true, UNSIGNED).withResidualRange(new InputRange(0f, 3f)), "8"),
            // an output step so small that values pass 2^31 steps before the store: 255, never wrapped to 0
            new Case(new ConvInference(conv(1, 4, 16, new int[] {1, 1, 1, 1}, true, Activation.RELU), false,
                    Precision.INT8, UNSIGNED, true, new InputRange(0f, 1e-8f)), null),
        };
        for (Case c : cases) {
            ConvInference op = c.op();
            Conv2dSpec s = op.spec();
            assertTrue(Int8ConvPlan.fits(op), op.toString());
            Random r = new Random(s.toString().hashCode());
            int inputs = s.batch() * s.inH() * s.inW() * s.inC();
            byte[] x = null;
            float[] images = null;
            if (op.quantizedInput()) {
                x = new byte[inputs];
                r.nextBytes(x);
            } else { // past the range at both ends now and then: saturated
                images = new float[inputs];
                for (int j = 0; j < inputs; j++) {
                    images[j] = op.inputRange().unsigned() ? r.nextFloat() * 2.2f : r.nextFloat() * 3.4f - 1.7f;
                }
            }
            float[] k = random(r, 9 * s.inC() * 16);
            for (int j = 0; j < k.length; j++) {
                k[j] /= s.inC() < 16 ? 3 : 12; // sums within the output ranges, mostly
            }
            float[] b = s.hasBias() ? random(r, 16) : null;
            int outputs = s.batch() * s.outH() * s.outW() * 16;
            float[] fp32Residual = null;
            byte[] byteResidual = null;
            if ("f32".equals(c.residual())) {
                fp32Residual = random(r, outputs);
            } else if (c.residual() != null) {
                byteResidual = new byte[outputs];
                r.nextBytes(byteResidual);
            }
            float[] expected = run(backend.convInference(op), op, x, images, k, b, fp32Residual, byteResidual);
            InferenceConv chosen = backend.inferenceConv(op);
            assertEquals("osprey_conv3x3_int8:avx512_core_vnni", chosen.implementation(), op.toString());
            for (int team : new int[] {0, 1, 3}) {
                Int8ConvPlan own = team == 0 ? null : OpenMpTeam.sized(team, () -> new Int8ConvPlan(context, op));
                try {
                    float[] actual = run(own == null ? chosen : own, op, x, images, k, b, fp32Residual,
                            byteResidual);
                    String what = op + " on " + (team == 0 ? "the backend's team" : team + " threads");
                    if (op.quantizedOutput()) {
                        assertSteps(what, expected, actual);
                    } else {
                        assertClose(what, expected, actual, 1e-5);
                    }
                } finally {
                    if (own != null) {
                        own.close();
                    }
                }
            }
        }
    }

    /**
     * 8-bit outputs: each within one step of oneDNN's (the float sums of scale, bias and residual may round apart on
     * a tie), and nearly all equal.
     */
    private static void assertSteps(String what, float[] expected, float[] actual) {
        int apart = 0;
        for (int i = 0; i < expected.length; i++) {
            float d = Math.abs(expected[i] - actual[i]);
            assertTrue(d <= 1, what + ": [" + i + "] expected " + expected[i] + ", received " + actual[i]);
            apart += d == 0 ? 0 : 1;
        }
        assertTrue(apart <= expected.length / 200, what + ": " + apart + " of " + expected.length
                + " outputs a step apart from oneDNN's");
    }

    /** Floats past the output that the kernel must leave as they are (odd rows and part-filled blocks end there). */
    private static final int TAIL = 64;
    private static final float SENTINEL = -12345f;

    /**
     * The op through plan on x (8-bit values) or images (fp32), with the residual given (or none); outputs as floats
     * (8-bit: steps). Fails where the plan writes past the output.
     */
    private static float[] run(InferenceConv plan, ConvInference op, byte[] x, float[] images, float[] k, float[] b,
                               float[] fp32Residual, byte[] byteResidual) {
        Conv2dSpec s = op.spec();
        int outputs = s.batch() * s.outH() * s.outW() * 16;
        try (CpuTensor tx = x != null ? CpuTensor.allocate(new int[] {(x.length + 3) / 4})
                : tensor(images, images.length);
             CpuTensor tk = tensor(k, s.kernelShape());
             CpuTensor prepared = CpuTensor.allocate(new int[] {Math.toIntExact(Math.max(1, plan.preparedFloats()))});
             CpuTensor tb = b == null ? null : tensor(b, b.length);
             CpuTensor residual = fp32Residual != null ? tensor(fp32Residual, outputs)
                     : byteResidual != null ? CpuTensor.allocate(new int[] {(outputs + 3) / 4}) : null;
             CpuTensor y = CpuTensor.allocate(new int[] {outputs + TAIL})) {
            for (int j = 0; j < outputs + TAIL; j++) {
                y.buffer().put(j, SENTINEL);
            }
            if (x != null) {
                new org.bytedeco.javacpp.BytePointer(tx.pointer()).put(x, 0, x.length);
            }
            if (byteResidual != null) {
                new org.bytedeco.javacpp.BytePointer(residual.pointer()).put(byteResidual, 0, outputs);
            }
            plan.prepare(tk, prepared);
            plan.forward(tx, prepared, tb, residual, y);
            int bytes = op.quantizedOutput() ? outputs : outputs * Float.BYTES; // the output's end, in bytes
            byte[] after = new byte[(outputs + TAIL) * Float.BYTES - bytes];
            new org.bytedeco.javacpp.BytePointer(y.pointer()).position(bytes).get(after, 0, after.length);
            int sentinelBits = Float.floatToRawIntBits(SENTINEL);
            for (int j = 0; j < after.length; j++) {
                int at = bytes + j; // each byte of the tail as the sentinel float laid it down (little-endian)
                byte expected = (byte) (sentinelBits >>> (8 * (at % Float.BYTES)));
                assertEquals(expected, after[j], op + ": byte " + j + " past the output was written");
            }
            float[] out = new float[outputs];
            if (!op.quantizedOutput()) {
                y.buffer().get(0, out);
                return out;
            }
            byte[] q = new byte[outputs];
            new org.bytedeco.javacpp.BytePointer(y.pointer()).get(q, 0, outputs);
            for (int j = 0; j < outputs; j++) {
                out[j] = op.outputRange().unsigned() ? q[j] & 0xff : q[j];
            }
            return out;
        }
    }

    @Test
    void itTakesOnlyTheShapesItWasMeasuredOn() {
        Conv2dSpec stage1 = conv(1, 8, 8, new int[] {1, 1, 1, 1}, true, Activation.RELU);
        assertTrue(Int8ConvPlan.fits(new ConvInference(stage1, false, Precision.INT8, UNSIGNED, true, UNSIGNED)));
        assertFalse(Int8ConvPlan.fits(new ConvInference(stage1, false, Precision.INT8, UNSIGNED, false, UNSIGNED)),
                "an fp32 input of 16 channels");
        Conv2dSpec stem = conv(1, 8, 8, 3, new int[] {1, 1, 1, 1}, true, Activation.RELU);
        assertTrue(Int8ConvPlan.fits(new ConvInference(stem, false, Precision.INT8, SIGNED, false, UNSIGNED)),
                "a stem on fp32 images");
        Conv2dSpec eight = conv(1, 8, 8, 8, new int[] {1, 1, 1, 1}, true, Activation.RELU);
        assertFalse(Int8ConvPlan.fits(new ConvInference(eight, false, Precision.INT8, UNSIGNED, true, UNSIGNED)),
                "8 input channels");
        Conv2dSpec wide = new Conv2dSpec(1, 8, 8, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, Activation.RELU);
        assertFalse(Int8ConvPlan.fits(new ConvInference(wide, false, Precision.INT8, UNSIGNED, true, UNSIGNED)),
                "32 channels");
        Conv2dSpec strided = new Conv2dSpec(1, 8, 8, 16, 16, 3, 3, 2, 2, 0, 1, 0, 1, 1, 1, 1, true, Activation.RELU);
        assertFalse(Int8ConvPlan.fits(new ConvInference(strided, false, Precision.INT8, UNSIGNED, true, UNSIGNED)),
                "stride 2");
        Conv2dSpec swish = conv(1, 8, 8, new int[] {1, 1, 1, 1}, true, Activation.SWISH);
        assertFalse(Int8ConvPlan.fits(new ConvInference(swish, false, Precision.INT8, UNSIGNED, true, UNSIGNED)),
                "an activation the kernel does not apply");
        assertThrows(IllegalArgumentException.class, () -> new Int8ConvPlan(context,
                new ConvInference(wide, false, Precision.INT8, UNSIGNED, true, UNSIGNED)));
        String before = System.getProperty(Int8ConvPlan.PROPERTY);
        System.setProperty(Int8ConvPlan.PROPERTY, "onednn");
        try {
            assertFalse(Int8ConvPlan.fits(new ConvInference(stage1, false, Precision.INT8, UNSIGNED, true,
                    UNSIGNED)), "-D" + Int8ConvPlan.PROPERTY + "=onednn");
        } finally {
            if (before == null) {
                System.clearProperty(Int8ConvPlan.PROPERTY);
            } else {
                System.setProperty(Int8ConvPlan.PROPERTY, before);
            }
        }
    }

    private static CpuTensor tensor(float[] values, int... shape) {
        CpuTensor t = CpuTensor.allocate(shape);
        t.buffer().put(0, values);
        return t;
    }
}
