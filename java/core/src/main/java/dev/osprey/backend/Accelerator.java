package dev.osprey.backend;

import java.util.ServiceLoader;

/**
 * A GPU backend that lives in its own module (osprey-cuda), found through {@link ServiceLoader}, so that
 * osprey-core runs without CUDA's bindings on the class path. {@link Device} asks it whether a GPU is usable and
 * opens one backend per device through it.
 */
public interface Accelerator {
    /** Whether a GPU is usable here, how many there are, and why (or why not); probed once, then remembered. */
    Availability probe();

    /** The backend of GPU number {@code index}; a {@link BackendException} says why it could not be opened. */
    Backend open(int index);

    /** What a probe found. */
    record Availability(boolean usable, int devices, String reason) {
    }

    /** The CUDA accelerator on the class path, or one that explains its absence. */
    static Accelerator cuda() {
        return Holder.CUDA;
    }

    /** Loaded once, on first use: no class of osprey-cuda is touched before a device is chosen. */
    final class Holder {
        private static final Accelerator CUDA = ServiceLoader.load(Accelerator.class, Accelerator.class.getClassLoader())
                .findFirst().orElseGet(Missing::new);

        private Holder() {
        }
    }

    /** Stands in when osprey-cuda is not a dependency. */
    final class Missing implements Accelerator {
        private static final String REASON = "osprey-cuda is not on the class path (add the dev.osprey:osprey-cuda "
                + "dependency to use an NVIDIA GPU)";

        @Override
        public Availability probe() {
            return new Availability(false, 0, REASON);
        }

        @Override
        public Backend open(int index) {
            throw new BackendException("device cuda:" + index + " can't be opened: " + REASON);
        }
    }
}
