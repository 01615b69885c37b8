package dev.osprey.engine.parallel;

import dev.osprey.backend.Tensor;

/**
 * Collective operations among the ranks of one data-parallel training: rank r's thread calls each operation with its
 * own tensor, every rank calls the same operations in the same order, and a call returns when the collective is
 * complete for that rank. The seam between the replicas and how their devices talk: {@link HostCommunicator} sums in
 * host memory (any backend, tested on the CPU); an NCCL communicator would do the same over NVLink between GPUs.
 *
 * <p>A rank that fails calls {@link #abort}: every rank waiting in, or later entering, a collective then throws
 * {@link ReplicaFailedException} naming the failed rank, so no rank waits forever for one that will not come.
 */
public interface Communicator extends AutoCloseable {
    /** The number of ranks. */
    int size();

    /**
     * Replaces rank's {@code data} with the element-wise sum of every rank's {@code data} (all the same size), the
     * sum taken in rank order so that every run gives the same bits.
     */
    void allReduceSum(int rank, Tensor data);

    /** Replaces rank's {@code data} with rank {@code root}'s (all the same size). */
    void broadcast(int rank, Tensor data, int root);

    /** Marks rank as failed with cause: the collectives now in progress and all later ones throw. */
    void abort(int rank, Throwable cause);

    /** Frees what the communicator holds; collectives then throw. */
    @Override
    void close();
}
