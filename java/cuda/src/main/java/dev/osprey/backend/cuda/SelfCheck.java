package dev.osprey.backend.cuda;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.ResidentData;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Arrays;

/**
 * A few small ops with answers computed here in plain Java, run when a GPU backend opens: a wrong layout or
 * transpose (the easy mistakes on a GPU path) then fails loudly at start instead of training garbage.
 * Tolerance 1e-2 relative covers TF32's 10-bit mantissa on these small sums. Also checks the device-resident
 * data path. The same dense layer and convolution in bf16 ({@link #bf16}) decide, once, whether mixed_bfloat16 runs
 * on this GPU: the answers are computed from the bf16-rounded operands, and 1e-2 covers cuDNN's bf16 outputs too.
 */
final class SelfCheck {
    private static final double TOLERANCE = 1e-2;

    private SelfCheck() {
    }

    static void run(Backend b) {
        try (Memory memory = b.newMemory()) {
            dense(b, memory, Precision.FP32);
            convolution(b, memory, Precision.FP32);
            residentGather(b, memory);
        }
    }

    /**
     * Null when a dense layer and a convolution with bf16 math (mixed_bfloat16) plan and give the right answers here,
     * else why not, in one line: cuDNN may refuse bf16 tensors on some builds and GPUs.
     */
    static String bf16(Backend b) {
        try (Memory memory = b.newMemory()) {
            dense(b, memory, Precision.BF16);
            convolution(b, memory, Precision.BF16);
            return null;
        } catch (BackendException e) {
            return "bf16 products failed their check on this GPU: " + e.getMessage();
        }
    }

    /** x as the products see it: rounded to the nearest bfloat16 (ties to even) under bf16 math. */
    private static float operand(float x, Precision math) {
        if (math != Precision.BF16) {
            return x;
        }
        int bits = Float.floatToRawIntBits(x);
        return Float.intBitsToFloat((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000);
    }

    /** Three samples held on the device as byte codes, gathered in a shuffled order, with their targets. */
    private static void residentGather(Backend b, Memory memory) {
        float[] x = {0f, 1f / 255, 2f / 255, 1f, 0.5f, 0.25f};
        float[] targets = {1, 0, 0, 1, 1, 0};
        try (ResidentData data = b.keepResident(x, 2, targets, 2)) {
            Tensor xs = memory.allocate(2, 2);
            Tensor ts = memory.allocate(2, 2);
            data.startEpoch(new int[] {2, 0, 1});
            data.gather(1, 2, xs, ts);
            compare("resident data gather (samples)", new float[] {0f, 1f / 255, 2f / 255, 1f}, download(b, xs));
            compare("resident data gather (targets)", new float[] {1, 0, 0, 1}, download(b, ts));
        }
    }

    private static void dense(Backend b, Memory memory, Precision math) {
        DenseSpec s = new DenseSpec(3, 4, 2, Activation.RELU).withMath(math);
        float[] x = {1, 2, 3, 4, -1, 0, 1, 2, 0.5f, 0.5f, -2, 1};
        float[] k = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f}; // (in 4, units 2)
        float[] bias = {0.05f, -0.05f};
        float[] expected = new float[6];
        for (int n = 0; n < 3; n++) {
            for (int u = 0; u < 2; u++) {
                double acc = bias[u];
                for (int i = 0; i < 4; i++) {
                    acc += operand(x[n * 4 + i], math) * operand(k[i * 2 + u], math);
                }
                expected[n * 2 + u] = (float) Math.max(0, acc);
            }
        }
        Tensor y = memory.allocate(s.outputShape());
        b.denseForward(s, upload(b, memory, x, 3, 4), upload(b, memory, k, 4, 2), upload(b, memory, bias, 2), y);
        compare("dense forward (" + math + ")", expected, download(b, y));
    }

    private static void convolution(Backend b, Memory memory, Precision math) {
        Conv2dSpec s = new Conv2dSpec(1, 4, 4, 2, 3, 3, 3, 1, 1, 0, 0, 0, 0, Activation.LINEAR).withMath(math);
        float[] x = new float[32];
        float[] k = new float[54];
        for (int i = 0; i < x.length; i++) {
            x[i] = (i % 7) - 3;
        }
        for (int i = 0; i < k.length; i++) {
            k[i] = ((i * 5) % 11 - 5) / 10f;
        }
        float[] bias = {0.5f, -0.5f, 0f};
        float[] expected = new float[2 * 2 * 3];
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 2; j++) {
                for (int f = 0; f < 3; f++) {
                    double acc = bias[f];
                    for (int u = 0; u < 3; u++) {
                        for (int v = 0; v < 3; v++) {
                            for (int c = 0; c < 2; c++) {
                                acc += operand(x[((i + u) * 4 + (j + v)) * 2 + c], math)
                                        * operand(k[((u * 3 + v) * 2 + c) * 3 + f], math);
                            }
                        }
                    }
                    expected[(i * 2 + j) * 3 + f] = (float) acc;
                }
            }
        }
        Tensor y = memory.allocate(s.outputShape());
        b.conv2dForward(s, upload(b, memory, x, s.inputShape()), upload(b, memory, k, s.kernelShape()), upload(b, memory, bias, 3), y);
        compare("conv2d forward (" + math + ")", expected, download(b, y));
    }

    private static void compare(String what, float[] expected, float[] actual) {
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(expected[i] - actual[i]) <= TOLERANCE * Math.max(1, Math.abs(expected[i])))) {
                throw new BackendException("CUDA backend self-check failed: " + what + " expected "
                        + Arrays.toString(expected) + ", received " + Arrays.toString(actual));
            }
        }
    }

    private static Tensor upload(Backend b, Memory memory, float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        b.copyIn(values, 0, t);
        return t;
    }

    private static float[] download(Backend b, Tensor t) {
        float[] out = new float[(int) t.size()];
        b.copyOut(t, out, 0);
        return out;
    }
}
