package dev.osprey.engine;

import dev.osprey.Activation;
import dev.osprey.BatchSource;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.loss.Loss;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model built on one backend: its graph, its weights, its plans per batch size (a few of each kind are kept, least
 * recently used first out, so a model that sees many batch sizes doesn't grow), and the loss statistics that build up
 * on the backend. Owns its native memory; the backend is shared with other models.
 */
public final class Network implements AutoCloseable {
    /** Training plans kept: a fit uses two batch sizes (full batches and the last one). */
    static final int TRAINING_PLANS = 2;
    /** Inference plans kept. */
    static final int INFERENCE_PLANS = 3;

    private final Graph graph;
    private final Backend backend;
    private final Parameters parameters;
    // per output, a last softmax or sigmoid (else null): inference plans leave it to predict
    private final Activation[] outputActivations;
    private Activation.Kind[] trainingLeftOut;  // per output, the last activation training plans leave to the loss
    private final Memory memory;
    private final Tensor trainStats;   // [loss sum, correct] of the epoch so far, per output (see statsSize)
    private final Tensor evalStats;    // the same for evaluate / validation
    private final Tensor[] trainOutputStats; // per output, its [loss sum, correct] (trainStats itself for one output)
    private final Tensor[] evalOutputStats;
    private final Tensor trainPenalties;     // where weight penalties add up: trainStats for one output, else a slot
    private final Tensor evalPenalties;
    // per output, its classification counts (see ClassificationCounts) of training and of evaluation, made on first use
    private final Tensor[] trainCounts;
    private final Tensor[] evalCounts;
    private final Tensor[] trainErrors; // per output, its error sums alone (see ErrorSums), likewise
    private final Tensor[] evalErrors;
    private int inferenceCapacity = INFERENCE_PLANS;
    private final LinkedHashMap<Integer, ExecutionPlan> trainingPlans = lru(() -> TRAINING_PLANS);
    private final LinkedHashMap<Integer, ExecutionPlan> inferencePlans = lru(() -> this.inferenceCapacity);
    private Memory optimizerMemory;
    private dev.osprey.Precision inferencePrecision = dev.osprey.Precision.FP32;
    private dev.osprey.Precision trainingMath = dev.osprey.Precision.FP32;
    private Map<String, dev.osprey.backend.InputRange> inputRanges = Map.of(); // int8 calibration, by layer name
    private InferenceSlices slices;    // how inference calls split large batches, made on first use

    /**
     * Allocates the graph's weights (not yet initialized: see {@link Parameters#initialize}) and the loss statistics on
     * backend; plans are made on first use. Frees what it allocated if an allocation fails.
     */
    public Network(Graph graph, Backend backend) {
        this.graph = graph;
        this.backend = backend;
        this.parameters = new Parameters(graph, backend);
        int outputs = graph.outputs().size();
        this.trainCounts = new Tensor[outputs];
        this.evalCounts = new Tensor[outputs];
        this.trainErrors = new Tensor[outputs];
        this.evalErrors = new Tensor[outputs];
        this.outputActivations = new Activation[outputs];
        this.trainingLeftOut = new Activation.Kind[outputs];
        for (int o = 0; o < outputs; o++) {
            SymbolicTensor out = graph.outputs().get(o);
            Activation last = out.node() != null && canLeaveOut(graph, o) ? out.node().layer().activation()
                    : Activation.LINEAR;
            outputActivations[o] = last.kind() == Activation.Kind.SOFTMAX || last.kind() == Activation.Kind.SIGMOID
                    ? last : null;
            trainingLeftOut[o] = last.kind() == Activation.Kind.SOFTMAX && outputs == 1 ? Activation.Kind.SOFTMAX
                    : null;
        }
        Memory m = null;
        try {
            m = backend.newMemory();
            trainStats = m.allocate(statsSize(outputs));
            evalStats = m.allocate(statsSize(outputs));
            trainOutputStats = outputStats(backend, trainStats, outputs);
            evalOutputStats = outputStats(backend, evalStats, outputs);
            trainPenalties = outputs == 1 ? trainStats : backend.view(trainStats, 2L * outputs, 2);
            evalPenalties = outputs == 1 ? evalStats : backend.view(evalStats, 2L * outputs, 2);
        } catch (RuntimeException e) {
            if (m != null) {
                m.close();
            }
            parameters.close();
            throw e;
        }
        this.memory = m;
    }

    /**
     * Whether plans may leave output o's last activation to the loss or to predict, which applies it after the forward
     * pass (for several outputs, into a tensor of its own: ExecutionPlan.activatedOutput): always for a model of one
     * output; for several, where no layer reads the output (it would read the values without the activation).
     */
    private static boolean canLeaveOut(Graph graph, int o) {
        return graph.outputs().size() == 1 || graph.consumers(graph.outputs().get(o)).isEmpty();
    }

    /**
     * Floats of a network's loss statistics: [loss sum, correct] for a model of one output (weight penalties add to
     * its loss sum); for several, [loss sum, correct] per output, then the penalties' sum and a spare value.
     */
    public static int statsSize(int outputs) {
        return outputs == 1 ? 2 : 2 * outputs + 2;
    }

    private static Tensor[] outputStats(Backend backend, Tensor stats, int outputs) {
        Tensor[] views = new Tensor[outputs];
        for (int o = 0; o < outputs; o++) {
            views[o] = outputs == 1 ? stats : backend.view(stats, 2L * o, 2);
        }
        return views;
    }

    private static LinkedHashMap<Integer, ExecutionPlan> lru(java.util.function.IntSupplier capacity) {
        return new LinkedHashMap<>(8, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Integer, ExecutionPlan> eldest) {
                if (size() > capacity.getAsInt()) {
                    eldest.getValue().close();
                    return true;
                }
                return false;
            }
        };
    }

    /**
     * Binds a new optimizer state in memory of its own; the previous state is freed only once the new one is bound, so
     * a bind that fails (out of memory) leaves the previous optimizer usable.
     */
    public <T> T bindOptimizer(java.util.function.Function<Memory, T> bind) {
        Memory fresh = backend.newMemory();
        T bound;
        try {
            bound = bind.apply(fresh);
        } catch (RuntimeException | Error e) {
            fresh.close();
            throw e;
        }
        if (optimizerMemory != null) {
            optimizerMemory.close();
        }
        optimizerMemory = fresh;
        return bound;
    }

    /** How many batch sizes of inference plans to keep; plans beyond that go now, least recently used first. */
    public void keepInferencePlans(int count) {
        inferenceCapacity = count;
        var eldestFirst = inferencePlans.entrySet().iterator();
        while (inferencePlans.size() > count && eldestFirst.hasNext()) {
            eldestFirst.next().getValue().close();
            eldestFirst.remove();
        }
    }

    /** The graph this network was built from. */
    public Graph graph() {
        return graph;
    }

    /** The backend everything runs on; shared, so not closed with this network. */
    public Backend backend() {
        return backend;
    }

    /** The weights, owned by this network and freed with it. */
    public Parameters parameters() {
        return parameters;
    }

    /**
     * {loss sum, correct predictions} of the training epoch so far, on the backend: the trainer zeros it at each
     * epoch's start and the fused loss op adds to it every step.
     */
    public Tensor trainStats() {
        return trainStats;
    }

    /** Where weight penalties add up ({@link #addPenalties}): in training (true) or in evaluation's statistics. */
    public Tensor penaltyStats(boolean training) {
        return training ? trainPenalties : evalPenalties;
    }

    /** Per output, the two floats of {@link #trainStats} (training) or of evaluation's statistics its loss adds to. */
    public Tensor[] outputStats(boolean training) {
        return training ? trainOutputStats : evalOutputStats;
    }

    /**
     * Output o's counts of training (true) or of evaluation (false) of this many floats: the whole classification
     * counts, or the error sums alone (ErrorSums.SIZE); each made on first use, only for models with metrics that need
     * them, and kept, so a model compiled with other metrics and back again reuses them.
     */
    private Tensor counts(boolean training, int o, int size) {
        boolean errorsAlone = size == dev.osprey.metrics.ErrorSums.SIZE; // classification counts are always larger
        Tensor[] counts = errorsAlone ? (training ? trainErrors : evalErrors) : (training ? trainCounts : evalCounts);
        if (counts[o] == null) {
            counts[o] = memory.allocate(size);
        }
        return counts[o];
    }

    /**
     * The counts each output's loss adds to, of training or of evaluation, as the loss lays them out
     * ({@link ModelLoss#countsSize}: the classification counts, or the error sums alone).
     */
    public Tensor[] countsOf(boolean training, ModelLoss loss) {
        Tensor[] counts = new Tensor[graph.outputs().size()];
        for (int o = 0; o < counts.length; o++) {
            counts[o] = counts(training, o, loss.countsSize(o));
        }
        return counts;
    }

    /**
     * Trains with this loss from now on: training plans leave out the last activation the loss applies itself
     * (softmax, sigmoid; see {@link Loss#fusedActivation}). Plans made for another loss are dropped.
     */
    public void trainWith(Loss loss) {
        trainWith(ModelLoss.of(graph, loss));
    }

    /**
     * Trains with this loss from now on: training plans leave out of each output the last activation its loss applies
     * itself. Plans made for other losses are dropped.
     */
    public void trainWith(ModelLoss loss) {
        Activation.Kind[] leftOut = loss.fusedActivations();
        if (leftOut.length != graph.outputs().size()) {
            throw new IllegalArgumentException("trainWith: expected a loss for each of the " + graph.outputs().size()
                    + " outputs, received " + leftOut.length);
        }
        if (!java.util.Arrays.equals(leftOut, trainingLeftOut)) {
            trainingPlans.values().forEach(ExecutionPlan::close);
            trainingPlans.clear();
            trainingLeftOut = leftOut;
        }
    }

    /**
     * The training plan for this batch size, made on first use and kept (the two most recently used). Owned by this
     * network: don't close it.
     */
    public ExecutionPlan trainingPlan(int batch) {
        return plan(trainingPlans, batch, true);
    }

    /**
     * The inference plan for this batch size, in {@link #inferencePrecision()}, made on first use and kept (see
     * {@link #keepInferencePlans}). Owned by this network: don't close it.
     */
    public ExecutionPlan inferencePlan(int batch) {
        return plan(inferencePlans, batch, false);
    }

    /**
     * Rows each inference call computes for a batch of this many: the batch, or slices of it that keep the largest
     * activation within the backend's cache budget where that pays (see {@link InferenceSlices}). int8 plans run
     * whole: their activations are a quarter of fp32's, and ResNet-20 in int8 ran 0.91x as fast in slices of 32
     * (inference-slices-int8-2026-12-04T1830Z.md), where fp32 and bf16 ran 1.23x and 1.25x.
     */
    public int inferenceRows(int batch) {
        if (inferencePrecision == dev.osprey.Precision.INT8) {
            return batch;
        }
        if (slices == null) {
            slices = InferenceSlices.of(graph, parameters, backend.inferenceSliceBytes());
        }
        return slices.rows(batch);
    }

    /**
     * The precision training plans' convolutions and dense layers multiply in (fp32, or bf16 for mixed precision);
     * changing it drops the training plans made so far. Where the backend has no bf16 training kernels
     * ({@link Backend#trainingUnavailable}) the ops compute in fp32 all the same: {@code Model} asks first and says why.
     */
    public void trainingMath(dev.osprey.Precision math) {
        dev.osprey.MixedPrecision.requireTrainingMath("trainingMath", math);
        if (math != trainingMath) {
            trainingPlans.values().forEach(ExecutionPlan::close);
            trainingPlans.clear();
            trainingMath = math;
        }
    }

    /** The precision training plans multiply in; FP32 unless set. */
    public dev.osprey.Precision trainingMath() {
        return trainingMath;
    }

    /** The precision inference plans compute in; changing it drops the inference plans made so far. */
    public void inferencePrecision(dev.osprey.Precision precision) {
        if (precision != inferencePrecision) {
            inferencePlans.values().forEach(ExecutionPlan::close);
            inferencePlans.clear();
            inferencePrecision = precision;
        }
    }

    /** Sets the calibrated input ranges int8 plans use (see {@link Calibration}); drops the inference plans made. */
    public void inputRanges(Map<String, dev.osprey.backend.InputRange> ranges) {
        inferencePlans.values().forEach(ExecutionPlan::close);
        inferencePlans.clear();
        inputRanges = Map.copyOf(ranges);
    }

    /** The precision inference plans compute in; FP32 unless set. */
    public dev.osprey.Precision inferencePrecision() {
        return inferencePrecision;
    }

    /** A plan is made (primitives created, weights reordered) where the backend computes: see Backend.execute. */
    private ExecutionPlan plan(Map<Integer, ExecutionPlan> plans, int batch, boolean training) {
        ExecutionPlan plan = plans.get(batch);
        if (plan == null) {
            plan = backend.execute(() -> training
                    ? ExecutionPlan.training(graph, parameters, backend, batch, trainingLeftOut, trainingMath)
                    : new ExecutionPlan(graph, parameters, backend, batch, inferenceLeftOut(), inferencePrecision,
                            inputRanges));
            plans.put(batch, plan);
        }
        return plan;
    }

    private Activation.Kind[] inferenceLeftOut() {
        Activation.Kind[] kinds = new Activation.Kind[outputActivations.length];
        for (int o = 0; o < kinds.length; o++) {
            kinds[o] = outputActivations[o] == null ? null : outputActivations[o].kind();
        }
        return kinds;
    }

    /** Bytes held by plans now (the weights excluded). */
    public long planBytes() {
        long bytes = 0;
        for (ExecutionPlan p : trainingPlans.values()) {
            bytes += p.bytes();
        }
        for (ExecutionPlan p : inferencePlans.values()) {
            bytes += p.bytes();
        }
        return bytes;
    }

    /** Frees every plan (the next use makes them again); used when the weights' layout changes. */
    public void dropPlans() {
        trainingPlans.values().forEach(ExecutionPlan::close);
        trainingPlans.clear();
        inferencePlans.values().forEach(ExecutionPlan::close);
        inferencePlans.clear();
    }

    /**
     * Adds the weight penalties (Keras' regularizers) of every weight that has one to stats[0], rows times (the loss
     * sum counts each sample's loss), and with gradients, each penalty's gradient to its trainable weight's
     * gradient. Runs on the backend: nothing is read back.
     */
    public void addPenalties(int rows, Tensor stats, boolean gradients) {
        for (Parameters.Slot s : parameters.slots()) {
            dev.osprey.Regularizer r = s.spec().regularizer();
            if (r != null) {
                backend.regularize(s.value(), gradients ? s.gradient() : null, (float) r.l1(), (float) r.l2(), rows,
                        stats);
            }
        }
    }

    /**
     * {mean loss, accuracy} over a source, in order: evaluate, and fit's validation. Labels are as the loss takes
     * them; targets writes them as the loss op's target rows of the given width (see {@link TargetRows}).
     */
    public double[] evaluate(BatchSource data, int batchSize, Loss loss, TargetRows targetRows) {
        return evaluate(data, batchSize, loss, targetRows, null);
    }

    /**
     * As {@link #evaluate(BatchSource, int, Loss, TargetRows)}, also accumulating the classification counts on the
     * backend and reading them once into counts (when not null; sized by the loss's countsSize).
     */
    public double[] evaluate(BatchSource data, int batchSize, Loss loss, TargetRows targetRows, float[] counts) {
        return evaluate(data, batchSize, ModelLoss.of(graph, loss), targetRows, counts);
    }

    /**
     * The loss statistics over a source, each divided by its samples, in order: evaluate, and fit's validation. For a
     * model of one output {mean loss (penalties included), accuracy}; for several, laid out as {@link #statsSize}
     * says ({@link ModelLoss#putLogs} reads them). Labels are as the losses take them; targetRows writes them as the
     * loss ops' target rows. With counts (not null; sized by the loss's countsSize), the classification counts of
     * a model of one output accumulate on the backend and are read once into it.
     */
    public double[] evaluate(BatchSource data, int batchSize, ModelLoss loss, TargetRows targetRows, float[] counts) {
        if (counts != null && loss.outputs() != 1) {
            throw new IllegalArgumentException("evaluate: expected counts per output (float[][]) for a model of "
                    + loss.outputs() + " outputs, received one array");
        }
        return evaluate(data, batchSize, loss, targetRows, counts == null ? null : new float[][] {counts});
    }

    /**
     * As {@link #evaluate(BatchSource, int, ModelLoss, TargetRows, float[])}, with the classification counts of every
     * output (see {@link #countsOf}) read into counts[o] (when counts is not null; each sized by
     * the loss's countsSize of its output).
     */
    public double[] evaluate(BatchSource data, int batchSize, ModelLoss loss, TargetRows targetRows,
                             float[][] counts) {
        backend.fill(evalStats, 0f);
        Tensor[] countsTensor = counts == null ? null : countsOf(false, loss);
        for (int o = 0; countsTensor != null && o < countsTensor.length; o++) {
            backend.fill(countsTensor[o], 0f);
        }
        int n = 0;
        data.startEpoch(0, batchSize, false, 0);
        float[] hostTargets = new float[batchSize * targetRows.width()];
        // Inference plans leave out a last softmax or sigmoid: the loss applies it, or it is applied here.
        Activation[] apply = new Activation[outputActivations.length];
        for (int o = 0; o < apply.length; o++) {
            Activation last = outputActivations[o];
            apply[o] = last != null && last.kind() != loss.loss(o).fusedActivation() ? last : null;
        }
        int rowSize = graph.packedRowSize();
        int[] parts = targetRows.partWidths();
        // every batch sliced alike: at most 3 plan sizes (slice, full batch's remainder, last batch's remainder)
        int rows = inferenceRows(batchSize);
        for (BatchSource.Batch b = data.next(); b != null; b = data.next()) {
            targetRows.write(b.labels(), b.count(), hostTargets);
            for (int first = 0; first < b.count(); first += rows) {
                evaluateRows(b.x(), hostTargets, first, Math.min(rows, b.count() - first), parts,
                        targetRows.width(), rowSize, loss, apply, countsTensor, (long) n + first);
            }
            n += b.count();
        }
        int samples = n;
        backend.execute(() -> {
            addPenalties(samples, evalPenalties, false);
            return null;
        });
        float[] stats = new float[statsSize(graph.outputs().size())];
        backend.copyOut(evalStats, stats, 0);
        for (int o = 0; countsTensor != null && o < countsTensor.length; o++) {
            backend.copyOut(countsTensor[o], counts[o], 0);
        }
        double[] means = new double[stats.length];
        for (int i = 0; i < stats.length; i++) {
            // losses divided in float and accuracies in double, as evaluate's figures always were
            means[i] = i % 2 == 0 ? stats[i] / n : stats[i] / (double) n;
        }
        return means;
    }

    /**
     * One inference call of evaluate: rows count from first of a batch's inputs and target rows, into the stats; they
     * are rows firstRow... of the evaluation.
     */
    private void evaluateRows(float[] x, float[] hostTargets, int first, int count, int[] parts, int targetWidth,
                              int rowSize, ModelLoss loss, Activation[] apply, Tensor[] countsTensor, long firstRow) {
        ExecutionPlan plan = inferencePlan(count);
        Tensor targets = plan.targets(targetWidth);
        backend.copyIn(x, first * rowSize, plan.packedInput());
        backend.copyIn(hostTargets, first * targetWidth, targets);
        backend.execute(() -> {
            plan.unpackInputs();
            plan.forward(0);
            Tensor[] outputs = new Tensor[apply.length];
            for (int o = 0; o < apply.length; o++) {
                outputs[o] = plan.output(o);
                if (apply[o] != null) {
                    outputs[o] = plan.activatedOutput(o);
                    backend.activationForward(apply[o], plan.output(o), outputs[o]);
                }
            }
            loss.evaluate(backend, plan, parts, outputs, apply, evalOutputStats, countsTensor, firstRow);
            return null;
        });
    }

    /** Every output for inputs of n samples (one array per input), in batches; a last softmax or sigmoid applied here. */
    public List<NDArray> predict(List<NDArray> x, int batchSize) {
        return predict(x, batchSize, null, false);
    }

    /**
     * {@link #predict(List, int)}, timing each layer call (or chain of calls) on clock (null: untimed); where
     * finiteOnly, a NaN or infinite input is refused (IllegalArgumentException naming it and its sample) as its slice
     * is copied in, before that slice runs.
     */
    public List<NDArray> predict(List<NDArray> x, int batchSize, CallClock clock, boolean finiteOnly) {
        int n = x.get(0).rows();
        List<float[]> out = new ArrayList<>();
        for (int o = 0; o < graph.outputs().size(); o++) {
            out.add(new float[Math.multiplyExact(n, graph.outputs().get(o).shape().size())]);
        }
        // the inputs as one run of slices of the same rows (2 plan sizes at most: the slice and what remains)
        int rows = n == 0 ? batchSize : inferenceRows(Math.min(batchSize, n));
        for (int start = 0; start < n; start += rows) {
            int count = Math.min(rows, n - start);
            int first = start;
            ExecutionPlan plan = inferencePlan(count);
            // One slice per unit of compute: a long predict never holds the backend against other callers.
            backend.execute(() -> {
                for (int i = 0; i < x.size(); i++) {
                    float[] data = x.get(i).data();
                    int from = first * x.get(i).rowSize();
                    if (!finiteOnly) {
                        backend.copyIn(data, from, plan.input(i));
                        continue;
                    }
                    long bad = backend.copyInFinite(data, from, plan.input(i));
                    if (bad >= 0) {
                        throw new IllegalArgumentException("predict: expected finite inputs, received "
                                + data[(int) (from + bad)] + " in sample " + (first + bad / x.get(i).rowSize())
                                + (x.size() > 1 ? " of input " + (i + 1) : ""));
                    }
                }
                plan.forward(0, clock);
                for (int o = 0; o < out.size(); o++) {
                    Tensor result = plan.output(o);
                    if (outputActivations[o] != null) {
                        Tensor activated = plan.activatedOutput(o);
                        backend.activationForward(outputActivations[o], result, activated);
                        result = activated;
                    }
                    backend.copyOut(result, out.get(o), first * graph.outputs().get(o).shape().size());
                }
                return null;
            });
        }
        List<NDArray> arrays = new ArrayList<>();
        for (int o = 0; o < out.size(); o++) {
            Shape s = graph.outputs().get(o).shape();
            arrays.add(new NDArray(out.get(o), s.withBatch(n)));
        }
        return arrays;
    }

    @Override
    public void close() {
        dropPlans();
        if (optimizerMemory != null) {
            optimizerMemory.close();
        }
        memory.close();
        parameters.close();
    }
}
