package dev.osprey.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.BackendException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The CUDA-graph recording protocol, driven through a fake driver, so it is checked on machines without a GPU.
 * Invariant in every test: each call of run does the step's work exactly once, either eagerly or by one launch.
 */
class StepRecorderTest {
    private final FakeDriver driver = new FakeDriver();
    private final StepRecorder recorder = new StepRecorder(driver);
    private final Object weights = new Object();
    private final Object activations = new Object();
    private long adamStep;
    private Object firstOperand = activations;
    private boolean copyInsideStep;
    private int runs;

    /** A training step: one plain op and one op with a per-step scalar (Adam's step), like the real one. */
    private void step() {
        if (copyInsideStep) {
            driver.copyIn();
        }
        driver.op("forward", firstOperand, null);
        driver.op("adam", weights, adamStep);
    }

    private void run(long step) {
        adamStep = step;
        runs++;
        recorder.run(this::step);
        assertEquals(runs, driver.eagerSteps() + driver.launches.size(), "each run does the step exactly once");
    }

    @Test
    void warmsUpEagerlyThenCapturesThenReplaysWithEachStepsScalars() {
        run(1);
        assertEquals(List.of("forward", "adam 1"), driver.executed);
        assertEquals(StepRecorder.Phase.CAPTURE, recorder.phase());

        run(2);
        assertEquals(List.of("forward", "adam"), driver.captured, "the second step is captured, not run");
        assertEquals(1, driver.launches.size());
        assertArrayEquals(new long[] {2}, driver.launches.get(0));

        run(3);
        run(4);
        assertEquals(2, driver.executed.size(), "replayed steps queue no ops of their own");
        assertEquals(3, driver.launches.size());
        assertArrayEquals(new long[] {3}, driver.launches.get(1));
        assertArrayEquals(new long[] {4}, driver.launches.get(2));
        assertEquals(StepRecorder.Phase.REPLAY, recorder.phase());
        assertEquals("replaying a CUDA graph", recorder.state());
    }

    @Test
    void aStepThatChangedRunsEagerlyOnceAndIsRecordedAgain() {
        run(1);
        run(2);
        firstOperand = new Object(); // e.g. another tensor
        run(3);
        assertEquals(List.of("forward", "adam 1", "forward", "adam 3"), driver.executed);
        assertEquals(1, driver.destroyed, "the stale recording is freed");
        run(4);
        assertEquals(2, driver.captures);
        run(5);
        assertArrayEquals(new long[] {5}, driver.launches.get(driver.launches.size() - 1));
        assertEquals(StepRecorder.Phase.REPLAY, recorder.phase());
    }

    @Test
    void aStepThatKeepsChangingIsGivenUpAndRunsEagerly() {
        run(1);
        for (int i = 2; i < 20; i++) {
            firstOperand = new Object();
            run(i);
        }
        assertEquals(StepRecorder.Phase.EAGER, recorder.phase());
        assertTrue(recorder.state().contains("changed after each of " + StepRecorder.MAX_RECORDINGS), recorder.state());
        assertEquals(StepRecorder.MAX_RECORDINGS, driver.captures);
    }

    @Test
    void aFailedCaptureRunsTheStepEagerlyAndGraphsStayOff() {
        driver.failEndCapture = true;
        run(1);
        run(2);
        assertEquals(List.of("forward", "adam 1", "forward", "adam 2"), driver.executed);
        assertEquals(StepRecorder.Phase.EAGER, recorder.phase());
        assertTrue(recorder.state().startsWith("eager: the step could not be captured (cudaStreamEndCapture"),
                recorder.state());
        assertEquals(1, driver.abandoned, "the error the failed capture left is cleared");
        run(3);
        assertEquals(0, driver.launches.size());
        assertEquals(1, driver.captures);
    }

    @Test
    void aCopyInsideTheStepAbandonsTheCaptureAndTheStepStillRuns() {
        copyInsideStep = true;
        run(1);
        run(2);
        assertEquals(1, driver.abandoned, "the open capture is ended and its error cleared");
        assertEquals(2, driver.copies, "the copy ran in the warm-up and in the eager re-run");
        assertTrue(recorder.state().contains("copyIn was called inside a recorded training step"), recorder.state());
    }

    @Test
    void aReallocatedWorkspaceForcesANewRecording() {
        run(1);
        run(2);
        run(3);
        driver.generation++; // e.g. a larger batch's plan grew the cuDNN workspace
        run(4);
        assertEquals(2, driver.captures);
        assertEquals(1, driver.destroyed);
        assertArrayEquals(new long[] {4}, driver.launches.get(driver.launches.size() - 1));
    }

    @Test
    void tooManyScalarsInOneStepIsRefusedClearly() {
        StepRecorder r = new StepRecorder(driver);
        for (int i = 0; i < StepRecorder.MAX_SCALARS; i++) {
            r.scalar(i);
        }
        BackendException e = org.junit.jupiter.api.Assertions.assertThrows(BackendException.class, () -> r.scalar(99));
        assertTrue(e.getMessage().contains("at most " + StepRecorder.MAX_SCALARS), e.getMessage());
    }

    /** Plays the backend (ops that note themselves) and the CUDA calls (capture, launch) at once. */
    private static final class FakeDriver implements StepRecorder.Driver {
        final List<String> executed = new ArrayList<>();
        final List<String> captured = new ArrayList<>();
        final List<long[]> launches = new ArrayList<>();
        long generation;
        boolean failEndCapture;
        int captures;
        int destroyed;
        int abandoned;
        int copies;
        private StepRecorder routed;
        private boolean capturing;

        void op(String name, Object operand, Long scalar) {
            if (routed != null && scalar != null) {
                routed.scalar(scalar);
            }
            if (routed != null && routed.note(name, operand, null, null, null, null)) {
                return;
            }
            if (capturing) {
                captured.add(name);
            } else {
                executed.add(scalar == null ? name : name + " " + scalar);
            }
        }

        void copyIn() {
            if (routed != null) {
                throw routed.notRecordable("copyIn");
            }
            copies++;
        }

        int eagerSteps() {
            return (int) executed.stream().filter(s -> s.startsWith("adam")).count();
        }

        @Override
        public long generation() {
            return generation;
        }

        @Override
        public void route(StepRecorder recorder) {
            routed = recorder;
        }

        @Override
        public void beginCapture() {
            capturing = true;
            captures++;
            captured.clear();
        }

        @Override
        public Object endCapture() {
            capturing = false;
            if (failEndCapture) {
                throw new BackendException("cudaStreamEndCapture failed: operation not permitted when stream is capturing");
            }
            return new Object();
        }

        @Override
        public void abandonCapture() {
            capturing = false;
            abandoned++;
        }

        @Override
        public void launch(Object recording, long[] scalars, int count) {
            launches.add(java.util.Arrays.copyOf(scalars, count));
        }

        @Override
        public void destroy(Object recording) {
            destroyed++;
        }
    }
}
