package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.backend.Conv2dSpec;
import org.junit.jupiter.api.Test;

/** Which filter gradients run as matrix products; BackendContractTest checks their values against the reference. */
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
    void onlyPointwiseConvolutionsDo() {
        Conv2dSpec threeByThree = new Conv2dSpec(128, 8, 8, 256, 256, 3, 3, 1, 1, 1, 1, 1, 1, Activation.LINEAR);
        Conv2dSpec strided = new Conv2dSpec(128, 8, 8, 256, 256, 1, 1, 2, 2, 0, 0, 0, 0, Activation.LINEAR);
        assertFalse(PointwiseFilterGradient.fits(threeByThree, 2));
        assertFalse(PointwiseFilterGradient.fits(strided, 2));
    }
}
