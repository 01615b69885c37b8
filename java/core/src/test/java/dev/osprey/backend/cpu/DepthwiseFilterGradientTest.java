package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;

import dev.osprey.Activation;
import dev.osprey.backend.Conv2dSpec;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The native depthwise filter gradient against the Java loop it replaced (itself checked against the reference by the
 * backend contract), on one thread and two: 5x5 and 7x7 windows (EfficientNet's, ConvNeXt's), stride 2 with uneven
 * padding, dilation, a depth multiplier of 2, channel counts beside and across the 16-channel blocks, no bias, and a
 * batch whose rows split unevenly over the team.
 */
class DepthwiseFilterGradientTest {
    @Test
    void theNativeLoopGivesTheJavaLoopsGradients() {
        NativeKernels.require(DepthwiseFilterGradient.unavailableReason(), "the native depthwise filter gradient");
        Random r = new Random(8);
        Conv2dSpec[] specs = {
            new Conv2dSpec(3, 9, 8, 96, 96, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 96, true, Activation.LINEAR),
            new Conv2dSpec(2, 11, 10, 20, 20, 5, 5, 2, 2, 1, 2, 2, 1, 1, 1, 20, true, Activation.LINEAR),
            new Conv2dSpec(1, 7, 9, 6, 12, 3, 5, 1, 2, 2, 2, 4, 4, 2, 2, 6, false, Activation.LINEAR),
            new Conv2dSpec(5, 2, 3, 35, 35, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 35, true, Activation.LINEAR),
        };
        for (Conv2dSpec s : specs) {
            float[] x = gaussian(r, s.batch() * s.inH() * s.inW() * s.inC());
            float[] dy = gaussian(r, s.batch() * s.outH() * s.outW() * s.filters());
            int taps = s.kernelH() * s.kernelW() * s.filters();
            try (CpuTensor tx = CpuTensor.allocate(new int[] {x.length});
                 CpuTensor tdy = CpuTensor.allocate(new int[] {dy.length});
                 CpuTensor javaKernel = CpuTensor.allocate(new int[] {taps});
                 CpuTensor javaBias = CpuTensor.allocate(new int[] {s.filters()});
                 CpuTensor nativeKernel = CpuTensor.allocate(new int[] {taps});
                 CpuTensor nativeBias = CpuTensor.allocate(new int[] {s.filters()})) {
                tx.buffer().put(0, x);
                tdy.buffer().put(0, dy);
                DepthwiseFilterGradient gradient = new DepthwiseFilterGradient(s);
                gradient.runInJava(tx.buffer(), tdy.buffer(), javaKernel.buffer(),
                        s.hasBias() ? javaBias.buffer() : null);
                float[] expectedKernel = read(javaKernel, taps), expectedBias = read(javaBias, s.filters());
                for (int threads : new int[] {1, 2}) {
                    nativeKernel.buffer().put(0, new float[taps]);
                    nativeBias.buffer().put(0, new float[s.filters()]);
                    OpenMpTeam.sized(threads, () -> {
                        gradient.run(tx, tdy, nativeKernel, s.hasBias() ? nativeBias : null, threads);
                        return null;
                    });
                    org.junit.jupiter.api.Assertions.assertNull(DepthwiseFilterGradient.unavailableReason(),
                            "the native loop ran (a library without it falls back to the Java loop)");
                    assertClose(s + " kernel gradient on " + threads + " threads", expectedKernel,
                            read(nativeKernel, taps), 1e-4);
                    if (s.hasBias()) {
                        assertClose(s + " bias gradient on " + threads + " threads", expectedBias,
                                read(nativeBias, s.filters()), 1e-4);
                    }
                }
                gradient.close(); // its scratch, made at the first native run
            }
        }
    }

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static float[] read(CpuTensor t, int n) {
        float[] v = new float[n];
        t.buffer().get(0, v);
        return v;
    }
}
