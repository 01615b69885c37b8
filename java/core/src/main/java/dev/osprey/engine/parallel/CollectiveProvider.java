package dev.osprey.engine.parallel;

import dev.osprey.backend.Backend;
import java.util.List;
import java.util.ServiceLoader;

/**
 * A faster way than host memory for replicas on an accelerator's devices to talk (osprey-cuda provides NCCL), found
 * through {@link ServiceLoader}. {@link #open} returns null for backends it does not serve, and throws a
 * {@link dev.osprey.backend.BackendException} saying why it can't serve backends it should (no NCCL library, say).
 */
public interface CollectiveProvider {
    /** A communicator with one rank per backend, in order, or null when these backends are not this provider's. */
    Communicator open(List<Backend> backends);

    /**
     * The best communicator for these backends: a provider's, else {@link HostCommunicator}; why a provider that
     * should have served them could not goes to the log (the training still runs, summing through host memory).
     */
    static Communicator best(List<Backend> backends) {
        for (CollectiveProvider p : ServiceLoader.load(CollectiveProvider.class, CollectiveProvider.class.getClassLoader())) {
            try {
                Communicator c = p.open(backends);
                if (c != null) {
                    return c;
                }
            } catch (RuntimeException | LinkageError e) {
                org.slf4j.LoggerFactory.getLogger(CollectiveProvider.class).warn(
                        "data parallel: gradients are summed through host memory, since {} could not: {}",
                        p.getClass().getSimpleName(), e.getMessage());
            }
        }
        return new HostCommunicator(backends);
    }
}
