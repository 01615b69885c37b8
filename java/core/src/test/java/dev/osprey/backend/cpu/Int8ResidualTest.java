package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.InputRange;
import java.util.Random;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An int8 convolution reading its residual as 8-bit values (a producer's hand-over) against the same convolution reading
 * those values' real worth (q times the step) in fp32: the same outputs up to float rounding, with an fp32 output and
 * with an 8-bit one, for an unsigned (after ReLU) and a signed residual, ReLU and linear.
 */
class Int8ResidualTest {
    private static CpuBackend backend;

    @BeforeAll
    static void open() {
        backend = new CpuBackend();
        Assumptions.assumeTrue(backend.unavailable(Precision.INT8) == null, () -> backend.unavailable(Precision.INT8));
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static Conv2dSpec spec(Activation a) {
        return new Conv2dSpec(2, 7, 9, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, a);
    }

    /** Runs op on x, kernel k and bias b with the residual given as bytes (8-bit op) or floats; returns y's floats. */
    private static CpuTensor run(ConvInference op, float[] x, float[] k, float[] b, byte[] q, float[] real,
                                 boolean byteOutput) {
        Conv2dSpec s = op.spec();
        InferenceConv plan = backend.inferenceConv(op);
        CpuTensor tx = tensor(x, s.inputShape());
        CpuTensor tk = tensor(k, s.kernelShape());
        CpuTensor prepared = CpuTensor.allocate(new int[] {Math.toIntExact(Math.max(1, plan.preparedFloats()))});
        CpuTensor tb = tensor(b, b.length);
        CpuTensor residual = CpuTensor.allocate(s.outputShape());
        if (q != null) {
            new BytePointer(residual.pointer()).put(q, 0, q.length);
        } else {
            residual.buffer().put(0, real);
        }
        CpuTensor y = CpuTensor.allocate(s.outputShape());
        try {
            plan.prepare(tk, prepared);
            plan.forward(tx, prepared, tb, residual, y);
            return y;
        } finally {
            for (CpuTensor t : new CpuTensor[] {tx, tk, prepared, tb, residual}) {
                t.close();
            }
        }
    }

    private static CpuTensor tensor(float[] v, int... shape) {
        CpuTensor t = CpuTensor.allocate(shape);
        t.buffer().put(0, v);
        return t;
    }

    private static void check(Activation a, InputRange residualRange, InputRange outputRange) {
        Conv2dSpec s = spec(a);
        Random r = new Random(a.hashCode() * 31 + (residualRange.unsigned() ? 1 : 2) + (outputRange == null ? 0 : 4));
        float[] x = new float[s.batch() * s.inH() * s.inW() * s.inC()];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat() * 2f; // within the input range [0, 2]
        }
        float[] k = new float[9 * s.inC() * s.filters()];
        for (int i = 0; i < k.length; i++) {
            k[i] = (float) r.nextGaussian() / 8f;
        }
        float[] b = new float[s.filters()];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian() / 4f;
        }
        int outputs = s.batch() * s.outH() * s.outW() * s.filters();
        byte[] q = new byte[outputs];
        float[] real = new float[outputs];
        float step = residualRange.scale();
        for (int i = 0; i < outputs; i++) {
            int v = residualRange.unsigned() ? r.nextInt(256) : r.nextInt(255) - 127;
            q[i] = (byte) v;
            real[i] = v * step;
        }
        InputRange in = new InputRange(0f, 2f);
        ConvInference fp32Residual = new ConvInference(s, true, Precision.INT8, in, false, outputRange);
        ConvInference byteResidual = fp32Residual.withResidualRange(residualRange);
        try (CpuTensor expected = run(fp32Residual, x, k, b, null, real, outputRange != null);
             CpuTensor actual = run(byteResidual, x, k, b, q, null, outputRange != null)) {
            String what = a + " residual " + residualRange + (outputRange == null ? ", fp32 out" : ", 8-bit out");
            if (outputRange == null) {
                float[] e = new float[outputs];
                float[] g = new float[outputs];
                expected.buffer().get(0, e);
                actual.buffer().get(0, g);
                double largest = 1e-6;
                for (float v : e) {
                    largest = Math.max(largest, Math.abs(v));
                }
                for (int i = 0; i < outputs; i++) {
                    assertTrue(Math.abs(e[i] - g[i]) <= 1e-5 * largest, what + ": output " + i + " is " + g[i]
                            + ", expected " + e[i]);
                }
            } else { // 8-bit outputs: the same steps, but for a rare tie rounded the other way
                byte[] e = new byte[outputs];
                byte[] g = new byte[outputs];
                new BytePointer(expected.pointer()).get(e, 0, outputs);
                new BytePointer(actual.pointer()).get(g, 0, outputs);
                int differ = 0;
                for (int i = 0; i < outputs; i++) {
                    int de = outputRange.unsigned() ? e[i] & 0xff : e[i];
                    int dg = outputRange.unsigned() ? g[i] & 0xff : g[i];
                    assertTrue(Math.abs(de - dg) <= 1, what + ": output " + i + " is step " + dg + ", expected " + de);
                    differ += de != dg ? 1 : 0;
                }
                assertTrue(differ <= outputs / 100, what + ": " + differ + " of " + outputs + " outputs a step off");
            }
        }
    }

    @Test
    void anEightBitResidualAddsWhatItsValuesAreWorth() {
        InputRange unsigned = new InputRange(0f, 3f);
        InputRange signed = new InputRange(-2.5f, 1.5f);
        for (Activation a : new Activation[] {Activation.RELU, Activation.LINEAR, Activation.leakyRelu(0.1f)}) {
            check(a, unsigned, null);
            check(a, signed, null);
        }
        check(Activation.RELU, unsigned, new InputRange(0f, 6f));
        check(Activation.LINEAR, signed, new InputRange(-5f, 5f));
    }
}
