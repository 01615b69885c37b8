package dev.osprey.engine.parallel;

/** A data-parallel step could not complete because one replica failed; the cause is that replica's error. */
public final class ReplicaFailedException extends RuntimeException {
    private final int rank;

    public ReplicaFailedException(int rank, int ranks, Throwable cause) {
        super("data-parallel training stopped: replica " + rank + " of " + ranks + " failed: "
                + (cause.getMessage() == null ? cause.toString() : cause.getMessage()), cause);
        this.rank = rank;
    }

    /** The rank that failed first. */
    public int rank() {
        return rank;
    }
}
