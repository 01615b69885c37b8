package dev.osprey.backend;

/**
 * One step of fixed shapes (a training step, or a forward pass for prediction) that a backend may record once and
 * replay (CUDA graphs), so that a step costs one launch instead of one per op. Made by {@link Backend#newStepGraph},
 * one per batch size and kind of step; freed by its backend's close.
 *
 * <p>The caller runs the same Java step every time, and the step must call the same ops on the same tensors each
 * time, with only op scalars changing (Adam's step number, dropout seeds): a recording backend checks this and
 * throws {@link IllegalStateException} when the step changed. The step may run more than once per call (a failed
 * recording is followed by an eager run), so it must <em>set</em> any Java state it changes, not increment it.
 * It must not copy in or out, allocate, or fill: those belong before or after {@link #run}.
 */
public interface StepGraph {
    /** Runs the step: eagerly, recording it, or replaying the recording, as the backend sees fit. */
    void run(Runnable step);

    /** One line for logs: "eager", "recorded", "replaying", or why recording was given up. */
    String state();

    /** The step run as it is, every time: for backends with nothing to record. */
    StepGraph EAGER = new StepGraph() {
        @Override
        public void run(Runnable step) {
            step.run();
        }

        @Override
        public String state() {
            return "eager";
        }
    };
}
