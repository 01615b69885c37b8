package dev.osprey.engine.parallel;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.function.IntFunction;

/**
 * Collectives through host memory: each rank copies its tensor out, the last rank to arrive sums (or picks the root's
 * values) in rank order, and each rank copies the result back in. Works between any backends, so N replicas on the CPU
 * backend test the data-parallel path without a GPU; between GPUs an NCCL communicator replaces it. A rank that waits
 * longer than the timeout for the others (one of them hung, or never called) fails the collective for every rank,
 * naming the ranks that did not arrive.
 */
public final class HostCommunicator implements Communicator {
    /** How long a rank waits in a collective for the others by default (PyTorch's process groups wait 30 minutes). */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(30);

    private final int size;
    private final IntFunction<Backend> backendOf;
    private final long timeoutNanos;
    private final float[][] staged;
    private final long[] arrivedIn; // per rank, the generation it last arrived in
    private float[] result = new float[0];
    private int arrived;
    private long generation;
    private int failedRank = -1;
    private Throwable failure;
    private boolean closed;

    /** One rank per backend, in order (the same backend may appear several times); the default timeout. */
    public HostCommunicator(List<Backend> backends) {
        this(backends, DEFAULT_TIMEOUT);
    }

    /** One rank per backend, in order; a rank waits at most timeout for the others in a collective. */
    public HostCommunicator(List<Backend> backends, Duration timeout) {
        this(backends.size(), List.copyOf(backends)::get, timeout);
    }

    /**
     * size ranks, rank r copying its tensors through backendOf(r), looked up at each collective (so a rank may name
     * its backend when it joins, as Spark's tasks do); a rank waits at most timeout for the others.
     */
    public HostCommunicator(int size, IntFunction<Backend> backendOf, Duration timeout) {
        if (size <= 0) {
            throw new IllegalArgumentException("communicator: expected at least one rank, received " + size);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("communicator: expected a timeout > 0, received " + timeout);
        }
        this.size = size;
        this.backendOf = backendOf;
        this.timeoutNanos = timeout.toNanos();
        this.staged = new float[size][];
        this.arrivedIn = new long[size];
        Arrays.fill(arrivedIn, -1);
    }

    @Override
    public int size() {
        return size;
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
        Backend backend = backendOf.apply(rank);
        backend.copyOut(data, mine, 0);
        float[] out;
        synchronized (this) {
            throwIfFailed();
            staged[rank] = mine;
            long entered = generation;
            arrivedIn[rank] = entered;
            arrived++;
            if (arrived == size()) {
                combine((int) n, root);
                arrived = 0;
                generation++;
                notifyAll();
            } else {
                long deadline = System.nanoTime() + timeoutNanos;
                while (generation == entered && failure == null && !closed) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        List<Integer> absent = missing(entered);
                        abortLocked(absent.get(0), new TimeoutException("rank " + rank + " waited "
                                + Duration.ofNanos(timeoutNanos) + " in a collective for rank(s) " + absent + " of "
                                + size + ", which did not arrive"));
                        break;
                    }
                    try {
                        java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(this, left);
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
        backend.copyIn(out, 0, data);
    }

    /** The ranks that have not arrived in this generation's collective. */
    private List<Integer> missing(long generation) {
        List<Integer> ranks = new java.util.ArrayList<>();
        for (int r = 0; r < size; r++) {
            if (arrivedIn[r] != generation) {
                ranks.add(r);
            }
        }
        return ranks;
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
