package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.backend.Conv2dSpec;
import org.junit.jupiter.api.Test;

class ConvGeometryTest {
    private static Conv2dSpec pointwise(int batch, int h, int w, int groups) {
        return new Conv2dSpec(batch, h, w, 8, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, groups, true, Activation.RELU);
    }

    @Test
    void aPointwiseConvolutionIsPlannedAsOneImageOfAllItsPixels() {
        ConvGeometry g = ConvGeometry.of(pointwise(256, 2, 3, 1));
        assertArrayEquals(new long[] {1, 8, 256 * 2 * 3, 1}, g.input(8));
        assertArrayEquals(new long[] {1, 16, 256 * 2 * 3, 1}, g.output(16));
        assertArrayEquals(new long[] {1, 1}, g.strides());
        assertArrayEquals(new long[] {0, 0}, g.padL());
        assertArrayEquals(new long[] {0, 0}, g.padR());
    }

    @Test
    void everyOtherConvolutionKeepsItsImagesAndWindow() {
        Conv2dSpec strided = new Conv2dSpec(4, 6, 6, 8, 16, 1, 1, 2, 2, 0, 0, 0, 0, Activation.RELU);
        Conv2dSpec padded = new Conv2dSpec(4, 6, 6, 8, 16, 1, 1, 1, 1, 1, 1, 1, 1, Activation.RELU);
        Conv2dSpec threeByThree = new Conv2dSpec(4, 6, 6, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, Activation.RELU);
        for (Conv2dSpec s : new Conv2dSpec[] {strided, padded, threeByThree, pointwise(4, 6, 6, 2)}) {
            assertFalse(ConvGeometry.folds(s), s.toString());
            ConvGeometry g = ConvGeometry.of(s);
            assertArrayEquals(new long[] {4, 8, 6, 6}, g.input(8), s.toString());
            assertArrayEquals(new long[] {4, 16, s.outH(), s.outW()}, g.output(16), s.toString());
            assertArrayEquals(new long[] {s.strideH(), s.strideW()}, g.strides(), s.toString());
            assertArrayEquals(new long[] {s.padTop(), s.padLeft()}, g.padL(), s.toString());
        }
        assertTrue(ConvGeometry.folds(pointwise(1, 1, 1, 1)));
    }

    @Test
    void aPointwiseConvolutionOfTwoGigabytesIsNotFolded() {
        assertTrue(ConvGeometry.folds(pointwise(1024, 128, 255, 1)));  // 16 output channels: 2^31 - 2^23 bytes
        assertFalse(ConvGeometry.folds(pointwise(1024, 128, 256, 1))); // 2^31 bytes
    }
}
