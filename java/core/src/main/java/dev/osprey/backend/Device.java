package dev.osprey.backend;

import dev.osprey.backend.cpu.CpuBackend;
import java.util.Locale;

/**
 * Where a model runs. {@link #auto()} honours {@code -Dosprey.device=cpu|cuda|cuda:N|auto}; otherwise it takes the
 * GPU when the CUDA runtime, cuBLAS and cuDNN load and a device exists, else the CPU, and logs the choice in one
 * line with its reason.
 */
public final class Device {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Device.class);
    private static final java.util.concurrent.atomic.AtomicBoolean CHOICE_LOGGED = new java.util.concurrent.atomic.AtomicBoolean();

    /** What a device is: the CPU (oneDNN) or an NVIDIA GPU (CUDA). */
    public enum Kind { CPU, CUDA }

    private final Kind kind;
    private final int index;
    private final String reason;
    private final boolean automatic;

    private Device(Kind kind, int index, String reason, boolean automatic) {
        this.kind = kind;
        this.index = index;
        this.reason = reason;
        this.automatic = automatic;
    }

    /** The CPU, asked for by name. */
    public static Device cpu() {
        return new Device(Kind.CPU, 0, "asked for", false);
    }

    /** GPU number {@code index}; throws with the reason when CUDA is not usable here. */
    public static Device cuda(int index) {
        Accelerator.Availability cuda = cudaAvailability();
        if (!cuda.usable()) {
            throw new BackendException("device cuda:" + index + " was asked for, but " + cuda.reason());
        }
        if (index < 0 || index >= cuda.devices()) {
            throw new BackendException("expected a CUDA device from 0 to " + (cuda.devices() - 1) + ", received cuda:" + index);
        }
        return new Device(Kind.CUDA, index, "asked for", false);
    }

    /** The device named by the system property osprey.device, else the best usable one. */
    public static Device auto() {
        String forced = System.getProperty("osprey.device");
        if (forced != null && !forced.isBlank() && !forced.trim().equalsIgnoreCase("auto")) {
            return parse(forced);
        }
        Accelerator.Availability cuda = cudaAvailability();
        Device chosen = cuda.usable()
                ? new Device(Kind.CUDA, 0, cuda.reason(), true)
                : new Device(Kind.CPU, 0, "no usable GPU: " + cuda.reason(), true);
        logChoiceOnce(chosen.kind == Kind.CUDA ? "device " + chosen : "device cpu (no usable GPU)", chosen.reason);
        return chosen;
    }

    /** The automatic choice, in one short line once per process; its full reason at debug level. */
    private static void logChoiceOnce(String line, String reason) {
        if (CHOICE_LOGGED.compareAndSet(false, true)) {
            LOG.info(line);
        }
        LOG.debug("device choice: {}", reason);
    }

    /** Whether CUDA is usable here (osprey-cuda on the class path, a driver, a device, the libraries), and why. */
    public static Accelerator.Availability cudaAvailability() {
        return Accelerator.cuda().probe();
    }

    /** "auto", "cpu", "cuda" or "cuda:N". */
    public static Device parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        if (n.equals("auto")) {
            return auto();
        }
        if (n.equals("cpu")) {
            return cpu();
        }
        if (n.equals("cuda")) {
            return cuda(0);
        }
        if (n.matches("cuda:\\d{1,4}")) {
            return cuda(Integer.parseInt(n.substring(5)));
        }
        throw new IllegalArgumentException("expected device auto, cpu, cuda or cuda:N, received '" + name + "'");
    }

    /** CPU or CUDA. */
    public Kind kind() {
        return kind;
    }

    /** The GPU's number (N in cuda:N); 0 for the CPU. */
    public int index() {
        return index;
    }

    /** Why this device was chosen. */
    public String reason() {
        return reason;
    }

    /**
     * This device's backend: one per device and process, made on first use (the GPU's self-check runs then, once) and
     * shared by every model on the device; models own their tensors, not the backend, so nobody closes it. A GPU
     * picked automatically that fails to open (or fails its self-check) gives way to the CPU with a logged reason;
     * one asked for by name throws, every time it is asked for.
     */
    public Backend backend() {
        if (kind == Kind.CPU) {
            return Engines.cpu();
        }
        return gpuOrCpu(automatic, () -> Engines.cuda(index));
    }

    /** The GPU's backend; where it can't be opened, the CPU's for an automatic choice, the reason thrown otherwise. */
    static Backend gpuOrCpu(boolean automatic, java.util.function.Supplier<Backend> gpu) {
        try {
            return gpu.get();
        } catch (BackendException e) {
            if (!automatic) {
                throw e;
            }
            LOG.warn("device cpu (the GPU could not be used: {})", e.getMessage());
            return Engines.cpu();
        }
    }

    /**
     * What opening GPU index through accelerator gave: its backend, or why it can't be used as a BackendException
     * (also where the open failed with another exception or a linkage error: a defect or a broken install, not the
     * device's answer, but still a GPU that cannot be used, which an automatic choice gives up for the CPU).
     */
    static Object opened(java.util.function.Supplier<Accelerator> accelerator, int index) {
        try {
            return accelerator.get().open(index); // loading the accelerator may fail too (a class that won't link)
        } catch (BackendException e) {
            return e;
        } catch (RuntimeException | LinkageError e) {
            return new BackendException("the GPU backend failed to open (" + e + ")", e);
        }
    }

    /** The process-wide backends, one per device. */
    private static final class Engines {
        private static CpuBackend cpu;
        private static final java.util.Map<Integer, Object> cuda = new java.util.HashMap<>();

        private Engines() {
        }

        static synchronized Backend cpu() {
            if (cpu == null) {
                cpu = new CpuBackend();
            }
            return cpu;
        }

        /** The GPU's backend, or the reason it could not be opened (remembered: a failed GPU is not retried). */
        static synchronized Backend cuda(int index) {
            Object engine = cuda.get(index);
            if (engine == null) {
                engine = opened(Accelerator::cuda, index);
                cuda.put(index, engine);
            }
            if (engine instanceof BackendException e) {
                throw new BackendException(e.getMessage(), e);
            }
            return (Backend) engine;
        }
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
