package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.backend.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A pointwise convolution and the depthwise one after it as one oneDNN primitive: which pairs fuse, and the fused op
 * against the two reference convolutions one after the other.
 */
class DepthwiseFusionTest {
    private static final Backend CPU = Device.cpu().backend();

    private static Conv2dSpec pointwise(int batch, int size, int in, int out, boolean bias, Activation a) {
        return new Conv2dSpec(batch, size, size, in, out, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, bias, a);
    }

    /** 3x3 depthwise, one pixel of padding before and padBottomRight after. */
    private static Conv2dSpec depthwise(int batch, int size, int channels, int stride, int padAfter, boolean bias,
                                        Activation a) {
        return new Conv2dSpec(batch, size, size, channels, channels, 3, 3, stride, stride, 1, 1, padAfter, padAfter, 1,
                1, channels, bias, a);
    }

    @Test
    void pairsFuseWhereThePostOpTakesThemAndTheMapsAreLargeEnough() {
        Activation l = Activation.LINEAR;
        assertTrue(DepthwiseFusion.fits(pointwise(32, 14, 8, 24, true, l), depthwise(32, 14, 24, 1, 1, true, l)));
        assertTrue(DepthwiseFusion.fits(pointwise(1, 112, 16, 96, true, l), depthwise(1, 112, 96, 2, 1, true, l)));
        assertTrue(DepthwiseFusion.fits(pointwise(1, 112, 16, 96, true, l), depthwise(1, 112, 96, 2, 0, true, l)));
        // whether oneDNN then runs the post-op inside its 1x1 kernel depends on the CPU (its L2) and the thread count:
        // the backend asks it, and says no where it would compose the two primitives (no gain); never on misfits
        assertFalse(CPU.fusesDepthwise(pointwise(31, 14, 8, 24, true, l), depthwise(31, 14, 24, 1, 1, true, l)));
        // too few pixels: 7x7 maps; 31 images of 14x14; one image of 56x56
        assertFalse(DepthwiseFusion.fits(pointwise(256, 7, 8, 24, true, l), depthwise(256, 7, 24, 1, 1, true, l)));
        assertFalse(DepthwiseFusion.fits(pointwise(31, 14, 8, 24, true, l), depthwise(31, 14, 24, 1, 1, true, l)));
        assertFalse(DepthwiseFusion.fits(pointwise(1, 56, 8, 24, true, l), depthwise(1, 56, 24, 1, 1, true, l)));
        // shapes the post-op does not take: a 5x5 or dilated depthwise, Keras' (0, 1) padding at stride 2, a
        // multiplier of 2, a strided "pointwise" one, and a pair whose channels do not chain
        Conv2dSpec pw = pointwise(32, 16, 8, 24, true, l);
        assertFalse(DepthwiseFusion.fits(pw, new Conv2dSpec(32, 16, 16, 24, 24, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 24,
                true, l)));
        assertFalse(DepthwiseFusion.fits(pw, new Conv2dSpec(32, 16, 16, 24, 24, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 24,
                true, l)));
        assertFalse(DepthwiseFusion.fits(pw, new Conv2dSpec(32, 16, 16, 24, 24, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 24,
                true, l)));
        assertFalse(DepthwiseFusion.fits(pw, new Conv2dSpec(32, 16, 16, 24, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 24,
                true, l)));
        assertFalse(DepthwiseFusion.fits(new Conv2dSpec(32, 32, 32, 8, 24, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, true, l),
                depthwise(32, 16, 24, 1, 1, true, l)));
        assertFalse(DepthwiseFusion.fits(pw, depthwise(32, 16, 32, 1, 1, true, l)));
    }

    @Test
    void theFusedOpComputesThePointwiseThenTheDepthwiseConvolution() {
        Activation relu6 = Activation.RELU6;
        // MobileNetV2's shapes: stride 1, stride 2 on an even map (one padded row and column at the end unread) and
        // on an odd one (read), with and without biases. The fused primitive computes the same whether oneDNN runs
        // its post-op inside the 1x1 kernel or composes the two (which this CPU and thread count decide)
        Conv2dSpec[][] pairs = {
            {pointwise(32, 14, 24, 144, true, relu6), depthwise(32, 14, 144, 1, 1, true, relu6)},
            {pointwise(1, 112, 16, 96, false, Activation.RELU), depthwise(1, 112, 96, 2, 1, false, Activation.LINEAR)},
            {pointwise(32, 15, 32, 192, true, Activation.LINEAR), depthwise(32, 15, 192, 2, 1, true, relu6)},
        };
        for (Conv2dSpec[] pair : pairs) {
            Conv2dSpec pw = pair[0];
            Conv2dSpec dw = pair[1];
            ConvInference op = new ConvInference(pw, false, Precision.FP32).withDepthwise(dw);
            Random r = new Random(pw.toString().hashCode());
            float[] x = random(r, pw.batch() * pw.inH() * pw.inW() * pw.inC());
            float[] k = random(r, pw.inC() * pw.filters());
            float[] b = pw.hasBias() ? random(r, pw.filters()) : null;
            float[] dk = random(r, 9 * dw.filters());
            float[] db = dw.hasBias() ? random(r, dw.filters()) : null;
            float[] expected = ReferenceOps.conv2dForward(dw, ReferenceOps.conv2dForward(pw, x, k, b), dk, db);
            try (Memory memory = CPU.newMemory()) {
                Tensor tx = upload(memory, x, pw.inputShape());
                Tensor tk = prepared(memory, upload(memory, k, pw.kernelShape()), CPU.conv2dInferenceKernelSize(op),
                        false, op);
                Tensor tdk = prepared(memory, upload(memory, dk, dw.kernelShape()),
                        CPU.conv2dInferenceDepthwiseKernelSize(op), true, op);
                Tensor y = memory.allocate(op.outputShape());
                CPU.conv2dInferenceWithDepthwise(op, tx, tk, b == null ? null : upload(memory, b, b.length), tdk,
                        db == null ? null : upload(memory, db, db.length), y);
                float[] actual = new float[expected.length];
                CPU.copyOut(y, actual, 0);
                assertClose("fused " + pw + " then " + dw, expected, actual, 1e-4);
            }
        }
    }

    @Test
    void theUnfusedOpRefusesAFusedOne() {
        Conv2dSpec pw = pointwise(32, 14, 24, 144, true, Activation.LINEAR);
        ConvInference op = new ConvInference(pw, false, Precision.FP32)
                .withDepthwise(depthwise(32, 14, 144, 1, 1, true, Activation.LINEAR));
        try (Memory memory = CPU.newMemory()) {
            Tensor x = memory.allocate(pw.inputShape());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.conv2dInference(op, x,
                    memory.allocate(pw.kernelShape()), memory.allocate(144), null, memory.allocate(op.outputShape())));
            assertTrue(e.getMessage().contains("expected a convolution without a depthwise one after it"),
                    e.getMessage());
        }
    }

    @Test
    void aFusedOpRefusesWhatDoesNotChain() {
        Conv2dSpec pw = pointwise(32, 14, 8, 24, true, Activation.LINEAR);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ConvInference(pw, false, Precision.FP32).withDepthwise(depthwise(32, 14, 16, 1, 1, true,
                        Activation.LINEAR)));
        assertTrue(e.getMessage().contains("expected a depthwise convolution of its output (32, 14, 14, 24)"),
                e.getMessage());
        IllegalArgumentException bf16 = assertThrows(IllegalArgumentException.class,
                () -> new ConvInference(pw, false, Precision.BF16).withDepthwise(depthwise(32, 14, 24, 1, 1, true,
                        Activation.LINEAR)));
        assertTrue(bf16.getMessage().contains("expected fp32 without a residual"), bf16.getMessage());
        assertEquals(4, new ConvInference(pw, false, Precision.FP32).withDepthwise(depthwise(32, 14, 24, 2, 1, true,
                Activation.LINEAR)).outputShape().length);
    }

    private static Tensor upload(Memory memory, float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        CPU.copyIn(values, 0, t);
        return t;
    }

    private static Tensor prepared(Memory memory, Tensor keras, long floats, boolean depthwise, ConvInference op) {
        if (floats == 0) {
            return keras;
        }
        Tensor p = memory.allocate(Math.toIntExact(floats));
        if (depthwise) {
            CPU.conv2dPrepareInferenceDepthwiseKernel(op, keras, p);
        } else {
            CPU.conv2dPrepareInferenceKernel(op, keras, p);
        }
        return p;
    }
}
