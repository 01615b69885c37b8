package dev.osprey.engine.parallel;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Collectives through host memory: each rank copies its tensor out, the last rank to arrive sums (or picks the root's
 * values) in rank order, and each rank copies the result back in. Works between any backends, so N replicas on the CPU
 * backend test the data-parallel path without a GPU; between GPUs an NCCL communicator replaces it.
 */
public final class HostCommunicator implements Communicator {
    private final List<Backend> backends;
    private final float[][] staged;
    private float[] result = new float[0];
    private int arrived;
    private long generation;
    private int failedRank = -1;
    private Throwable failure;
    private boolean closed;

    /** One rank per backend, in order (the same backend may appear several times). */
    public HostCommunicator(List<Backend> backends) {
        if (backends.isEmpty()) {
            throw new IllegalArgumentException("communicator: expected at least one rank, received none");
        }
        this.backends = List.copyOf(backends);
        this.staged = new float[backends.size()][];
    }

    @Override
    public int size() {
        return backends.size();
    }

    @Override
    public void allReduceSum(int rank, Tensor data) {
        collective(rank, data, -1);
    }

    @Override
    public void broadcast(int rank, Tensor data, int root) {
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("broadcast: expected a root rank in [0, " + size() + "), received "
                    + root);
        }
        collective(rank, data, root);
    }

    /** root < 0: sum; else the root's values. */
    private void collective(int rank, Tensor data, int root) {
        checkRank(rank);
        long n = data.size();
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("communicator: expected at most " + Integer.MAX_VALUE + " values, "
                    + "received " + n);
        }
        float[] mine = staged[rank] != null && staged[rank].length == n ? staged[rank] : new float[(int) n];
        backends.get(rank).copyOut(data, mine, 0);
        float[] out;
        synchronized (this) {
            throwIfFailed();
            staged[rank] = mine;
            long entered = generation;
            arrived++;
            if (arrived == size()) {
                combine((int) n, root);
                arrived = 0;
                generation++;
                notifyAll();
            } else {
                while (generation == entered && failure == null && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        abortLocked(rank, e);
                    }
                }
                if (generation == entered) {
                    throwIfFailed();
                }
            }
            out = result;
        }
        backends.get(rank).copyIn(out, 0, data);
    }

    /** Sums (or picks the root's values) into a fresh result array, so that ranks still copying it in keep theirs. */
    private void combine(int n, int root) {
        for (int r = 0; r < size(); r++) {
            if (staged[r].length != n) {
                abortLocked(r, new IllegalArgumentException("communicator: expected " + n + " values from every rank, "
                        + "received " + staged[r].length + " from rank " + r));
                throwIfFailed();
            }
        }
        float[] sum;
        if (root >= 0) {
            sum = staged[root].clone();
        } else {
            sum = staged[0].clone();
            for (int r = 1; r < size(); r++) {
                float[] part = staged[r];
                for (int i = 0; i < n; i++) {
                    sum[i] += part[i];
                }
            }
        }
        result = sum;
    }

    @Override
    public synchronized void abort(int rank, Throwable cause) {
        abortLocked(rank, cause);
    }

    private void abortLocked(int rank, Throwable cause) {
        if (failure == null) {
            failure = cause;
            failedRank = rank;
        }
        notifyAll();
    }

    private void throwIfFailed() {
        if (failure != null) {
            throw new ReplicaFailedException(failedRank, size(), failure);
        }
        if (closed) {
            throw new IllegalStateException("communicator: closed");
        }
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= size()) {
            throw new IllegalArgumentException("communicator: expected a rank in [0, " + size() + "), received " + rank);
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        Arrays.fill(staged, null);
        notifyAll();
    }
}
