package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Backend;
import dev.osprey.backend.ResidentData;
import dev.osprey.backend.Tensor;
import dev.osprey.backend.cpu.CpuBackend;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Training arrays handed to the backend whole give the same training as batches copied in one by one, and the
 * resident-data contract (orders, gathers) is enforced with clear errors.
 */
class ResidentDataTest {
    @Test
    void residentAndCopiedBatchesTrainIdentically() {
        NDArray[] data = TrainingReproducibilityTest.data();
        // 16 samples in batches of 5: a short last batch too.
        List<NDArray> resident = train(data, true);
        List<NDArray> copied = train(data, false);
        for (int i = 0; i < resident.size(); i++) {
            assertArrayEquals(copied.get(i).data(), resident.get(i).data(), "weights " + i);
        }
        NDArray initial = TrainingReproducibilityTest.tinyModel(3).getWeights().get(0);
        assertTrue(!java.util.Arrays.equals(initial.data(), resident.get(0).data()), "training changed the weights");
    }

    private static List<NDArray> train(NDArray[] data, boolean resident) {
        try (Sequential model = TrainingReproducibilityTest.tinyModel(3)) {
            model.fit(data[0], data[1], FitOptions.defaults().epochs(3).batchSize(5).verbose(false)
                    .keepDataResident(resident));
            return model.getWeights();
        }
    }

    @Test
    void gathersTheEpochsOrderAndChecksItsArguments() {
        Backend backend = dev.osprey.backend.Device.cpu().backend();
        try (dev.osprey.backend.Memory memory = backend.newMemory()) {
            float[] x = {0, 1, 10, 11, 20, 21};          // 3 samples of 2
            float[] targets = {1, 0, 0, 1, 1, 0};        // 3 rows of 2 classes
            ResidentData data = backend.keepResident(x, 2, targets, 2);
            Tensor xs = memory.allocate(2, 2);
            Tensor ts = memory.allocate(2, 2);
            IllegalArgumentException early = assertThrows(IllegalArgumentException.class, () -> data.gather(0, 2, xs, ts));
            assertTrue(early.getMessage().contains("was startEpoch called?"), early.getMessage());

            data.startEpoch(new int[] {2, 0, 1});
            data.gather(0, 2, xs, ts);
            float[] out = new float[4];
            backend.copyOut(xs, out, 0);
            assertArrayEquals(new float[] {20, 21, 0, 1}, out);
            backend.copyOut(ts, out, 0);
            assertArrayEquals(new float[] {1, 0, 1, 0}, out);

            IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                    () -> data.startEpoch(new int[] {0, 0, 1}));
            assertEquals("resident data: expected a permutation of 0..2, received index 0 twice", twice.getMessage());
            assertThrows(IllegalArgumentException.class, () -> data.gather(2, 2, xs, ts));
            IllegalArgumentException ragged = assertThrows(IllegalArgumentException.class,
                    () -> backend.keepResident(new float[5], 2, new float[4], 2));
            assertTrue(ragged.getMessage().contains("whole number of samples of 2 floats, received 5"), ragged.getMessage());
        }
    }
}
