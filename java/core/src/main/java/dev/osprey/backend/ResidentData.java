package dev.osprey.backend;

/**
 * A whole training set kept where the backend computes (on a GPU: in device memory), with its target rows, so that
 * each step gathers its batch there by sample index instead of copying it in from Java. Made by
 * {@link Backend#keepResident}; owned by the caller, who closes it when training ends.
 */
public interface ResidentData extends AutoCloseable {
    /** How many samples the set holds. */
    int samples();

    /** Where the data lives and in what form, for the log; e.g. "device memory, 45.9 MiB as byte codes". */
    String description();

    /** Sets the sample order of the epoch: a permutation of 0..samples-1 (copied; used by {@link #gather}). */
    void startEpoch(int[] order);

    /** Writes samples order[from .. from + count) to x (count, sample shape...) and their targets (count, classes). */
    void gather(int from, int count, Tensor x, Tensor targets);

    @Override
    void close();
}
