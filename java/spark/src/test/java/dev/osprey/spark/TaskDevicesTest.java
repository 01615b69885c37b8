package dev.osprey.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.osprey.backend.Accelerator;
import java.util.Map;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;

/** A task uses the GPU Spark assigned it, and the automatic device where that GPU can't be used here. */
class TaskDevicesTest {
    private static final Accelerator.Availability TWO_GPUS = new Accelerator.Availability(true, 2, "2 devices");
    private static final Accelerator.Availability NO_CUDA = new Accelerator.Availability(false, 0, "no driver");

    private static Map<String, ResourceInformation> gpus(String... addresses) {
        return Map.of("gpu", new ResourceInformation("gpu", addresses));
    }

    @Test
    void aTaskRunsOnTheFirstGpuSparkAssignedIt() {
        assertEquals("cuda:1", TaskDevices.choose(gpus("1"), TWO_GPUS));
        assertEquals("cuda:0", TaskDevices.choose(gpus(" 0 ", "1"), TWO_GPUS));
    }

    @Test
    void withoutAnAssignedGpuATaskTakesTheAutomaticDevice() {
        assertEquals("auto", TaskDevices.choose(Map.of(), TWO_GPUS));
        assertEquals("auto", TaskDevices.choose(gpus(), TWO_GPUS));
        assertEquals("auto", TaskDevices.choose(Map.of("fpga", new ResourceInformation("fpga",
                new String[] {"0"})), TWO_GPUS));
    }

    @Test
    void anAssignedGpuThatCantBeUsedHereGivesWayToTheAutomaticDevice() {
        assertEquals("auto", TaskDevices.choose(gpus("1"), NO_CUDA));
        assertEquals("auto", TaskDevices.choose(gpus("2"), TWO_GPUS));
        assertEquals("auto", TaskDevices.choose(gpus("GPU-8f3c"), TWO_GPUS));
    }
}
