package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.backend.Conv2dSpec;
import org.junit.jupiter.api.Test;

/**
 * Which filter gradients run as matrix products, and their values over thousands of pixels (BackendContractTest checks
 * the whole convolution on small shapes, where a many-core machine may not take this path).
 */
class PointwiseFilterGradientTest {
    private static Conv2dSpec pointwise(int in, int out) {
        return new Conv2dSpec(128, 2, 2, in, out, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, false, Activation.LINEAR);
    }

    @Test
    void wideLayersTakeTheMatrixProductNarrowOnesKeepTheConvolutionKernel() {
        assertTrue(PointwiseFilterGradient.fits(pointwise(96, 576), 2));
        assertTrue(PointwiseFilterGradient.fits(pointwise(320, 1280), 16));
        assertFalse(PointwiseFilterGradient.fits(pointwise(16, 96), 2)); // the product was 1.15x slower there
        assertFalse(PointwiseFilterGradient.fits(pointwise(32, 192), 2)); // and 1.2x slower there
        assertFalse(PointwiseFilterGradient.fits(pointwise(96, 576), 64)); // too few output tiles for 64 threads
    }

    @Test
    void theGradientsAreXTransposedTimesDyAndDySummedOverThousandsOfPixels() {
        Conv2dSpec s = new Conv2dSpec(8, 24, 20, 24, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, Activation.LINEAR);
        int pixels = s.batch() * s.inH() * s.inW(); // 3,840
        try (DnnlContext context = new DnnlContext();
             PointwiseFilterGradient gradient = new PointwiseFilterGradient(context, s);
             CpuTensor x = random(pixels * s.inC(), 1); CpuTensor dy = random(pixels * s.filters(), 2);
             CpuTensor dKernel = CpuTensor.allocate(new int[] {s.inC() * s.filters()});
             CpuTensor dBias = CpuTensor.allocate(new int[] {s.filters()})) {
            for (int call = 0; call < 2; call++) { // overwritten each call, never accumulated
                fill(dKernel, Float.NaN);
                fill(dBias, Float.NaN);
                gradient.run(x, dy, dKernel, dBias);
                for (int i = 0; i < s.inC(); i++) {
                    for (int o = 0; o < s.filters(); o++) {
                        double expected = 0;
                        for (int p = 0; p < pixels; p++) {
                            expected += (double) x.buffer().get(p * s.inC() + i) * dy.buffer().get(p * s.filters() + o);
                        }
                        assertEquals(expected, dKernel.buffer().get(i * s.filters() + o), 1e-4 * Math.sqrt(pixels),
                                "dKernel[" + i + "][" + o + "]");
                    }
                }
                for (int o = 0; o < s.filters(); o++) {
                    double expected = 0;
                    for (int p = 0; p < pixels; p++) {
                        expected += dy.buffer().get(p * s.filters() + o);
                    }
                    assertEquals(expected, dBias.buffer().get(o), 1e-4 * Math.sqrt(pixels), "dBias[" + o + "]");
                }
            }
        }
    }

    private static CpuTensor random(int size, long seed) {
        CpuTensor t = CpuTensor.allocate(new int[] {size});
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < size; i++) {
            t.buffer().put(i, (float) r.nextGaussian());
        }
        return t;
    }

    private static void fill(CpuTensor t, float value) {
        for (int i = 0; i < t.size(); i++) {
            t.buffer().put(i, value);
        }
    }

    @Test
    void onlyPointwiseConvolutionsDo() {
        Conv2dSpec threeByThree = new Conv2dSpec(128, 8, 8, 256, 256, 3, 3, 1, 1, 1, 1, 1, 1, Activation.LINEAR);
        Conv2dSpec strided = new Conv2dSpec(128, 8, 8, 256, 256, 1, 1, 2, 2, 0, 0, 0, 0, Activation.LINEAR);
        assertFalse(PointwiseFilterGradient.fits(threeByThree, 2));
        assertFalse(PointwiseFilterGradient.fits(strided, 2));
    }
}
