package dev.osprey.spark;

import dev.osprey.backend.Device;
import dev.osprey.engine.parallel.Communicator;
import java.io.Serializable;

/**
 * How the tasks of a barrier stage become the ranks of one communicator. Rank 0 makes a token; Spark's
 * {@code BarrierTaskContext.allGather} hands it to every task; each task joins with it. For NCCL the token would
 * carry {@code ncclGetUniqueId}'s bytes and join would call {@code ncclCommInitRank}; {@link LocalRendezvous} is the
 * in-JVM one, for Spark's local mode.
 */
public interface CommunicatorFactory extends Serializable {
    /** Called by rank 0 only: the token every rank of this training joins with. */
    String newToken(int ranks);

    /**
     * This rank's communicator of {@code ranks} ranks, for tensors on device (the task's: its Spark-assigned GPU, say);
     * returns once it can be used.
     */
    Communicator join(String token, int rank, int ranks, Device device);

    /** This rank is done with the communicator (its resources go when every rank has left). */
    void leave(String token, int rank);
}
