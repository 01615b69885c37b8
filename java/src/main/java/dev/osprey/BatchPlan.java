package dev.osprey;

import dev.osprey.backend.Backend;
import dev.osprey.backend.StepGraph;
import dev.osprey.backend.Tensor;
import java.util.List;

/** Everything one batch size needs, allocated once: staging arrays, device tensors, the planned layer runs. */
final class BatchPlan {
    final int batch;
    final Tensor input;           // (batch, input shape...)
    final Tensor targets;         // (batch, classes)
    final Tensor dLogits;         // (batch, classes)
    final Tensor probabilities;   // (batch, classes)
    final float[] hostTargets;
    private final Backend backend;
    private final List<LayerRun> runs;
    // One recorder per kind of step (the backend frees them); each replays only steps of its own kind.
    private final StepGraph stepGraph;
    private final StepGraph inferenceGraph;
    private final StepGraph evaluationGraph;
    private boolean inferenceSoftmax;
    private final Runnable inferenceBody = this::inferenceStep;
    private Tensor evaluationStats;
    private final Runnable evaluationBody = this::evaluationStep;

    BatchPlan(Backend backend, int batch, Tensor input, List<LayerRun> runs, int classes, int sampleSize) {
        this.backend = backend;
        this.batch = batch;
        this.input = input;
        this.runs = runs;
        this.targets = backend.allocate(batch, classes);
        this.dLogits = backend.allocate(batch, classes);
        this.probabilities = backend.allocate(batch, classes);
        this.hostTargets = new float[batch * classes];
        this.stepGraph = backend.newStepGraph();
        this.inferenceGraph = backend.newStepGraph();
        this.evaluationGraph = backend.newStepGraph();
    }

    /** This batch size's training step recorder. */
    StepGraph stepGraph() {
        return stepGraph;
    }

    /**
     * The forward pass for prediction, then softmax into {@link #probabilities} when asked, on the input already
     * loaded: recorded once and replayed where the backend can (a CUDA graph), eager otherwise.
     */
    void infer(boolean softmax) {
        inferenceSoftmax = softmax;
        inferenceGraph.run(inferenceBody);
    }

    private void inferenceStep() {
        forward(false, 0);
        if (inferenceSoftmax) {
            backend.softmaxForward(logits(), probabilities);
        }
    }

    /**
     * The forward pass and the loss on the inputs and targets already loaded, adding [loss sum, correct] to stats:
     * recorded once and replayed where the backend can.
     */
    void evaluate(Tensor stats) {
        evaluationStats = stats;
        evaluationGraph.run(evaluationBody);
    }

    private void evaluationStep() {
        forward(false, 0);
        backend.softmaxCrossEntropy(logits(), targets, null, evaluationStats);
    }

    /** How prediction at this batch size runs; for tests and logs. */
    String inferenceGraphState() {
        return inferenceGraph.state();
    }

    Tensor logits() {
        return runs.get(runs.size() - 1).output();
    }

    void forward(boolean training, long seed) {
        for (int i = 0; i < runs.size(); i++) {
            runs.get(i).forward(training, seed * 1_000_003L + i);
        }
    }

    /** Back-propagates dLogits through every layer, writing the gradient arena. */
    void backward() {
        Tensor gradient = dLogits;
        for (int i = runs.size() - 1; i >= 0 && gradient != null; i--) {
            gradient = runs.get(i).backward(gradient);
        }
    }

    /** Copies this plan's batch of inputs, starting at offset in x, to the device. */
    void loadInput(float[] x, int offset) {
        backend.copyIn(x, offset, input);
    }
}
