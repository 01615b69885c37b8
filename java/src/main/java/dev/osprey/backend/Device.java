package dev.osprey.backend;

import dev.osprey.backend.cpu.CpuBackend;
import java.util.Locale;
import java.util.logging.Logger;

/**
 * Where a model runs. {@link #auto()} honours {@code -Dosprey.device=cpu|cuda|cuda:N|auto}; without it the best
 * usable device is chosen and the choice is logged in one line with its reason.
 */
public final class Device {
    private static final Logger LOG = Logger.getLogger(Device.class.getName());

    public enum Kind { CPU, CUDA }

    private final Kind kind;
    private final int index;
    private final String reason;

    private Device(Kind kind, int index, String reason) {
        this.kind = kind;
        this.index = index;
        this.reason = reason;
    }

    public static Device cpu() {
        return new Device(Kind.CPU, 0, "asked for");
    }

    /** The device named by the system property osprey.device, else the best usable one. */
    public static Device auto() {
        String forced = System.getProperty("osprey.device");
        if (forced != null && !forced.isBlank() && !forced.equalsIgnoreCase("auto")) {
            return parse(forced);
        }
        Device chosen = new Device(Kind.CPU, 0, "no GPU backend is built into this version of Osprey");
        LOG.info(() -> "Osprey device: cpu (" + chosen.reason + ")");
        return chosen;
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
        if (n.equals("cuda") || n.matches("cuda:\\d+")) {
            throw new BackendException("device '" + name + "' was asked for, but this version of Osprey has no CUDA "
                    + "backend yet; use --device cpu (or leave the device on auto)");
        }
        throw new IllegalArgumentException("expected device auto, cpu, cuda or cuda:N, received '" + name + "'");
    }

    public Kind kind() {
        return kind;
    }

    public int index() {
        return index;
    }

    /** Why this device was chosen. */
    public String reason() {
        return reason;
    }

    /** A new backend on this device; the caller owns and closes it. */
    public Backend open() {
        return switch (kind) {
            case CPU -> new CpuBackend();
            case CUDA -> throw new BackendException("no CUDA backend in this version of Osprey");
        };
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
