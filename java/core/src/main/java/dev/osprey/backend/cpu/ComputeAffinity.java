package dev.osprey.backend.cpu;

import dev.osprey.backend.BackendException;
import dev.osprey.backend.DeviceThread;
import java.util.concurrent.Callable;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Which Java thread the CPU backend's compute (a predict call, a training step) runs on. OpenMP keeps a pool of worker
 * threads per calling thread, and its workers spin after each parallel region: two Java threads calling oneDNN make
 * two pools fighting for the same cores.
 *
 * <ul>
 *   <li>{@link Mode#DEVICE_THREAD}, the default with more than one OpenMP thread: every call is handed to one
 *       {@link DeviceThread}, so there is one pool whichever threads ask (a server's request threads).
 *   <li>{@link Mode#CALLER} (-Dosprey.cpu.deviceThread=false; the default with one OpenMP thread, and the command
 *       line's where it computes from one thread): the caller runs its own compute, with no hand-over. A program with one
 *       calling thread (a batch job, a benchmark, a training loop) gains the hand-over's cost: on 2 AVX2 cores at
 *       batch 1 the caller ran the tutorial CNN in 42-59 µs where handing over took 52-80, ResNet-20 in 516-611 µs
 *       against 644-828, MobileNetV2 in 371-512 against 382-552 (interleaved runs).
 * </ul>
 *
 * <p>Either way compute never runs on two threads at once: a lock is held around each call. Several calling threads
 * in caller mode make a pool each, and then each pool's workers stop spinning early (OpenMP throttles them once its
 * threads outnumber the cores): measured with a second calling thread after a first, the tutorial CNN's batch-1
 * latency doubled (80 to 160-177 µs), ResNet-20's and MobileNetV2's 2.5x. Why no mode picks between the two by
 * itself: a pool lives as long as its thread, so a program that warmed up on its main thread and then served on
 * others would keep paying that.
 */
final class ComputeAffinity {
    /** Where compute runs; see the class comment. */
    enum Mode { CALLER, DEVICE_THREAD }

    private final Mode mode;
    /** Held around every unit of compute, wherever it runs. */
    private final ReentrantLock running = new ReentrantLock(true); // fair: callers take turns, first come first
    private final DeviceThread device; // null in caller mode

    /** @param threadName the device thread's name, where one is started */
    ComputeAffinity(Mode mode, String threadName) {
        this.mode = java.util.Objects.requireNonNull(mode, "mode");
        this.device = mode == Mode.DEVICE_THREAD ? new DeviceThread(threadName) : null;
    }

    /**
     * The mode -Dosprey.cpu.deviceThread asks for ({@code property}: true or false; null: a device thread where
     * OpenMP's team has more than one thread) for a team of {@code team} threads. With one thread there is no pool to
     * keep single, and the hand-over would only cost time: at OMP_NUM_THREADS=1 the tutorial CNN's batch-1 latency
     * fell from 160 to 91 µs, its p99.9 from 1.6 to 0.22 ms, on the caller
     * (benchmarks/results/latency-tails-2026-12-03T1105Z.md). A blank value counts as unset. Throws BackendException
     * for another value.
     */
    static Mode mode(String property, int team) {
        if (property == null || property.isBlank()) {
            return team > 1 ? Mode.DEVICE_THREAD : Mode.CALLER;
        }
        return switch (property.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "true" -> Mode.DEVICE_THREAD;
            case "false" -> Mode.CALLER;
            default -> throw new BackendException("-Dosprey.cpu.deviceThread: expected true or false (unset: a thread "
                    + "of its own only where OpenMP has more than one), received '" + property + "'");
        };
    }

    Mode mode() {
        return mode;
    }

    /** Whether thread waits for its turn to compute. Read by tests. */
    boolean isWaiting(Thread thread) {
        return running.hasQueuedThread(thread);
    }

    /** Whether a unit of compute runs now. Read by tests. */
    boolean isRunning() {
        return running.isLocked();
    }

    /** Runs {@code work} where this affinity says and returns its result; its exceptions are rethrown here. */
    <T> T run(Callable<T> work) {
        if (running.isHeldByCurrentThread()) { // re-entry (compute that computes again): run at once
            return DeviceThread.callHere(work);
        }
        if (device == null || device.isCurrent()) {
            running.lock();
            try {
                return DeviceThread.callHere(work);
            } finally {
                running.unlock();
            }
        }
        return device.call(() -> {
            running.lock();
            try {
                return work.call();
            } finally {
                running.unlock();
            }
        });
    }

}
