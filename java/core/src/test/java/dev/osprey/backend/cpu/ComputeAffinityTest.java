package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Where the CPU backend's compute runs, and that it never runs on two threads at once. */
@Timeout(60) // a deadlock fails the test instead of hanging the build
class ComputeAffinityTest {
    private static final long TIMEOUT = 60;

    private static String where(ComputeAffinity affinity) {
        return affinity.run(() -> Thread.currentThread().getName());
    }

    @Test
    void eachModeRunsComputeWhereItSays() throws Exception {
        ComputeAffinity caller = new ComputeAffinity(ComputeAffinity.Mode.CALLER, "unused");
        assertEquals(Thread.currentThread().getName(), where(caller));
        CompletableFuture<String> fromOther = new CompletableFuture<>();
        Thread other = new Thread(() -> fromOther.complete(where(caller)), "other-caller");
        other.start();
        assertEquals("other-caller", fromOther.get(TIMEOUT, TimeUnit.SECONDS));

        ComputeAffinity device = new ComputeAffinity(ComputeAffinity.Mode.DEVICE_THREAD, "test-device");
        assertEquals("test-device", where(device));
        assertEquals("test-device", CompletableFuture.supplyAsync(() -> where(device)).get(TIMEOUT, TimeUnit.SECONDS));
    }

    /** Compute that computes again runs at once, where the outer call runs, instead of waiting for itself. */
    @Test
    void reEntryRunsAtOnce() {
        for (ComputeAffinity.Mode mode : ComputeAffinity.Mode.values()) {
            ComputeAffinity affinity = new ComputeAffinity(mode, "test-reentry");
            assertEquals(7, (int) affinity.run(() -> affinity.run(() -> 7)), mode.name());
        }
    }

    /**
     * In caller mode, a second thread's compute waits while the first is inside its own: the second thread is parked
     * until the first returns, and the two never overlap.
     */
    @Test
    void callersTakeTurns() throws Exception {
        ComputeAffinity affinity = new ComputeAffinity(ComputeAffinity.Mode.CALLER, "unused");
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        CompletableFuture<String> second = new CompletableFuture<>();
        CountDownLatch secondStarted = new CountDownLatch(1);
        affinity.run(() -> {
            most.accumulateAndGet(inside.incrementAndGet(), Math::max);
            Thread t = new Thread(() -> {
                secondStarted.countDown();
                second.complete(affinity.run(() -> {
                    most.accumulateAndGet(inside.incrementAndGet(), Math::max);
                    inside.decrementAndGet();
                    return Thread.currentThread().getName();
                }));
            }, "second-caller");
            t.start();
            assertTrue(secondStarted.await(TIMEOUT, TimeUnit.SECONDS));
            while (!affinity.isWaiting(t) && !second.isDone()) { // queued for the lock, or (a bug) done
                Thread.onSpinWait();
            }
            assertFalse(second.isDone(), "the second call ran while the first was still computing");
            inside.decrementAndGet();
            return null;
        });
        assertEquals("second-caller", second.get(TIMEOUT, TimeUnit.SECONDS));
        assertEquals(1, most.get(), "two computations overlapped");
    }

    @Test
    void errorsComeBackToTheCallerAndTheNextCallRuns() {
        for (ComputeAffinity.Mode mode : ComputeAffinity.Mode.values()) {
            ComputeAffinity affinity = new ComputeAffinity(mode, "test-errors");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> affinity.run(() -> { throw new IllegalArgumentException("from the work"); }));
            assertEquals("from the work", e.getMessage());
            assertFalse(affinity.isRunning(), mode + ": the failed call left the lock held");
            assertEquals("still serving", CompletableFuture.supplyAsync(() -> affinity.run(() -> "still serving"))
                    .orTimeout(TIMEOUT, TimeUnit.SECONDS).join(), mode + ": another thread's next call");
        }
    }
}
