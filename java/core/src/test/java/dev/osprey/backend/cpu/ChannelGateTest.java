package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The native channel gate and its Java fallback give the same products, on one thread and two, where the native loop's
 * blocks of rows (16 KiB) split a sample unevenly, and for many channels (a row per block).
 */
class ChannelGateTest {
    @Test
    void theNativeLoopAndTheJavaOneAgreeBitForBit() {
        NativeKernels.require(NativeCpu.unavailableReason(), "the native channel gate");
        Random r = new Random(4);
        for (int[] s : new int[][] {{2, 1500, 3}, {3, 49, 672}, {1, 7, 5000}}) {
            int batch = s[0], pixels = s[1], channels = s[2];
            float[] x = new float[batch * pixels * channels];
            float[] gate = new float[batch * channels];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            for (int i = 0; i < gate.length; i++) {
                gate[i] = r.nextFloat();
            }
            try (CpuTensor tx = CpuTensor.allocate(new int[] {x.length});
                 CpuTensor tg = CpuTensor.allocate(new int[] {gate.length});
                 CpuTensor inJava = CpuTensor.allocate(new int[] {x.length});
                 CpuTensor out = CpuTensor.allocate(new int[] {x.length})) {
                tx.buffer().put(0, x);
                tg.buffer().put(0, gate);
                ChannelGate.multiplyInJava(tx, tg, inJava, batch, pixels, channels);
                float[] expected = new float[x.length];
                inJava.buffer().get(0, expected);
                for (int threads : new int[] {1, 2}) {
                    OpenMpTeam.sized(threads, () -> {
                        ChannelGate.multiply(tx, tg, out, batch, pixels, channels, threads);
                        return null;
                    });
                    float[] actual = new float[x.length];
                    out.buffer().get(0, actual);
                    assertArrayEquals(expected, actual, 0f, java.util.Arrays.toString(s) + " on " + threads);
                    org.junit.jupiter.api.Assertions.assertNull(ChannelGate.unavailableReason(),
                            "the native loop ran (not the Java one beside it)");
                }
                for (int i = 0; i < x.length; i++) { // and the reference itself
                    int sample = i / (pixels * channels);
                    expected[i] = x[i] * gate[sample * channels + i % channels];
                }
                float[] fromJava = new float[x.length];
                inJava.buffer().get(0, fromJava);
                assertArrayEquals(expected, fromJava, 0f);
            }
        }
    }
}
