package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Pool2dSpec;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * -Dosprey.cpu.wideVectors: false keeps the pooled, pointwise and depthwise kernels on their 256-bit paths (for
 * comparisons, and for processors that split 512-bit work); a malformed value is refused by name when a plan is made.
 */
class WideVectorsSwitchTest {
    @BeforeAll
    static void kernelsAvailable() {
        NativeKernels.require(PooledConvPlan.unavailableReason(), "the pooled convolution");
        NativeKernels.require(PointwiseConvPlan.unavailableReason(), "the small pointwise convolution");
        NativeKernels.require(DepthwiseConvPlan.unavailableReason(), "the small depthwise convolution");
    }

    private static ConvInference pooled() {
        Conv2dSpec s = new Conv2dSpec(1, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, Activation.RELU);
        Pool2dSpec p = new Pool2dSpec(Pool2dSpec.Mode.MAX, 1, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0);
        return new ConvInference(s, false, Precision.FP32).withMaxPool(p);
    }

    private static ConvInference pointwise() {
        return new ConvInference(new Conv2dSpec(1, 8, 8, 24, 144, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true,
                Activation.RELU6), false, Precision.FP32);
    }

    private static ConvInference depthwise() {
        return new ConvInference(new Conv2dSpec(1, 8, 8, 144, 144, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 144, true,
                Activation.RELU6), false, Precision.FP32);
    }

    /** The implementations of a plan of each kernel made with the property at value (null: unset). */
    private static String[] implementations(String value) {
        return withProperty(value, () -> new String[] {
            new PooledConvPlan(pooled()).implementation(),
            new PointwiseConvPlan(pointwise(), 2).implementation(),
            new DepthwiseConvPlan(depthwise()).implementation(),
        });
    }

    private static <T> T withProperty(String value, Supplier<T> make) {
        return SystemProperties.with(NativeCpu.WIDE_VECTORS_PROPERTY, value, make);
    }

    @Test
    void falseKeepsEveryKernelOn256BitVectors() {
        String[] narrow = implementations("false");
        assertEquals("osprey_conv_maxpool:avx2", narrow[0]);
        assertEquals("osprey_pointwise_rows:avx2", narrow[1]);
        assertEquals("osprey_depthwise:avx2", narrow[2]);
    }

    @Test
    void byDefaultEachKernelTakes512BitVectorsWhereTheProcessorHasThem() {
        String[] unset = implementations(null);
        assertEquals(PooledConvPlan.wide() ? "osprey_conv_maxpool:avx512" : "osprey_conv_maxpool:avx2", unset[0]);
        assertEquals(PointwiseConvPlan.wide() ? "osprey_pointwise_rows:avx512" : "osprey_pointwise_rows:avx2",
                unset[1]);
        assertEquals(DepthwiseConvPlan.wide() ? "osprey_depthwise:avx512" : "osprey_depthwise:avx2", unset[2]);
        assertEquals(java.util.Arrays.asList(unset), java.util.Arrays.asList(implementations(" TRUE ")),
                "case and spaces do not matter");
    }

    @Test
    void aMalformedValueIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> implementations("yes"));
        assertEquals("-Dosprey.cpu.wideVectors: expected true or false, received 'yes'", e.getMessage());
    }
}
