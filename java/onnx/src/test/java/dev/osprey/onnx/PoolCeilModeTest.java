package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * ceil_mode pooling as padding after the axis: the output sizes PyTorch 1.13's max_pool2d(ceil_mode=True) gives
 * (written down from it), including the window it drops because it would start in the trailing padding. GoogLeNet's
 * and Inception's pools run through this; ONNX's maxpool_2d_ceil and averagepool_2d_ceil cases check the values.
 */
class PoolCeilModeTest {
    @ParameterizedTest(name = "in {0}, padding {1}+{2}, kernel {3}, stride {4}: {5} outputs")
    @CsvSource({
        "5, 1, 1, 2, 2, 3",     // ceil would give 4, whose window starts in the padding: PyTorch drops it
        "4, 0, 0, 3, 2, 2",
        "112, 0, 0, 3, 2, 56",  // GoogLeNet's first pool
        "56, 0, 0, 3, 2, 28",
        "6, 1, 1, 3, 3, 3",
        "7, 0, 0, 2, 2, 4",
        "14, 0, 0, 3, 2, 7",
        "8, 0, 0, 2, 2, 4",     // already even: no padding
    })
    void theAddedPaddingGivesPyTorchsOutputSize(int in, int before, int after, int kernel, int stride, int outputs) {
        int extra = GraphImporter.ceilPadding(in, before, after, kernel, stride);
        assertEquals(outputs, (in + before + after + extra - kernel) / stride + 1);
    }
}
