package dev.osprey.engine;

import dev.osprey.backend.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * A layer planned for one batch size: its output (and input-gradient) tensors are allocated once when the model is
 * planned for that batch size, and reused every step.
 */
public interface LayerRun {
    /** (batch, output shape...), written by {@link #forward}. */
    Tensor output();

    /** Computes {@link #output()} from the input tensors this run was planned with; seed drives dropout. */
    void forward(long seed);

    /**
     * Whether this run does no work of its own (a layer folded into another, an activation a neighbour applies, a
     * view): a per-layer profile shows it without a time.
     */
    default boolean computesNothing() {
        return false;
    }

    /**
     * Appends this run's forward to chain where the backend can run it there entirely (an optimized inference plan's
     * runs), so that the plan runs the chain in its place: true; false leaves the chain as it was and the run runs on its
     * own. A run whose forward computes nothing says true and appends nothing.
     */
    default boolean chainForward(dev.osprey.backend.OpChain chain) {
        return false;
    }

    /**
     * Writes the parameter gradients and returns dL/dinput, one tensor per input (null where the plan asked for none).
     * Must not write {@code outputGradient}: it may be shared with other layers. Return the same list every step.
     */
    List<Tensor> backward(Tensor outputGradient);

    /**
     * {@link #backward(Tensor)}, where the run may add addends[i] (where not null: input i's gradient from its other
     * readers) to input i's gradient as it writes it, saving the plan a pass; added[i] (all false on entry) says which
     * it took. The default takes none.
     */
    default List<Tensor> backward(Tensor outputGradient, Tensor[] addends, boolean[] added) {
        return backward(outputGradient);
    }

    /**
     * {@link #backward(Tensor, Tensor[], boolean[])}, where gates[i] (where not null, beside addends[i] only) is the
     * {@link #reluGate} of input i's producer: a run that adds addends[i] may then also apply that ReLU's gradient to
     * the sum it writes (as the ReLU's own backward does from its output), and sets gated[i] (false on entry);
     * the producer's {@link #backwardGated} then skips it. The default takes no gate.
     */
    default List<Tensor> backward(Tensor outputGradient, Tensor[] addends, Tensor[] gates, boolean[] added,
                                  boolean[] gated) {
        return backward(outputGradient, addends, added);
    }

    /**
     * The output of a plain ReLU this run's backward differentiates first (from the output: dOutput where it is above
     * 0), which a reader's backward may apply instead as it writes the output's gradient; null where none.
     */
    default Tensor reluGate() {
        return null;
    }

    /** {@link #backward(Tensor)} for an output gradient a reader already gated by {@link #reluGate}: skips that step. */
    default List<Tensor> backwardGated(Tensor outputGradient) {
        throw new UnsupportedOperationException("backwardGated: this run has no ReLU gate (reluGate is null)");
    }

    /** The forward half of a run: computes its output from the inputs it was planned with. */
    interface Forward {
        /** Computes the output; seed drives dropout. */
        void run(long seed);
    }

    /** The backward half of a run: writes the gradients its plan asked for (parameters', inputs') from dL/doutput. */
    interface Backward {
        /** Writes the gradients from dL/doutput, which it must not write (other layers may share it). */
        void run(Tensor outputGradient);
    }

    /** A run from its two halves; its input gradients are the given fixed list (see {@link #gradients}). */
    static LayerRun of(Tensor output, Forward forward, Backward backward, List<Tensor> inputGradients) {
        return new LayerRun() {
            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(long seed) {
                forward.run(seed);
            }

            @Override
            public List<Tensor> backward(Tensor outputGradient) {
                backward.run(outputGradient);
                return inputGradients;
            }
        };
    }

    /** A fixed list of input gradients that may hold nulls. */
    static List<Tensor> gradients(Tensor... perInput) {
        return Arrays.asList(perInput);
    }

    /** A run that computes nothing: its output is its input, and so is its gradient. */
    static LayerRun passThrough(Tensor input) {
        return new LayerRun() {
            private Tensor lastOutputGradient;
            private List<Tensor> inputGradients;

            @Override
            public Tensor output() {
                return input;
            }

            @Override
            public void forward(long seed) {
            }

            @Override
            public boolean computesNothing() {
                return true;
            }

            @Override
            public boolean chainForward(dev.osprey.backend.OpChain chain) {
                return true; // computes nothing
            }

            @Override
            public List<Tensor> backward(Tensor outputGradient) {
                if (outputGradient != lastOutputGradient) { // the same tensor every step, so this list is made once
                    lastOutputGradient = outputGradient;
                    inputGradients = gradients(outputGradient);
                }
                return inputGradients;
            }
        };
    }

    /**
     * run, whose forward an earlier call does (a training plan's sum, written by the BatchNormalization before it):
     * its forward does nothing, its backward is run's.
     */
    static LayerRun backwardOnly(LayerRun run) {
        return new LayerRun() {
            @Override
            public Tensor output() {
                return run.output();
            }

            @Override
            public void forward(long seed) {
            }

            @Override
            public List<Tensor> backward(Tensor outputGradient) {
                return run.backward(outputGradient);
            }

            @Override
            public List<Tensor> backward(Tensor outputGradient, Tensor[] addends, boolean[] added) {
                return run.backward(outputGradient, addends, added);
            }

            @Override
            public List<Tensor> backward(Tensor outputGradient, Tensor[] addends, Tensor[] gates, boolean[] added,
                                         boolean[] gated) {
                return run.backward(outputGradient, addends, gates, added, gated);
            }

            @Override
            public Tensor reluGate() {
                return run.reluGate();
            }

            @Override
            public List<Tensor> backwardGated(Tensor outputGradient) {
                return run.backwardGated(outputGradient);
            }
        };
    }

    /** A run that computes nothing: its output is another tensor (a view, or a layer folded away for inference). */
    static LayerRun identity(Tensor output, List<Tensor> inputGradients) {
        return new LayerRun() {
            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(long seed) {
            }

            @Override
            public boolean computesNothing() {
                return true;
            }

            @Override
            public boolean chainForward(dev.osprey.backend.OpChain chain) {
                return true; // computes nothing
            }

            @Override
            public List<Tensor> backward(Tensor outputGradient) {
                return inputGradients;
            }
        };
    }
}
