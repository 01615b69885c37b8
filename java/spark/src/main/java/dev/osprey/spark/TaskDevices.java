package dev.osprey.spark;

import dev.osprey.backend.Accelerator;
import dev.osprey.backend.Device;
import java.util.Map;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device a Spark task runs on. Where Spark schedules GPUs ({@code spark.task.resource.gpu.amount}), each task
 * holds the addresses of its GPUs, and two tasks on one executor hold different ones: the task uses the first, as
 * {@code cuda:N}. Without an assigned GPU, or where the address can't be used here (CUDA unusable, no such device,
 * an address that is not a number), the task takes the automatic choice, with the reason logged once. The system
 * property {@code osprey.device} (say {@code -Dosprey.device=cpu} in the executors' Java options) overrides both.
 */
final class TaskDevices {
    private static final Logger LOG = LoggerFactory.getLogger(TaskDevices.class);
    private static final java.util.Set<String> WARNED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private TaskDevices() {
    }

    /** The device for the running task (the automatic one outside a task). */
    static Device of(TaskContext task) {
        String forced = System.getProperty("osprey.device");
        if (forced != null && !forced.isBlank() && !forced.trim().equalsIgnoreCase("auto")) {
            return Device.parse(forced);
        }
        Map<String, ResourceInformation> resources = task == null ? Map.of()
                : scala.jdk.javaapi.CollectionConverters.asJava(task.resources());
        return Device.parse(choose(resources, Device.cudaAvailability()));
    }

    /** The device name ("cuda:N" or "auto") for a task holding these resources, where CUDA is as cuda says. */
    static String choose(Map<String, ResourceInformation> resources, Accelerator.Availability cuda) {
        ResourceInformation gpu = resources.get(org.apache.spark.resource.ResourceUtils.GPU());
        if (gpu == null || gpu.addresses().length == 0) {
            return "auto";
        }
        String address = gpu.addresses()[0].trim();
        int index;
        try {
            index = Integer.parseInt(address);
        } catch (NumberFormatException e) {
            return fallBack("Spark assigned GPU address '" + address + "', expected a CUDA device number");
        }
        if (!cuda.usable()) {
            return fallBack("Spark assigned GPU " + address + ", but CUDA is not usable here: " + cuda.reason());
        }
        if (index < 0 || index >= cuda.devices()) {
            return fallBack("Spark assigned GPU " + address + ", expected a CUDA device from 0 to "
                    + (cuda.devices() - 1) + " (the devices this executor sees)");
        }
        return "cuda:" + index;
    }

    private static String fallBack(String reason) {
        if (WARNED.add(reason)) {
            LOG.warn("osprey-spark: {}; the task uses the automatic device", reason);
        }
        return "auto";
    }
}
