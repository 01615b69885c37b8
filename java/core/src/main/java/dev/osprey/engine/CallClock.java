package dev.osprey.engine;

import dev.osprey.backend.Backend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Times each layer call of a plan's forward and backward passes, for a per-layer profile: a plan given one reads it
 * before and after every call (or every chain of calls the backend runs as one). On a backend that queues its work (a
 * GPU) each reading first waits for the queue to drain, so every call is timed alone: the calls then no longer
 * overlap, and the profile's sum is larger than a step's usual time. Not thread-safe: one pass at a time.
 */
public final class CallClock {
    private final Backend backend;
    private final LongSupplier nanoTime;
    private final long[] forwardNanos;
    private final long[] backwardNanos;
    private final int[] forwardCalls;
    private final int[] backwardCalls;
    /** Chains (a stretch of calls run as one), by their calls' node indices, with their time and count. */
    private final Map<List<Integer>, long[]> chains = new LinkedHashMap<>();
    private long started;

    /** A clock for plans of `nodes` calls on backend. */
    public CallClock(Backend backend, int nodes) {
        this(backend, nodes, System::nanoTime);
    }

    /** The same, reading time from nanoTime (tests give a scripted one). */
    CallClock(Backend backend, int nodes, LongSupplier nanoTime) {
        this.backend = backend;
        this.nanoTime = nanoTime;
        forwardNanos = new long[nodes];
        backwardNanos = new long[nodes];
        forwardCalls = new int[nodes];
        backwardCalls = new int[nodes];
    }

    /** Starts timing a call: the backend's queued work done first. */
    void start() {
        backend.synchronize();
        started = nanoTime.getAsLong();
    }

    /** Ends the timing of node's forward call. */
    void forwardDone(int node) {
        forwardNanos[node] += elapsed();
        forwardCalls[node]++;
    }

    /** Ends the timing of node's backward call. */
    void backwardDone(int node) {
        backwardNanos[node] += elapsed();
        backwardCalls[node]++;
    }

    /** Ends the timing of a chain that ran these nodes' forward calls as one. */
    void chainDone(List<Integer> nodes) {
        long[] entry = chains.computeIfAbsent(List.copyOf(nodes), k -> new long[2]);
        entry[0] += elapsed();
        entry[1]++;
    }

    private long elapsed() {
        backend.synchronize();
        return nanoTime.getAsLong() - started;
    }

    /** Nanoseconds spent in node's forward calls, in all; node indices are the graph's. */
    public long forwardNanos(int node) {
        return forwardNanos[node];
    }

    /** Node's forward calls timed on their own (not in a chain). */
    public int forwardCalls(int node) {
        return forwardCalls[node];
    }

    /** Nanoseconds spent in node's backward calls, in all. */
    public long backwardNanos(int node) {
        return backwardNanos[node];
    }

    /** Node's backward calls timed. */
    public int backwardCalls(int node) {
        return backwardCalls[node];
    }

    /** Each chain's calls (node indices, in order) and its total nanoseconds and runs, in the order first seen. */
    public List<Chain> chains() {
        List<Chain> out = new ArrayList<>();
        chains.forEach((nodes, v) -> out.add(new Chain(nodes, v[0], (int) v[1])));
        return out;
    }

    /** Clears every figure. */
    public void reset() {
        Arrays.fill(forwardNanos, 0);
        Arrays.fill(backwardNanos, 0);
        Arrays.fill(forwardCalls, 0);
        Arrays.fill(backwardCalls, 0);
        chains.clear();
    }

    /**
     * A stretch of calls the backend ran as one (one native crossing, layers fused): its time can't be split.
     *
     * @param nodes the calls' node indices, in order
     * @param nanos nanoseconds, in all
     * @param runs  times it ran
     */
    public record Chain(List<Integer> nodes, long nanos, int runs) {
    }
}
