package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A model that predicts with many batch sizes stays about as large as with one: inference plans hold no backward
 * buffers, share output memory between layers, and only the last few batch sizes' plans are kept; the backend's
 * compiled kernels per shape are bounded too. (Before, every new batch size added a whole training plan that stayed.)
 */
class PredictMemoryTest {
    /**
     * The stated bound on resident growth over 20 new batch sizes, beyond two more plans: the backend's kernels for the
     * new shapes (bounded per kind of op) and the allocator's slack.
     */
    static final long KERNELS_AND_SLACK = 160L << 20;

    private static long residentBytes() throws IOException {
        String[] statm = Files.readString(Path.of("/proc/self/statm")).trim().split(" ");
        return Long.parseLong(statm[1]) * 4096;
    }

    @Test
    void twentyBatchSizesCostLittleMoreThanOne() throws IOException {
        Random r = new Random(3);
        float[] x = new float[64 * 32 * 32 * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat();
        }
        NDArray images = new NDArray(x, 64, 32, 32, 3);
        boolean linux = Files.isReadable(Path.of("/proc/self/statm"));
        try (Model model = Models.resNet(20, Shape.of(32, 32, 3), 10).device(Device.cpu())) {
            model.predict(images, 64);
            long onePlan = model.planBytes();
            long[] resident = new long[2];
            resident[0] = linux ? residentBytes() : 0;
            for (int batch = 1; batch <= 58; batch += 3) { // 20 batch sizes
                model.predict(images, batch);
            }
            resident[1] = linux ? residentBytes() : 0;
            System.out.printf("predict memory: one plan %d KiB, kept plans %d KiB, resident growth %d KiB over 20 "
                    + "batch sizes%n", onePlan >> 10, model.planBytes() >> 10, (resident[1] - resident[0]) >> 10);
            assertTrue(model.planBytes() <= 3 * onePlan, "the model keeps at most three plans, each no larger than "
                    + "the one predict at batch 64 made (a 32-row slice's, where the backend slices): " + model.planBytes() + " bytes, one plan " + onePlan);
            long bound = 2 * onePlan + KERNELS_AND_SLACK;
            assertTrue(resident[1] - resident[0] <= bound, "resident memory grew by " + ((resident[1] - resident[0]) >> 20)
                    + " MiB over 20 batch sizes; the bound is two more batch-64 plans (" + (onePlan >> 20) + " MiB each) "
                    + "and " + (KERNELS_AND_SLACK >> 20) + " MiB");
        }
    }
}
