package dev.osprey.backend;

import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * The one platform thread a device's compute runs on, whichever Java thread asked for it. OpenMP (oneDNN's
 * threading on the CPU) keeps a pool of worker threads per calling thread, and its workers spin after each parallel
 * region: two Java threads calling oneDNN make two pools fighting for the same cores, and batch-1 latency grew
 * sevenfold once a second thread had predicted. With every call made from this thread there is one pool, sized to
 * the machine, and callers take turns at the granularity of a predict call or a training step.
 *
 * <p>The hand-over costs microseconds: both sides poll for up to a millisecond before parking, yielding the core
 * between polls (so the computation's own threads are never kept waiting), and back-to-back calls don't pay a futex
 * wake-up each. Work submitted from this thread itself (a callback inside fit that predicts) runs at once.
 */
public final class DeviceThread {
    /** How long each side polls before parking; polling yields, so a core the computation needs is never held. */
    private static final long POLL_NANOS = 1_000_000;

    private final Thread thread;
    private final ConcurrentLinkedQueue<Task<?>> tasks = new ConcurrentLinkedQueue<>();
    /** Callers waiting now: only a lone caller polls; with company, each parks (polling would steal the cores). */
    private final java.util.concurrent.atomic.AtomicInteger waiting = new java.util.concurrent.atomic.AtomicInteger();

    public DeviceThread(String name) {
        this.thread = new Thread(this::serve, name);
        thread.setDaemon(true); // holds no state worth a clean stop: the JVM may exit around it
        thread.start();
    }

    /** Runs {@code work} on this thread and returns its result; its exceptions are rethrown here. */
    public <T> T call(Callable<T> work) {
        if (Thread.currentThread() == thread) {
            return Task.callDirectly(work);
        }
        Task<T> task = new Task<>(work, Thread.currentThread());
        boolean alone = waiting.incrementAndGet() == 1;
        try {
            tasks.add(task);
            LockSupport.unpark(thread);
            return task.await(alone);
        } finally {
            waiting.decrementAndGet();
        }
    }

    /** True on the device thread itself. */
    public boolean isCurrent() {
        return Thread.currentThread() == thread;
    }

    private void serve() {
        while (true) {
            Task<?> task = tasks.poll();
            if (task == null) {
                task = spinForTask();
            }
            if (task == null) {
                LockSupport.park(this); // a permit from call()'s unpark makes this return at once: no lost wake-up
                continue;
            }
            task.run();
        }
    }

    private Task<?> spinForTask() {
        long until = System.nanoTime() + POLL_NANOS;
        while (System.nanoTime() < until) {
            Task<?> task = tasks.poll();
            if (task != null) {
                return task;
            }
            Thread.yield();
        }
        return null;
    }

    private static final class Task<T> {
        private final Callable<T> work;
        private final Thread waiter;
        private T result;
        private Throwable failure;
        private volatile boolean done;

        Task(Callable<T> work, Thread waiter) {
            this.work = work;
            this.waiter = waiter;
        }

        void run() {
            try {
                result = work.call();
            } catch (Throwable t) {
                failure = t;
            }
            done = true;
            LockSupport.unpark(waiter);
        }

        T await(boolean poll) {
            long until = poll ? System.nanoTime() + POLL_NANOS : 0;
            while (!done && System.nanoTime() < until) {
                Thread.yield();
            }
            boolean interrupted = false;
            while (!done) {
                LockSupport.park(this);
                interrupted |= Thread.interrupted(); // the work can't be abandoned half-done: finish, then re-flag
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            if (failure != null) {
                rethrow(failure);
            }
            return result;
        }

        static <T> T callDirectly(Callable<T> work) {
            try {
                return work.call();
            } catch (Throwable t) {
                rethrow(t);
                return null; // not reached
            }
        }

        private static void rethrow(Throwable t) {
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error e) {
                throw e;
            }
            throw new BackendException("device thread: " + t, t);
        }
    }
}
