package dev.osprey.backend;

/**
 * Inference ops a backend runs one after the other in a single call ({@link Backend#runChain}), appended once by an
 * optimized inference plan ({@link Backend#chainConv2dInference}) on the tensors it will always pass them: per call
 * the ops then cost no lookups, checks or native crossings each, and the CPU backend forks its OpenMP team once for
 * them all. Owned by the plan that made it, closed with it.
 */
public interface OpChain extends AutoCloseable {
    /** How many ops were appended. */
    int ops();

    @Override
    void close();
}
