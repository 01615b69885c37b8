package dev.osprey.backend.cuda;

import dev.osprey.backend.BackendException;
import dev.osprey.backend.StepGraph;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * The recording protocol behind CUDA graphs, kept free of CUDA calls (a {@link Driver} makes them) so that it can
 * be tested anywhere.
 *
 * <ol>
 *   <li>First call: the step runs eagerly. Plans, algorithm searches and workspaces are made here, outside any
 *       capture.</li>
 *   <li>Second call: the step's ops are captured instead of run, each noting its op and tensors here; op scalars
 *       that change per step (Adam's step size, dropout seeds) go to a scalar block that the graph reads from
 *       device memory. The graph is then launched once.</li>
 *   <li>Later calls: the Java step runs again but its ops only note themselves and write their scalars; if they
 *       match the recording, the scalars are uploaded and the graph launched: one launch per step.</li>
 * </ol>
 * A step that differs from its recording runs eagerly and is recorded again; one that cannot be captured, or keeps
 * changing, runs eagerly from then on, with the reason logged once. Nothing of a step has run when it is replayed
 * or captured, so re-running it eagerly after a failure runs it exactly once.
 */
final class StepRecorder implements StepGraph {
    private static final Logger LOG = Logger.getLogger(StepRecorder.class.getName());
    static final int MAX_SCALARS = 64;
    static final int MAX_RECORDINGS = 4;

    /** The CUDA calls of the protocol. */
    interface Driver {
        /** Changes whenever memory that recordings point into is reallocated (the cuDNN workspace). */
        long generation();

        /** Routes the backend's ops to this recorder, or back to running eagerly with null. */
        void route(StepRecorder recorder);

        void beginCapture();

        /** Ends the capture and makes it launchable; throws when the capture failed. */
        Object endCapture();

        /** Ends the capture if one is still open after a failure, and clears the error the failure left. */
        void abandonCapture();

        /**
         * Uploads scalars[0, count) to the device block (once the previous launch has read it), then launches the
         * recording.
         */
        void launch(Object recording, long[] scalars, int count);

        void destroy(Object recording);
    }

    enum Phase { WARM_UP, CAPTURE, REPLAY, EAGER }

    private final Driver driver;
    private final long[] scalars = new long[MAX_SCALARS];
    private final List<Object> capturedArguments = new ArrayList<>();
    private Object[] recordedArguments = new Object[0];
    private Object recording;
    private long generation;
    private Phase phase = Phase.WARM_UP;
    private boolean replaying;
    private boolean mismatch;
    private int cursor;
    private int scalarCount;
    private int recordings;
    private String reason = "";

    StepRecorder(Driver driver) {
        this.driver = driver;
    }

    @Override
    public void run(Runnable step) {
        if (phase == Phase.REPLAY && driver.generation() != generation) {
            drop(); // a buffer the graph points into was reallocated: record afresh
            phase = Phase.CAPTURE;
        }
        switch (phase) {
            case WARM_UP -> {
                step.run();
                phase = Phase.CAPTURE;
            }
            case CAPTURE -> capture(step);
            case REPLAY -> replay(step);
            case EAGER -> step.run();
        }
    }

    @Override
    public String state() {
        return switch (phase) {
            case WARM_UP, CAPTURE -> "eager (recording on the next step)";
            case REPLAY -> "replaying a CUDA graph";
            case EAGER -> "eager: " + reason;
        };
    }

    Phase phase() {
        return phase;
    }

    // ---- called by the backend's ops while routed here ----------------------------------------------------

    /**
     * Notes one op and its operands (tensors, specs; null for unused). Returns true when the op must not be
     * queued because the step is being replayed from its recording.
     */
    boolean note(String op, Object a, Object b, Object c, Object d, Object e) {
        if (!replaying) {
            capturedArguments.add(op);
            capturedArguments.add(a);
            capturedArguments.add(b);
            capturedArguments.add(c);
            capturedArguments.add(d);
            capturedArguments.add(e);
            return false;
        }
        if (cursor + 6 > recordedArguments.length) {
            mismatch = true;
            return true;
        }
        Object[] r = recordedArguments;
        int i = cursor;
        mismatch |= r[i] != op || r[i + 1] != a || r[i + 2] != b || r[i + 3] != c || r[i + 4] != d || r[i + 5] != e;
        cursor += 6;
        return true;
    }

    /** Places a scalar that changes per step; returns its slot in the device scalar block. */
    int scalar(long bits) {
        if (scalarCount == MAX_SCALARS) {
            throw new BackendException("a recorded step may change at most " + MAX_SCALARS + " scalars per step");
        }
        scalars[scalarCount] = bits;
        return scalarCount++;
    }

    /** An op that cannot be part of a recording was called inside the step. */
    IllegalStateException notRecordable(String op) {
        return new IllegalStateException(op + " was called inside a recorded training step; copies, fills and "
                + "allocations belong before or after the step");
    }

    // ---- the protocol -------------------------------------------------------------------------------------

    private void capture(Runnable step) {
        start(false);
        capturedArguments.clear();
        Object made;
        driver.route(this);
        try {
            driver.beginCapture();
            step.run();
            made = driver.endCapture();
        } catch (RuntimeException e) {
            driver.route(null);
            driver.abandonCapture();
            giveUp("the step could not be captured (" + e.getMessage() + ")");
            step.run(); // nothing of it has run
            return;
        } finally {
            driver.route(null);
        }
        recording = made;
        recordedArguments = capturedArguments.toArray();
        capturedArguments.clear();
        generation = driver.generation();
        recordings++;
        phase = Phase.REPLAY;
        driver.launch(recording, scalars, scalarCount);
    }

    private void replay(Runnable step) {
        start(true);
        driver.route(this);
        try {
            step.run();
        } finally {
            driver.route(null);
            replaying = false;
        }
        if (mismatch || cursor != recordedArguments.length) {
            drop();
            if (recordings >= MAX_RECORDINGS) {
                giveUp("the step changed after each of " + recordings + " recordings");
            } else {
                phase = Phase.CAPTURE;
            }
            step.run(); // nothing of it has run
            return;
        }
        driver.launch(recording, scalars, scalarCount);
    }

    private void start(boolean replay) {
        replaying = replay;
        mismatch = false;
        cursor = 0;
        scalarCount = 0;
    }

    private void giveUp(String why) {
        drop();
        phase = Phase.EAGER;
        reason = why;
        LOG.warning("osprey: CUDA graphs off for a step of fixed shapes, which now runs op by op: " + why);
    }

    private void drop() {
        if (recording != null) {
            driver.destroy(recording);
            recording = null;
        }
        recordedArguments = new Object[0];
    }

    /** Frees the recording; the backend calls this when it closes. */
    void close() {
        drop();
        phase = Phase.EAGER;
        reason = "closed";
    }
}
