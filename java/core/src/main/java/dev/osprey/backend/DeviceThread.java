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
 * <p>The hand-over costs microseconds: this thread polls for up to a millisecond after each task before parking
 * (yielding the core between polls), so back-to-back calls don't pay a futex wake-up to start. The caller parks while
 * its task runs: polling there made a third runnable thread beside oneDNN's two on a two-core machine, and the
 * scheduler's 4 ms time slices showed up as a 4 ms p99 on ResNet-20's 0.45 ms batch-1 latency (2.7 ms parked, the
 * median unchanged; benchmarks/results/inference-vs-peers-*.md). Work submitted from this thread itself (a callback
 * inside fit that predicts) runs at once.
 */
public final class DeviceThread {
    /** How long this thread polls for the next task before parking; polling yields the core between polls. */
    private static final long POLL_NANOS = 1_000_000;

    private final Thread thread;
    private final ConcurrentLinkedQueue<Task<?>> tasks = new ConcurrentLinkedQueue<>();

    /** Starts the thread, a daemon with this name; it serves until the JVM exits (nothing stops it). */
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
        tasks.add(task);
        LockSupport.unpark(thread);
        return task.await();
    }

    /** Runs {@code work} on the calling thread, its exceptions rethrown as {@link #call} rethrows them. */
    public static <T> T callHere(Callable<T> work) {
        return Task.callDirectly(work);
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

        T await() {
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
            throw new BackendException("compute failed: " + t, t);
        }
    }
}
