package dev.osprey.benchmark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The benchmark's batch sizes follow the image size: a 224x224 model is measured at 8, 16 and 32 (at 1024 its training
 * plan would not fit in memory; osprey bench on an imported EfficientNet-B0 ran out of heap), and its figures are
 * reported under the batch sizes measured.
 */
class ModelBenchmarkBatchesTest {
    @Test
    void smallImagesKeepTheirBatchesAndLargeOnesGetSmallerOnes() {
        assertEquals(ModelBenchmark.Batches.SMALL_IMAGES, ModelBenchmark.Batches.forInput(Shape.of(28, 28, 1)));
        assertEquals(ModelBenchmark.Batches.SMALL_IMAGES, ModelBenchmark.Batches.forInput(Shape.of(64, 64, 3)));
        assertEquals(ModelBenchmark.Batches.LARGE_IMAGES, ModelBenchmark.Batches.forInput(Shape.of(65, 64, 3)));
        assertEquals(ModelBenchmark.Batches.LARGE_IMAGES, ModelBenchmark.Batches.forInput(Shape.of(224, 224, 3)));
        assertEquals(List.of(8, 16, 32), ModelBenchmark.Batches.LARGE_IMAGES.training());
        assertEquals(1024, ModelBenchmark.Batches.SMALL_IMAGES.largest());
        assertThrows(IllegalArgumentException.class, () -> new ModelBenchmark.Batches(List.of(), 8));
        assertThrows(IllegalArgumentException.class, () -> new ModelBenchmark.Batches(List.of(16, 8), 8));
        assertThrows(IllegalArgumentException.class, () -> new ModelBenchmark.Batches(List.of(8), 0));
    }

    /**
     * Training sizes whose plans would pass the memory budget are left out (ViT-Tiny at 32x32 holds about 18 MB an
     * image: at 1024 its plan took 18 GB and osprey bench was killed on a 24 GB machine); the smallest stays.
     */
    @Test
    void trainingSizesOverTheMemoryBudgetAreLeftOut() {
        ModelBenchmark.Batches small = ModelBenchmark.Batches.SMALL_IMAGES;
        long vitTiny = 18_100_000L, budget = 8L << 30;
        assertEquals(new ModelBenchmark.Batches(List.of(32, 256), 256), small.within(vitTiny, budget));
        assertEquals(small, small.within(200_000L, budget), "a CNN's 0.2 MB an image keeps every size");
        assertEquals(List.of(32), small.within(1L << 30, budget).training(), "the smallest is always measured");
        assertTrue(ModelBenchmark.memoryBudget() > 0);
    }

    @Test
    void figuresAreReportedUnderTheBatchSizesMeasured() {
        ModelBenchmark.Result r = new ModelBenchmark.Result("cpu", "test", 100, ModelBenchmark.Batches.LARGE_IMAGES,
                List.of(80.0, 160.0, 320.0), 400, 2.5, 3.0, 0.5, 0.6);
        assertEquals(List.of("device", "backend", "peak_gflops", "train_b8_img_s", "train_b8_ms_per_step",
                "train_b16_img_s", "train_b16_ms_per_step", "train_b32_img_s", "train_b32_ms_per_step",
                "infer_b32_img_s", "latency_b1_p50_ms", "latency_b1_p99_ms", "train_share_of_peak",
                "infer_share_of_peak"), List.copyOf(r.toMap().keySet()));
        assertEquals(100.0, r.msPerStep(32), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> r.msPerStep(256));
        assertThrows(IllegalArgumentException.class, () -> new ModelBenchmark.Result("cpu", "test", 100,
                ModelBenchmark.Batches.LARGE_IMAGES, List.of(1.0), 1, 1, 1, 1, 1));
    }
}
