package dev.osprey.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.GpuTests;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.parallel.CollectiveProvider;
import dev.osprey.engine.parallel.Communicator;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * NCCL with one rank (NCCL runs a single rank on one GPU): the all-reduce and broadcast leave the data as it is, and
 * a CUDA backend finds NCCL through the provider. Run by the GPU bundle (benchmarks/gpu/run-gpu.sh), which needs a
 * GPU; skipped here with the reason.
 */
class NcclCommunicatorTest {
    @Test
    void oneRankOnOneGpuSumsAndBroadcastsToItself() {
        GpuTests.requireOrSkip();
        Backend gpu = Device.cuda(0).backend();
        try (Communicator c = CollectiveProvider.best(List.of(gpu)); Memory memory = gpu.newMemory()) {
            assertInstanceOf(NcclCommunicator.class, c, "NCCL should serve a CUDA backend");
            Tensor t = memory.allocate(3);
            gpu.copyIn(new float[] {1f, -2f, 3.5f}, 0, t);
            c.allReduceSum(0, t);
            c.broadcast(0, t, 0);
            float[] out = new float[3];
            gpu.copyOut(t, out, 0);
            assertArrayEquals(new float[] {1f, -2f, 3.5f}, out);
            assertEquals(1, c.size());
        }
    }
}
