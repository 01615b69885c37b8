package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Pool2dSpec;
import org.junit.jupiter.api.Test;

/**
 * No primitive gets more threads than its work feeds at 10 µs each: the tutorial CNN's layers at batch 1 as measured
 * on 2 AVX2 cores (its second convolution on two threads, the rest on one), and at batch 256 every convolution and
 * pooling on the whole team.
 */
class TeamSizeTest {
    private static final TeamSize TWO = new TeamSize(2, 10);

    private static ConvInference conv(int batch, int size, int inC, int filters) {
        return new ConvInference(new Conv2dSpec(batch, size, size, inC, filters, 3, 3, 1, 1, 0, 0, 0, 0,
                Activation.RELU), false, Precision.FP32);
    }

    @Test
    void theTutorialCnnAtBatchOneForksOnlyForItsSecondConvolution() {
        assertEquals(1, TWO.of(conv(1, 28, 1, 32)), "conv1: 16 µs on one thread, 47 on two");
        assertEquals(2, TWO.of(conv(1, 13, 32, 64)), "conv2: 68 µs on one thread, 52 on two");
        assertEquals(1, TWO.of(conv(1, 5, 64, 64)), "conv3");
        assertEquals(1, TWO.of(new Pool2dSpec(1, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0), Float.BYTES));
        assertEquals(1, TWO.of(new DenseSpec(1, 576, 64, Activation.RELU)), "7.6 µs on one thread, 12.4 on two");
        assertEquals(1, TWO.elementwise(10, 1), "the softmax");
    }

    @Test
    void atBatch256EveryConvolutionAndPoolingGetsTheWholeTeam() {
        TeamSize sixteen = new TeamSize(16, 10);
        assertEquals(16, sixteen.of(conv(256, 13, 32, 64)));
        assertEquals(2, TWO.of(conv(256, 28, 1, 32)));
        assertEquals(2, TWO.of(conv(256, 5, 64, 64)));
        assertEquals(2, TWO.of(new Pool2dSpec(256, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0), Float.BYTES));
        assertEquals(2, TWO.of(new DenseSpec(256, 576, 64, Activation.RELU)));
        assertEquals(1, TWO.of(new DenseSpec(256, 64, 10, Activation.LINEAR)), "only tiny ops stay on fewer");
        assertEquals(1, TWO.elementwise(256 * 10, 1), "the softmax over 256 x 10");
    }

    @Test
    void largeWeightsFeedThreadsEvenWhenTheArithmeticIsSmall() {
        // MobileNetV2's 1x1 convolution of 320 to 1280 channels on a 1x1 map: 1.6 MB of weights, 80 µs on one thread
        ConvInference wide = new ConvInference(new Conv2dSpec(1, 1, 1, 320, 1280, 1, 1, 1, 1, 0, 0, 0, 0,
                Activation.LINEAR), false, Precision.FP32);
        assertEquals(2, TWO.of(wide));
    }

    @Test
    void theTeamGrowsWithTheWorkAndStopsAtItsSize() {
        TeamSize eight = new TeamSize(8, 10);
        assertEquals(1, eight.of(0, 0));
        assertEquals(1, eight.of(32 * 19_999, 0), "just under 20 µs");
        assertEquals(2, eight.of(32 * 20_000, 0), "20 µs: two threads of 10");
        assertEquals(3, eight.of(0, 20 * 30_000), "30 µs of streaming");
        assertEquals(8, eight.of(1e12, 1e12));
    }

    @Test
    void zeroMicrosGivesEveryPrimitiveTheWholeTeam() {
        assertEquals(4, new TeamSize(4, 0).of(0, 0));
        assertEquals(4, new TeamSize(4, 0).of(conv(1, 28, 1, 32)));
    }

    @Test
    void malformedSettingsAreRefusedWithWhatWasExpected() {
        assertThrows(IllegalArgumentException.class, () -> new TeamSize(0, 10));
        assertThrows(IllegalArgumentException.class, () -> new TeamSize(2, -1));
        assertThrows(IllegalArgumentException.class, () -> new TeamSize(2, Double.NaN));
        String before = System.getProperty("osprey.cpu.minMicrosPerThread");
        try {
            System.setProperty("osprey.cpu.minMicrosPerThread", "ten");
            BackendException e = assertThrows(BackendException.class, TeamSize::fromProperties);
            assertEquals("-Dosprey.cpu.minMicrosPerThread: expected microseconds (a number >= 0; 0 gives every "
                    + "primitive the whole OpenMP team), received 'ten'", e.getMessage());
        } finally {
            if (before == null) {
                System.clearProperty("osprey.cpu.minMicrosPerThread");
            } else {
                System.setProperty("osprey.cpu.minMicrosPerThread", before);
            }
        }
    }
}
