package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.osprey.data.AugmentedArrays;
import dev.osprey.data.images.Augmentation;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Skipping batches (fit resuming a backup taken within an epoch) lands on the batch that reading them would reach, for
 * every in-memory source: arrays, augmented arrays (whose draws go by sample, not by what was read), and labels or
 * inputs side by side (which look their other parts up by the first source's samples).
 */
class BatchSourceSkipTest {
    private static final int N = 45;

    private static NDArray images(long seed) {
        Random r = new Random(seed);
        float[] v = new float[N * 16];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new NDArray(v, N, 4, 4, 1);
    }

    private static NDArray classes() {
        float[] v = new float[N];
        for (int i = 0; i < N; i++) {
            v[i] = i % 3;
        }
        return new NDArray(v, N);
    }

    @Test
    void skippingLandsWhereReadingWould() {
        NDArray x = images(1);
        NDArray y = classes();
        NDArray boxes = new NDArray(images(2).data(), N, 16);
        Augmentation augmentation = new Augmentation().shift(0.25, 0.25).horizontalFlip(true);
        // each source with the floats of a sample's inputs and of its labels
        record Case(Supplier<BatchSource> source, int xs, int ys) {
        }
        java.util.List<Case> cases = java.util.List.of(
                new Case(() -> new ArrayBatchSource(x, y), 16, 1),
                new Case(() -> new AugmentedArrays(x, y, augmentation, 5), 16, 1),
                new Case(() -> BatchSource.labelsSideBySide(new AugmentedArrays(x, y, augmentation, 5), boxes), 16, 17),
                new Case(() -> BatchSource.sideBySide(new ArrayBatchSource(x, y), boxes), 32, 1));
        for (Case c : cases) {
            BatchSource read = c.source().get();
            BatchSource jump = c.source().get();
            String name = read.getClass().getSimpleName();
            for (BatchSource s : new BatchSource[] {read, jump}) {
                s.startEpoch(2, 7, true, 13);
            }
            for (int i = 0; i < 3; i++) {
                read.next();
            }
            jump.skip(3);
            assertSame(read.next(), jump.next(), c.xs(), c.ys(), name);
            read.next();
            jump.skip(1); // part way, after a batch was read
            assertSame(read.next(), jump.next(), c.xs(), c.ys(), name);
            jump.skip(100);
            assertNull(jump.next(), name + ": past the epoch's end");
        }
    }

    /** The same batch: samples, inputs (xs floats a sample) and labels (ys floats a sample). */
    private static void assertSame(BatchSource.Batch expected, BatchSource.Batch actual, int xs, int ys, String name) {
        assertEquals(expected.count(), actual.count(), name);
        int n = expected.count();
        assertArrayEquals(Arrays.copyOf(expected.samples(), n), Arrays.copyOf(actual.samples(), n), name);
        assertArrayEquals(Arrays.copyOf(expected.x(), n * xs), Arrays.copyOf(actual.x(), n * xs), name + " inputs");
        assertArrayEquals(Arrays.copyOf(expected.labels(), n * ys), Arrays.copyOf(actual.labels(), n * ys),
                name + " labels");
    }
}
