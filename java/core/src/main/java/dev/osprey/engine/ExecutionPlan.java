package dev.osprey.engine;

import dev.osprey.Activation;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.OpChain;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model planned for one batch size, for training or for inference: every layer call's run in graph order, every
 * tensor allocated once from this plan's own memory, and the bookkeeping of the backward pass. Backward runs the calls
 * in reverse; where a tensor feeds several calls, their gradients are summed into a buffer planned here. An inference
 * plan holds no gradient buffers, and folds BatchNormalization (and a following activation) into the convolution
 * before it. Closing the plan frees all of it.
 */
public final class ExecutionPlan implements AutoCloseable {
    private final Graph graph;
    private final Parameters parameters;
    private final Backend backend;
    private final Memory memory;
    /** What layers share for values that live only while one of them runs (see PlanContext.scratch). */
    private final LayerScratch scratch;
    private final int batch;
    private final boolean training;
    // per output: the last activation the plan leaves to the loss or predict, or null
    private final Activation.Kind[] leftOut;
    private final List<Tensor> inputs = new ArrayList<>();
    private Tensor packedInput;               // models of several inputs: their packed rows (packedInput())
    private final Map<SymbolicTensor, Integer> ids = new IdentityHashMap<>();
    private final Tensor[] values;            // per tensor id: (batch, shape...)
    private final LayerRun[] runs;            // per node
    private long[] valuesPerSample;           // per node, its output's values per sample (made at the first shard)
    private final boolean[] runsBackward;     // per node
    private final int[] outputIds;            // per node
    private final int[][] inputIds;           // per node, per input
    private final boolean[][] inputNeedsGradient;
    private final int[] contributions;        // per tensor id: gradients summed into it per step
    private final Tensor[] accumulators;      // per tensor id with more than one contribution
    private final Tensor[] gradients;         // per tensor id, this step's
    // the gradient offered to the single-input call whose backward runs now (backward runs one call at a time), and
    // whether it added it
    private final Tensor[] offer = new Tensor[1];
    private final boolean[] offerTaken = new boolean[1];
    // beside the offer, the ReLU gate of the input's producer (LayerRun.reluGate), and whether the run applied it
    private final Tensor[] gateOffer = new Tensor[1];
    private final boolean[] gateTaken = new boolean[1];
    private boolean[] gatedByReader;          // per tensor id, this step: its gradient came with its producer's ReLU gate
    private int gateTarget;                   // the tensor id whose producer's gate was offered last
    private int[] producerOf;                 // per tensor id: the node that writes it, -1 for an input (made once)
    private int gradientSumsFused;            // in the last backward pass
    private final int[] received;
    private final Tensor targets;             // (batch, classes) for the single-output loss, or null
    private Tensor weightedTargets;           // (batch, classes + 1), rows ending in their weight, made on first use
    private final Tensor[] outputGradients;   // training only: per output, its loss gradient
    // several outputs: every output's target rows side by side, unweighted [0] and weighted [1] (made on first use),
    // the variant filled last, and each variant's per-output target rows (made on its first split)
    private final Tensor[] packedTargets = new Tensor[2];
    private int packedFilled = -1;
    private final List<List<Tensor>> targetParts = new ArrayList<>(java.util.Arrays.asList(null, null));
    private final int outputsWidth;           // every output's values per sample, added up (unweighted target rows)
    private Tensor[] activatedOutputs;        // several outputs: where an activation left out is applied (first use)
    private final List<Fold> folds = new ArrayList<>();
    /** Optimized inference plans: weights kept in the layouts the backend's inference ops read, refreshed with folds. */
    private final boolean prepareWeights;
    private final dev.osprey.Precision precision;
    private final Map<String, dev.osprey.backend.InputRange> inputRanges; // int8: by layer name
    private final List<PlanContext.Preparation> preparations = new ArrayList<>();
    /** The steps forward runs (made at its first call) and the op chains among them, which this plan owns. */
    private List<Scheduled> schedule;
    private final List<OpChain> chains = new ArrayList<>();
    /** Sums folded into the convolution before them: the tensor it adds, and the activation after the sum, per taker. */
    private final Map<Node, SymbolicTensor> residualOf = new IdentityHashMap<>();
    private final Map<Node, Activation> residualActivation = new IdentityHashMap<>();
    /** Training plans: sums whose forward the BatchNormalization before them does (its residualOf), per sum. */
    private final Map<Node, Node> sumWrittenBy = new IdentityHashMap<>();
    /** Activations taken over by the layer before them: the activation, per taking layer; the taker, per activation. */
    private final Map<Node, Activation> absorbed = new IdentityHashMap<>();
    private final Map<Node, Node> absorbedInto = new IdentityHashMap<>();
    /** fp32 inference: the depthwise convolution each pointwise one runs after itself as one op (folded into it). */
    private final Map<Node, Node> depthwiseAfter = new IdentityHashMap<>();
    /** fp32 inference: the max pooling each convolution runs after itself as one op (folded into it). */
    private final Map<Node, Node> maxPoolAfter = new IdentityHashMap<>();
    /** Zero paddings a convolution took over: the padding call, per convolution; the padding calls run no more. */
    private final Map<Node, Node> paddedBy = new IdentityHashMap<>();
    /** int8 plans: calls that write their output in 8 bits (the readers' range), and calls that read it so. */
    private final Map<Node, dev.osprey.backend.InputRange> quantizedOutputOf = new IdentityHashMap<>();
    private final java.util.Set<Node> quantizedInputs = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private final Map<Node, dev.osprey.backend.InputRange> quantizedResidualOf = new IdentityHashMap<>();
    // int8 plans: convolutions (with the max pooling after them) that run in fp32, where int8 cannot pay
    private final java.util.Set<Node> fp32Calls = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private int handOvers;
    private int residualHandOvers;
    /**
     * Whether int8 plans hand residuals over in 8 bits (planInt8HandOvers); -Dosprey.int8.residuals=false keeps them
     * fp32, to compare.
     */
    static final boolean INT8_RESIDUALS = Boolean.parseBoolean(System.getProperty("osprey.int8.residuals", "true"));
    private static final int[] NO_PADDING = {0, 0, 0, 0};
    /**
     * Training plans: per call and input, the view of the gradient arena its input gradient takes (GradientArena), null
     * where it has none (a call that does not own its input gradients: its own tensors, or its output gradient's).
     */
    private Tensor[][] plannedGradients;
    private long gradientArenaSaving;
    /** Per call, the arena gradients whose lives end with its backward (tests poison them: poisonGradientArena). */
    private List<List<Tensor>> endingAt;
    private boolean poisonArena;
    /** -Dosprey.gradientArena=false gives every input gradient a tensor of its own (read as each plan is made). */
    static final String GRADIENT_ARENA_PROPERTY = "osprey.gradientArena";
    /** Gradients of a shared layer's later calls, kept apart and summed into the arena after backward: {arena, call}. */
    private final List<Tensor[]> sharedGradients = new ArrayList<>();
    /** Inference plans reuse output memory: the buffers each tensor lives in, and the free ones. */
    private final List<List<Buffer>> storage = new ArrayList<>();
    private final List<Buffer> free = new ArrayList<>();
    private final int[] lastUse;

    /** Memory that layer outputs live in, shared in turn by outputs whose lives don't overlap. */
    private static final class Buffer {
        final Tensor tensor;
        final long size;
        int readers;

        Buffer(Tensor tensor) {
            this.tensor = tensor;
            this.size = tensor.size();
        }
    }
    private long foldedVersion = -1;

    /** A BatchNormalization (and maybe an activation) folded into the layer before it, with the folded weights. */
    private record Fold(Node producer, Node norm, Tensor kernel, Tensor bias) {
    }

    /**
     * @param training     plan the backward pass and run trainable layers in training mode
     * @param logitsOutput the single output ends in softmax, which this plan leaves to the loss (or to predict)
     */
    public ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, boolean training,
                         boolean logitsOutput) {
        this(graph, parameters, backend, batch, training, perOutput(graph, softmaxIf(logitsOutput)), true,
                dev.osprey.Precision.FP32);
    }

    /**
     * A plan whose single output leaves out its last activation when it is of kind leftOut (null: none), for the loss
     * that applies it itself (softmax, sigmoid) or for predict.
     */
    public ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, boolean training,
                         Activation.Kind leftOut) {
        this(graph, parameters, backend, batch, training, perOutput(graph, leftOut), true, dev.osprey.Precision.FP32);
    }

    /**
     * A training plan whose convolutions and dense layers multiply in this precision (fp32, or bf16 for mixed
     * precision: see {@link dev.osprey.MixedPrecision}), leaving out a last activation of kind leftOut (null: none).
     */
    public static ExecutionPlan training(Graph graph, Parameters parameters, Backend backend, int batch,
                                         Activation.Kind leftOut, dev.osprey.Precision math) {
        return training(graph, parameters, backend, batch, perOutput(graph, leftOut), math);
    }

    /**
     * A training plan of a model of several outputs: leftOut holds, per output, the last activation its loss applies
     * itself (null: none), which the plan leaves out of that output.
     */
    public static ExecutionPlan training(Graph graph, Parameters parameters, Backend backend, int batch,
                                         Activation.Kind[] leftOut, dev.osprey.Precision math) {
        return new ExecutionPlan(graph, parameters, backend, batch, true, leftOut, true, math);
    }

    /** An inference plan whose convolutions and dense layers compute in this precision (optimized). */
    public ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, boolean logitsOutput,
                         dev.osprey.Precision precision) {
        this(graph, parameters, backend, batch, false, perOutput(graph, softmaxIf(logitsOutput)), true, precision);
    }

    /** An inference plan in this precision that leaves out a last activation of kind leftOut (null: none). */
    public ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, Activation.Kind leftOut,
                         dev.osprey.Precision precision) {
        this(graph, parameters, backend, batch, false, perOutput(graph, leftOut), true, precision, Map.of());
    }

    /**
     * The same, with the calibrated input range of each convolution and dense layer by layer name, which int8 plans
     * need (see {@link Calibration}).
     */
    public ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, Activation.Kind leftOut,
                         dev.osprey.Precision precision, Map<String, dev.osprey.backend.InputRange> inputRanges) {
        this(graph, parameters, backend, batch, false, perOutput(graph, leftOut), true, precision, inputRanges);
    }

    /** The same for a model of several outputs: per output, the last activation to leave out of it (null: none). */
    public ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, Activation.Kind[] leftOut,
                         dev.osprey.Precision precision, Map<String, dev.osprey.backend.InputRange> inputRanges) {
        this(graph, parameters, backend, batch, false, leftOut, true, precision, inputRanges);
    }

    ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, boolean training, boolean logitsOutput,
                  boolean optimize) {
        this(graph, parameters, backend, batch, training, perOutput(graph, softmaxIf(logitsOutput)), optimize,
                dev.osprey.Precision.FP32);
    }

    private static Activation.Kind softmaxIf(boolean logitsOutput) {
        return logitsOutput ? Activation.Kind.SOFTMAX : null;
    }

    /** leftOut for the output of a model of one output; a model of several leaves nothing out of any. */
    private static Activation.Kind[] perOutput(Graph graph, Activation.Kind leftOut) {
        Activation.Kind[] kinds = new Activation.Kind[graph.outputs().size()];
        if (kinds.length == 1) {
            kinds[0] = leftOut;
        }
        return kinds;
    }

    /**
     * optimize: whether an inference plan folds BatchNormalization (and residual sums) into the convolution before them
     * and keeps weights in the backend's own layouts (tests compare both).
     */
    private ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, boolean training,
                          Activation.Kind[] leftOut, boolean optimize, dev.osprey.Precision precision) {
        this(graph, parameters, backend, batch, training, leftOut, optimize, precision, Map.of());
    }

    private ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, boolean training,
                          Activation.Kind[] leftOut, boolean optimize, dev.osprey.Precision precision,
                          Map<String, dev.osprey.backend.InputRange> inputRanges) {
        this(graph, parameters, backend, batch, training, leftOut, optimize, precision, inputRanges, true,
                INT8_RESIDUALS);
    }

    /**
     * An int8 inference plan whose convolutions hand 8-bit activations over (int8Residuals: residuals too), or (tests)
     * never do.
     */
    ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, Activation.Kind leftOut,
                  Map<String, dev.osprey.backend.InputRange> inputRanges, boolean int8HandOvers,
                  boolean int8Residuals) {
        this(graph, parameters, backend, batch, false, perOutput(graph, leftOut), true, dev.osprey.Precision.INT8,
                inputRanges, int8HandOvers, int8Residuals);
    }

    private ExecutionPlan(Graph graph, Parameters parameters, Backend backend, int batch, boolean training,
                          Activation.Kind[] leftOut, boolean optimize, dev.osprey.Precision precision,
                          Map<String, dev.osprey.backend.InputRange> inputRanges, boolean int8HandOvers,
                          boolean int8Residuals) {
        boolean narrowFloat = precision == dev.osprey.Precision.BF16 || precision == dev.osprey.Precision.FP16;
        if (precision == dev.osprey.Precision.INT8 && (training || !optimize)
                || narrowFloat && !training && !optimize) {
            throw new IllegalArgumentException("only optimized inference plans"
                    + (narrowFloat ? " and training plans" : "") + " compute in " + precision);
        }
        this.precision = precision;
        this.inputRanges = Map.copyOf(inputRanges);
        this.graph = graph;
        this.parameters = parameters;
        this.backend = backend;
        this.batch = batch;
        this.training = training;
        if (leftOut.length != graph.outputs().size()) {
            throw new IllegalArgumentException("expected an activation to leave out (or null) for each of the "
                    + graph.outputs().size() + " outputs, received " + leftOut.length);
        }
        this.leftOut = leftOut.clone();
        this.prepareWeights = optimize && !training;
        List<Node> nodes = graph.nodes();
        int tensorCount = graph.inputs().size() + nodes.size();
        values = new Tensor[tensorCount];
        runs = new LayerRun[nodes.size()];
        runsBackward = new boolean[nodes.size()];
        outputIds = new int[nodes.size()];
        inputIds = new int[nodes.size()][];
        inputNeedsGradient = new boolean[nodes.size()][];
        contributions = new int[tensorCount];
        accumulators = new Tensor[tensorCount];
        gradients = new Tensor[tensorCount];
        received = new int[tensorCount];
        lastUse = new int[tensorCount];
        memory = backend.newMemory();
        scratch = new LayerScratch(backend, memory);
        try {
            for (int i = 0; i < graph.inputs().size(); i++) {
                ids.put(graph.inputs().get(i), i);
                values[i] = memory.allocate(graph.inputShape(i).withBatch(batch));
                inputs.add(values[i]);
            }
            for (int n = 0; n < nodes.size(); n++) {
                ids.put(nodes.get(n).output(), graph.inputs().size() + n);
            }
            for (int id = 0; id < tensorCount; id++) {
                storage.add(List.of());
            }
            for (int n = 0; n < nodes.size(); n++) {
                for (SymbolicTensor in : nodes.get(n).inputs()) {
                    lastUse[ids.get(in)] = n;
                }
            }
            for (SymbolicTensor out : graph.outputs()) {
                lastUse[ids.get(out)] = Integer.MAX_VALUE; // read by the caller after the forward pass
            }
            absorbPaddings(nodes);
            boolean[] needsGradient = gradientFlow(nodes);
            Map<Node, Node> foldedInto = new IdentityHashMap<>(prepareWeights ? planFolds(nodes) : Map.of());
            if (prepareWeights) {
                planResidualSums(nodes, foldedInto);
            }
            absorbActivations(nodes, foldedInto);
            if (training) {
                planTrainingResidualSums(nodes);
            }
            if (prepareWeights && precision == dev.osprey.Precision.FP32) {
                planDepthwiseFusions(nodes, foldedInto);
                planMaxPoolFusions(nodes, foldedInto);
            }
            if (precision == dev.osprey.Precision.INT8) {
                planMaxPoolFusions(nodes, foldedInto);
                if (int8HandOvers) {
                    planInt8HandOvers(nodes, foldedInto, int8Residuals);
                }
            }
            if (training && Boolean.parseBoolean(System.getProperty(GRADIENT_ARENA_PROPERTY, "true"))) {
                plannedGradients = planGradientArena(nodes, needsGradient);
            }
            for (int n = 0; n < nodes.size(); n++) {
                planNode(n, nodes.get(n), needsGradient, foldedInto);
            }
            for (SymbolicTensor out : graph.outputs()) {
                int id = ids.get(out);
                if (training && contributions[id] > 0) { // read by later calls: its loss's gradient is one more
                    contributions[id]++;
                }
            }
            // accumulators (tensors with several gradient contributions) are made at their first use: where the last
            // contributor adds the sum itself (offeredAddends) none is ever needed
            boolean loss = graph.outputs().size() == 1;
            int classes = loss ? graph.outputs().get(0).shape().size() : 0;
            targets = loss ? memory.allocate(batch, classes) : null;
            int width = 0;
            for (SymbolicTensor out : graph.outputs()) {
                width += out.shape().size();
            }
            outputsWidth = width;
            outputGradients = new Tensor[graph.outputs().size()];
            for (int o = 0; training && o < outputGradients.length; o++) {
                outputGradients[o] = loss ? memory.allocate(batch, classes)
                        : memory.allocate(graph.outputs().get(o).shape().withBatch(batch));
            }
        } catch (RuntimeException e) {
            memory.close();
            throw e;
        }
    }

    /** Which tensors need a gradient: those computed, directly or not, from a weight this plan trains. */
    private boolean[] gradientFlow(List<Node> nodes) {
        boolean[] needs = new boolean[values.length];
        if (!training) {
            return needs;
        }
        for (Node node : nodes) {
            boolean flows = trains(node.layer());
            for (SymbolicTensor in : node.inputs()) {
                flows |= needs[ids.get(in)];
            }
            needs[ids.get(node.output())] = flows;
        }
        return needs;
    }

    private boolean trains(Layer layer) {
        for (Parameters.Slot s : parameters.of(layer)) {
            if (s.gradient() != null) {
                return true;
            }
        }
        return false;
    }

    /**
     * Finds Absorber -> ChannelAffine [-> ActivationOnly] chains whose intermediate tensors nothing else reads, and
     * allocates their folded weights. Returns, for the folded BatchNorm and activation calls, the call they fold into.
     */
    private Map<Node, Node> planFolds(List<Node> nodes) {
        Map<Node, Node> foldedInto = new IdentityHashMap<>();
        for (Node producer : nodes) {
            if (!(producer.layer() instanceof Fusion.Absorber absorber) || !absorber.canAbsorbChannelAffine()
                    || !onlyReader(producer.output(), Fusion.ChannelAffine.class)) {
                continue;
            }
            Node norm = graph.consumers(producer.output()).get(0);
            int channels = producer.output().shape().dim(producer.output().shape().rank() - 1);
            Tensor kernel = memory.allocate(slot(producer.layer(), absorber.kernelName()).spec().shape());
            Tensor bias = memory.allocate(channels);
            folds.add(new Fold(producer, norm, kernel, bias));
            foldedInto.put(norm, producer);
            if (onlyReader(norm.output(), Fusion.ActivationOnly.class)) {
                Node activation = graph.consumers(norm.output()).get(0);
                Activation a = ((Fusion.ActivationOnly) activation.layer()).elementwiseActivation();
                if (a.kind() != Activation.Kind.SOFTMAX) {
                    foldedInto.put(activation, producer);
                }
            }
        }
        return foldedInto;
    }

    /**
     * Finds two-input sums where one input is a convolution's output (or its folded BatchNormalization's) that nothing
     * else reads, and the other is ready before that convolution runs: the convolution adds the other input itself,
     * and takes the element-wise activation after the sum too. Marks the sum (and activation) calls as folded into it.
     */
    private void planResidualSums(List<Node> nodes, Map<Node, Node> foldedInto) {
        for (Node sum : nodes) {
            if (!(sum.layer() instanceof Fusion.Sum) || sum.inputs().size() != 2
                    || sum.inputs().get(0) == sum.inputs().get(1)) {
                continue;
            }
            Node taker = null;
            SymbolicTensor other = null;
            for (int i = 0; i < 2; i++) {
                Node candidate = residualTaker(sum.inputs().get(i), sum, nodes, foldedInto);
                SymbolicTensor rest = sum.inputs().get(1 - i);
                if (candidate != null && readyBefore(rest, candidate, nodes)
                        && (taker == null || nodes.indexOf(candidate) > nodes.indexOf(taker))) {
                    taker = candidate;
                    other = rest;
                }
            }
            if (taker == null) {
                continue;
            }
            residualOf.put(taker, other);
            foldedInto.put(sum, taker);
            List<Node> readers = graph.consumers(sum.output());
            Activation after = Activation.LINEAR;
            if (readers.size() == 1 && readers.get(0).layer() instanceof Fusion.ActivationOnly a
                    && onlyReader(sum.output(), Fusion.ActivationOnly.class)
                    && a.elementwiseActivation().kind() != Activation.Kind.SOFTMAX) {
                after = a.elementwiseActivation();
                foldedInto.put(readers.get(0), taker);
            }
            residualActivation.put(taker, after);
            int residualId = ids.get(other);
            lastUse[residualId] = Math.max(lastUse[residualId], nodes.indexOf(taker));
        }
    }

    /**
     * The convolution that can add a residual in place of this sum: t is its output, or the output of a BatchNorm
     * folded into it with no activation after, and the sum is t's only reader; outside training also through a layer
     * that is the identity there (a stochastic-depth branch), which then passes the sum on. Null when there is none.
     */
    private Node residualTaker(SymbolicTensor t, Node sum, List<Node> nodes, Map<Node, Node> foldedInto) {
        Node producer = t.node();
        if (producer == null || graph.outputs().contains(t) || !graph.consumers(t).equals(List.of(sum))) {
            return null;
        }
        if (!training && producer.layer() instanceof Fusion.InferenceIdentity) {
            SymbolicTensor inner = producer.inputs().get(0);
            if (inner.node() == null || graph.outputs().contains(inner)
                    || !graph.consumers(inner).equals(List.of(producer))) {
                return null;
            }
            producer = inner.node();
        }
        Node conv = producer;
        if (foldedInto.containsKey(producer)) { // a folded BatchNorm: the convolution it folds into
            conv = foldedInto.get(producer);
            if (!(producer.layer() instanceof Fusion.ChannelAffine)) {
                return null; // an activation folded in: the sum would come after it
            }
        } else if (foldedInto.containsValue(producer)) {
            return null; // it takes a BatchNorm whose output the sum doesn't read
        }
        if (!(conv.layer() instanceof Fusion.ResidualAbsorber r) || !r.canAbsorbResidual()
                || residualOf.containsKey(conv)) {
            return null;
        }
        return conv;
    }

    /**
     * Training plans: finds two-input sums where one input is the output of a layer that can write the sum in its own
     * forward op ({@link Fusion.TrainingResidualAbsorber}: BatchNormalization without an activation of its own, where
     * the backend adds in its pass), that the sum alone reads, and the other input is ready before that layer runs.
     * The layer then adds the other input and applies the activation the sum took over; the sum's output is the
     * layer's, and the sum runs only its backward (from that output). Saves writing the normalized values and reading
     * them back: two of a ResNet block tail's six passes forward.
     */
    private void planTrainingResidualSums(List<Node> nodes) {
        for (Node sum : nodes) {
            if (!(sum.layer() instanceof Fusion.Sum) || sum.inputs().size() != 2
                    || sum.inputs().get(0) == sum.inputs().get(1)) {
                continue;
            }
            Activation after = absorbed.getOrDefault(sum, Activation.LINEAR);
            Node taker = null;
            SymbolicTensor other = null;
            for (int i = 0; i < 2; i++) {
                SymbolicTensor t = sum.inputs().get(i);
                SymbolicTensor rest = sum.inputs().get(1 - i);
                Node producer = t.node();
                if (producer == null || graph.outputs().contains(t) || !graph.consumers(t).equals(List.of(sum))
                        || !(producer.layer() instanceof Fusion.TrainingResidualAbsorber r)
                        || absorbed.containsKey(producer) || residualOf.containsKey(producer)
                        || !r.canAbsorbTrainingResidual(backend, after) || !readyBefore(rest, producer, nodes)) {
                    continue;
                }
                if (taker == null || nodes.indexOf(producer) > nodes.indexOf(taker)) {
                    taker = producer;
                    other = rest;
                }
            }
            if (taker != null) {
                residualOf.put(taker, other);
                residualActivation.put(taker, after);
                sumWrittenBy.put(sum, taker);
            }
        }
    }

    /** Whether t is computed before call c runs (a model input, or a call earlier in the order). */
    private static boolean readyBefore(SymbolicTensor t, Node c, List<Node> nodes) {
        return t.node() == null || nodes.indexOf(t.node()) < nodes.indexOf(c);
    }

    /** Lets a convolution pad its input itself instead of reading a ZeroPadding2D's padded copy. */
    private void absorbPaddings(List<Node> nodes) {
        for (int n = 0; n < nodes.size(); n++) {
            Node padding = nodes.get(n);
            if (!(padding.layer() instanceof Fusion.PaddingOnly) || !onlyReader(padding.output(), Fusion.PaddingAbsorber.class)) {
                continue;
            }
            Node conv = graph.consumers(padding.output()).get(0);
            if (((Fusion.PaddingAbsorber) conv.layer()).canAbsorbPadding()) {
                paddedBy.put(conv, padding);
                int unpadded = ids.get(padding.inputs().get(0));
                lastUse[unpadded] = Math.max(lastUse[unpadded], nodes.indexOf(conv)); // the convolution reads it now
            }
        }
    }

    /**
     * Training plans: lays out the input gradients of the calls that own them (Fusion.OwnInputGradients, where they run
     * as themselves) in one arena, shared where their lives do not overlap (GradientArena), and makes each its view.
     * Returns per call and input the view, or null where none (the call allocates its own, as before).
     */
    private Tensor[][] planGradientArena(List<Node> nodes, boolean[] needsGradient) {
        // the lives assume every gradient contribution a value counts arrives: backward seeds every output's gradient
        // (each output has its loss), so from the outputs back a gradient reaches every call that needs one
        int calls = nodes.size();
        int[][] reads = new int[calls][];
        int[] producer = new int[values.length];
        java.util.Arrays.fill(producer, -1);
        boolean[] owns = new boolean[calls];
        long[] valueFloats = new long[values.length];
        for (int i = 0; i < graph.inputs().size(); i++) {
            valueFloats[i] = (long) batch * graph.inputShape(i).size();
        }
        for (int n = 0; n < calls; n++) {
            Node node = nodes.get(n);
            int out = ids.get(node.output());
            producer[out] = n;
            valueFloats[out] = (long) batch * node.output().shape().size();
            if (paddedBy.containsValue(node)) { // taken over by the convolution after it: runs nothing
                reads[n] = new int[0];
                continue;
            }
            List<SymbolicTensor> in = inputsOf(node);
            reads[n] = new int[in.size()];
            for (int i = 0; i < in.size(); i++) {
                reads[n][i] = ids.get(in.get(i));
            }
            owns[n] = node.layer() instanceof Fusion.OwnInputGradients && !absorbedInto.containsKey(node)
                    && !sumWrittenBy.containsKey(node) && !graph.outputs().contains(node.output());
        }
        GradientArena.Layout layout = GradientArena.plan(reads, producer, owns, needsGradient, valueFloats);
        if (layout.floats() >= layout.unshared() || layout.floats() > Integer.MAX_VALUE) {
            return null; // nothing saved (a few small gradients), or past one tensor's size: each call keeps its own
        }
        endingAt = new ArrayList<>(calls + 1);
        for (int n = 0; n <= calls; n++) {
            endingAt.add(new ArrayList<>());
        }
        gradientArenaSaving = (layout.unshared() - layout.floats()) * Float.BYTES;
        Tensor arena = memory.allocate((int) layout.floats());
        Tensor[][] views = new Tensor[calls][];
        for (int n = 0; n < calls; n++) {
            List<SymbolicTensor> in = owns[n] ? inputsOf(nodes.get(n)) : List.of();
            for (int i = 0; i < in.size(); i++) {
                long at = layout.offsets()[n][i];
                if (at >= 0) {
                    if (views[n] == null) {
                        views[n] = new Tensor[in.size()];
                    }
                    views[n][i] = backend.view(arena, at, in.get(i).shape().withBatch(batch));
                    endingAt.get(layout.lowest()[n][i]).add(views[n][i]);
                }
            }
        }
        return views;
    }

    /**
     * Tests: fills each arena gradient with NaN just before the backward that writes it, and again once the last
     * backward that may read it has run, so that a layer writing part of its input gradient, or reading one past its
     * life, changes the weight gradients (they must stay those of a tensor per gradient).
     */
    void poisonGradientArena(boolean poison) {
        this.poisonArena = poison;
    }

    /** Poisons (see above) the gradients whose lives ended with call n's backward. */
    private void poisonEndedAt(int n) {
        if (poisonArena && endingAt != null && n < endingAt.size()) {
            for (Tensor t : endingAt.get(n)) {
                backend.fill(t, Float.NaN);
            }
        }
    }

    /** Training plans: bytes the gradient arena saves against one tensor per input gradient it holds (0: none). */
    long gradientArenaSaving() {
        return gradientArenaSaving;
    }

    /** The tensors a call reads: a convolution that took over a padding reads the padding's input. */
    private List<SymbolicTensor> inputsOf(Node node) {
        Node padding = paddedBy.get(node);
        return padding == null ? node.inputs() : padding.inputs();
    }

    /**
     * Lets a layer that can apply an activation take over the activation layer that alone reads its output (Conv2D
     * then ReLU, BatchNormalization then ReLU): the activation call then passes its input through, in both directions.
     */
    private void absorbActivations(List<Node> nodes, Map<Node, Node> foldedInto) {
        for (Node producer : nodes) {
            if (foldedInto.containsKey(producer) || foldedInto.containsValue(producer)
                    || !(producer.layer() instanceof Fusion.ActivationAbsorber absorber)
                    || !onlyReader(producer.output(), Fusion.ActivationOnly.class)) {
                continue;
            }
            Node activation = graph.consumers(producer.output()).get(0);
            Activation a = ((Fusion.ActivationOnly) activation.layer()).elementwiseActivation();
            if (a.kind() == leftOutOf(activation.output())) {
                continue; // the model's last activation, which this plan leaves to the loss or to predict
            }
            if (absorber.canAbsorbActivation(a, training)) {
                absorbed.put(producer, a);
                absorbedInto.put(activation, producer);
            }
        }
    }

    /**
     * fp32 inference plans: finds each depthwise convolution that alone reads the output of a pointwise one (after its
     * folded BatchNormalization and activation, and through a zero padding the depthwise one took over), where the
     * backend runs the pair as one op ({@link Backend#fusesDepthwise}); the pointwise call then writes the depthwise
     * output, and the depthwise call is folded into it.
     */
    private void planDepthwiseFusions(List<Node> nodes, Map<Node, Node> foldedInto) {
        for (Node dw : nodes) {
            if (!(dw.layer() instanceof Fusion.Convolution) || residualOf.containsKey(dw) || foldedInto.containsKey(dw)
                    || inputsOf(dw).size() != 1) {
                continue;
            }
            SymbolicTensor read = inputsOf(dw).get(0);
            Node pw = runWriting(read, foldedInto);
            if (pw == null || pw == dw || !(pw.layer() instanceof Fusion.Convolution) || foldedInto.containsKey(pw)
                    || residualOf.containsKey(pw) || depthwiseAfter.containsKey(pw)
                    || exposedOutput(pw, foldedInto) != read || graph.outputs().contains(read)
                    || !graph.consumers(read).equals(List.of(paddedBy.getOrDefault(dw, dw)))
                    || graph.outputs().contains(exposedOutput(dw, foldedInto))
                    || runActivation(pw).kind() == Activation.Kind.SOFTMAX
                    || runActivation(dw).kind() == Activation.Kind.SOFTMAX
                    || !backend.fusesDepthwise(runSpec(pw), runSpec(dw))) {
                continue;
            }
            depthwiseAfter.put(pw, dw);
            foldedInto.put(dw, pw);
        }
    }

    /**
     * fp32 inference plans: finds each max pooling that alone reads the output of a convolution (after its folded
     * BatchNormalization and activation) where the backend runs the pair as one op ({@link Backend#fusesMaxPool}); the
     * convolution call then writes the pooled output, and the pooling call is folded into it. int8 plans: the same,
     * where the backend runs the pair in int8 ({@link Backend#fusesMaxPoolInInt8}) or else keeps it in fp32 ({@link
     * Backend#keepsFp32InInt8}: the pair then reads fp32, with no input range); either writes fp32, or, where int8
     * convolutions alone read it, its pooled map in 8 bits (planInt8HandOvers).
     */
    private void planMaxPoolFusions(List<Node> nodes, Map<Node, Node> foldedInto) {
        for (Node pool : nodes) {
            if (!(pool.layer() instanceof Fusion.MaxPooling pooling) || foldedInto.containsKey(pool)
                    || absorbedInto.containsKey(pool) || inputsOf(pool).size() != 1) {
                continue;
            }
            SymbolicTensor read = inputsOf(pool).get(0);
            Node conv = runWriting(read, foldedInto);
            if (conv == null || !(conv.layer() instanceof Fusion.Convolution) || foldedInto.containsKey(conv)
                    || residualOf.containsKey(conv) || depthwiseAfter.containsKey(conv)
                    || maxPoolAfter.containsKey(conv) || exposedOutput(conv, foldedInto) != read
                    || graph.outputs().contains(read) || !graph.consumers(read).equals(List.of(pool))
                    || runActivation(conv).kind() == Activation.Kind.SOFTMAX) {
                continue;
            }
            dev.osprey.backend.Conv2dSpec spec = runSpec(conv);
            dev.osprey.backend.Pool2dSpec pooled = pooling.maxPoolSpec(read.shape(), batch);
            boolean int8 = precision == dev.osprey.Precision.INT8;
            dev.osprey.backend.InputRange range = inputRanges.get(conv.layer().name());
            boolean inInt8 = int8 && range != null && backend.fusesMaxPoolInInt8(spec, pooled, range);
            if (int8 ? !inInt8 && !(backend.fusesMaxPool(spec, pooled) && backend.keepsFp32InInt8(spec, pooled))
                    : !backend.fusesMaxPool(spec, pooled)) {
                continue;
            }
            maxPoolAfter.put(conv, pool);
            foldedInto.put(pool, conv);
            if (int8 && !inInt8) {
                fp32Calls.add(conv);
            }
        }
    }

    /**
     * fp32 inference plans, and int8 ones (where the backend runs such a pair in int8 or keeps it in fp32): the number
     * of max poolings run inside the convolution before them.
     */
    public int maxPoolFusions() {
        return maxPoolAfter.size();
    }

    /** The call whose run writes t: t's own call, or the one that call is folded or absorbed into. Null for inputs. */
    private Node runWriting(SymbolicTensor t, Map<Node, Node> foldedInto) {
        Node n = t.node();
        if (n == null) {
            return null;
        }
        Node host = foldedInto.get(n);
        return host != null ? host : absorbedInto.getOrDefault(n, n);
    }

    /** A convolution call's spec as its run makes it (bias flag as the layer has it, activation linear). */
    private dev.osprey.backend.Conv2dSpec convolutionSpec(Node conv) {
        Node padding = paddedBy.get(conv);
        int[] extra = padding == null ? NO_PADDING : ((Fusion.PaddingOnly) padding.layer()).padding();
        return ((Fusion.Convolution) conv.layer()).convolutionSpec(inputsOf(conv).get(0).shape(), batch, extra);
    }

    /** A convolution call's spec as its inference run makes it: bias (a folded one counts) and activation set. */
    private dev.osprey.backend.Conv2dSpec runSpec(Node conv) {
        boolean bias = folds.stream().anyMatch(f -> f.producer() == conv);
        for (Parameters.Slot s : parameters.of(conv.layer())) {
            bias |= s.spec().name().equals("bias");
        }
        return convolutionSpec(conv).withBias(bias).withActivation(runActivation(conv));
    }

    /** The activation a convolution call's run applies: a folded one's, an absorbed one, or the layer's own. */
    private Activation runActivation(Node conv) {
        for (Fold f : folds) {
            if (f.producer() == conv) {
                return foldedActivation(f.norm());
            }
        }
        return absorbed.containsKey(conv) ? absorbed.get(conv) : ((Fusion.Convolution) conv.layer()).activation();
    }

    /** What a pointwise call needs of the depthwise call folded into it: spec, kernel (folded, if so) and bias. */
    private PlanContext.DepthwiseAfter depthwiseAfterOf(Node dw) {
        Tensor kernel = null;
        Tensor bias = null;
        for (Fold f : folds) {
            if (f.producer() == dw) {
                kernel = f.kernel();
                bias = f.bias();
            }
        }
        if (kernel == null) {
            kernel = slot(dw.layer(), ((Fusion.Convolution) dw.layer()).kernelName()).value();
            for (Parameters.Slot s : parameters.of(dw.layer())) {
                if (s.spec().name().equals("bias")) {
                    bias = s.value();
                }
            }
        }
        dev.osprey.backend.Conv2dSpec spec = runSpec(dw); // the spec fusesDepthwise accepted
        return new PlanContext.DepthwiseAfter(spec, backend.view(kernel, 0, spec.kernelShape()), bias);
    }

    /** fp32 inference plans: the number of depthwise convolutions run inside the pointwise one before them. */
    public int depthwiseFusions() {
        return depthwiseAfter.size();
    }

    /**
     * int8 plans: finds the convolutions ({@link Fusion.Int8HandOver}) whose output every reader reads as the only
     * input of an int8 convolution too (directly, through a zero padding it took over, or through max poolings that
     * pass 8-bit values on: {@link Fusion.Int8PassThrough}), all calibrated to one range: the producer writes that
     * output in 8 bits, the poolings between run on them, and the readers read them as they are. With residuals, a
     * sum that an int8 convolution adds itself (planResidualSums) may read it too, in 8 bits, where at least one
     * convolution gives the range and the adding one's activation commutes with scaling: a ResNet's block outputs then
     * stay 8-bit. A model output, any other sum, an average pooling or any other reader keeps the tensor fp32.
     */
    private void planInt8HandOvers(List<Node> nodes, Map<Node, Node> foldedInto, boolean residuals) {
        for (Node producer : nodes) {
            // a pair kept in fp32 (fp32Calls: always a convolution with its pooling) may hand over too
            if (!(producer.layer() instanceof Fusion.Int8HandOver) || foldedInto.containsKey(producer)
                    || absorbedInto.containsKey(producer) || inputRanges.get(producer.layer().name()) == null
                    || producer.layer() instanceof Fusion.LinearOp op
                    && op.activation().kind() == Activation.Kind.SOFTMAX) {
                continue;
            }
            List<Node> convolutions = new ArrayList<>();
            List<Node> passing = new ArrayList<>();
            List<Node> adding = new ArrayList<>(); // convolutions that add it as their residual
            SymbolicTensor written = exposedOutput(producer, foldedInto);
            if (!int8Readers(written, foldedInto, convolutions, passing, residuals ? adding : null)
                    || convolutions.isEmpty()
                    || !adding.isEmpty() && convolutions.stream().noneMatch(c -> inputsOf(c).get(0) == written)) {
                continue; // a residual needs the range of the tensor itself, not of a pooling's output after it
            }
            dev.osprey.backend.InputRange range = inputRanges.get(convolutions.get(0).layer().name());
            boolean oneRange = true;
            for (Node conv : convolutions) {
                oneRange &= range.equals(inputRanges.get(conv.layer().name()));
            }
            if (oneRange) {
                quantizedOutputOf.put(producer, range);
                handOvers++;
                for (Node pool : passing) {
                    quantizedInputs.add(pool);
                    quantizedOutputOf.put(pool, range);
                }
                quantizedInputs.addAll(convolutions);
                for (Node conv : adding) {
                    quantizedResidualOf.put(conv, range);
                    residualHandOvers++;
                }
            }
        }
    }

    /**
     * Collects the int8 convolutions that read t (through paddings they took over and 8-bit pass-throughs, which go
     * to passing) and, where adding is not null, those that add t itself as their residual (to adding; never below a
     * pass-through); false when t is a model output, nothing reads it, or any reader is something else.
     */
    private boolean int8Readers(SymbolicTensor t, Map<Node, Node> foldedInto, List<Node> convolutions,
                                List<Node> passing, List<Node> adding) {
        List<Node> readers = graph.consumers(t);
        if (graph.outputs().contains(t) || readers.isEmpty()) {
            return false;
        }
        for (Node reader : readers) {
            Node taker = foldedInto.get(reader);
            if (adding != null && reader.layer() instanceof Fusion.Sum && taker != null
                    && residualOf.get(taker) == t && taker.layer() instanceof Fusion.Int8HandOver
                    && inputRanges.get(taker.layer().name()) != null
                    && dev.osprey.backend.ConvInference.scaleInvariant(residualActivation.get(taker))) {
                adding.add(taker);
                continue;
            }
            Node conv = reader;
            for (Map.Entry<Node, Node> e : paddedBy.entrySet()) {
                if (e.getValue() == reader) {
                    conv = e.getKey();
                }
            }
            if (foldedInto.containsKey(conv) || absorbedInto.containsKey(conv) || inputsOf(conv).size() != 1) {
                return false;
            }
            if (conv.layer() instanceof Fusion.Int8HandOver && inputRanges.get(conv.layer().name()) != null
                    && !fp32Calls.contains(conv)) {
                convolutions.add(conv);
            } else if (conv.layer() instanceof Fusion.Int8PassThrough && conv == reader
                    && !foldedInto.containsValue(conv) && !absorbed.containsKey(conv)) {
                passing.add(conv);
                if (!int8Readers(conv.output(), foldedInto, convolutions, passing, null)) { // residuals: top only
                    return false;
                }
            } else {
                return false;
            }
        }
        return true;
    }

    /** The tensor a call's run writes, as others read it: the output of the last call folded or absorbed into it. */
    private SymbolicTensor exposedOutput(Node producer, Map<Node, Node> foldedInto) {
        SymbolicTensor t = producer.output();
        while (true) {
            List<Node> readers = graph.consumers(t);
            if (readers.size() != 1 || graph.outputs().contains(t)) {
                return t;
            }
            Node next = readers.get(0);
            if (foldedInto.get(next) != producer && absorbedInto.get(next) != producer) {
                return t;
            }
            t = next.output();
        }
    }

    /** int8 plans: the number of convolutions that hand their output to the next ones in 8 bits. */
    public int int8HandOvers() {
        return handOvers;
    }

    /** int8 plans: the number of convolutions that add a residual handed to them in 8 bits. */
    public int int8ResidualHandOvers() {
        return residualHandOvers;
    }

    /** True when exactly one call reads t, its layer is of this kind, and t is not a model output. */
    private boolean onlyReader(SymbolicTensor t, Class<?> kind) {
        List<Node> readers = graph.consumers(t);
        return readers.size() == 1 && kind.isInstance(readers.get(0).layer()) && !graph.outputs().contains(t)
                && readers.get(0).inputs().size() == 1;
    }

    private void planNode(int n, Node node, boolean[] needsGradient, Map<Node, Node> foldedInto) {
        Layer layer = node.layer();
        int outId = ids.get(node.output());
        outputIds[n] = outId;
        List<SymbolicTensor> reads = inputsOf(node);
        int arity = reads.size();
        inputIds[n] = new int[arity];
        inputNeedsGradient[n] = new boolean[arity];
        List<Tensor> in = new ArrayList<>(arity);
        List<Shape> shapes = new ArrayList<>(arity);
        for (int i = 0; i < arity; i++) {
            int id = ids.get(reads.get(i));
            inputIds[n][i] = id;
            inputNeedsGradient[n][i] = needsGradient[id];
            in.add(values[id]);
            shapes.add(reads.get(i).shape());
        }
        if (paddedBy.containsValue(node)) { // taken over by the convolution after it: nothing runs
            runs[n] = LayerRun.identity(null, List.of());
            return;
        }
        Node taker = absorbedInto.get(node);
        if (taker != null) { // its activation runs in the call before it: pass everything through
            runs[n] = LayerRun.passThrough(values[ids.get(taker.output())]);
            values[outId] = runs[n].output();
            runsBackward[n] = training && any(inputNeedsGradient[n]);
            if (runsBackward[n]) {
                contributions[inputIds[n][0]]++;
            }
            track(n, outId, null);
            return;
        }
        Node host = foldedInto.get(node);
        if (host != null) { // folded into an earlier call: its output is that call's
            runs[n] = LayerRun.identity(values[ids.get(host.output())], List.of());
            values[outId] = runs[n].output();
            List<Buffer> hostBuffers = new ArrayList<>(); // those of the inputs that hold the host's output
            for (int id : inputIds[n]) {
                if (values[id] == values[outId]) {
                    hostBuffers.addAll(storage.get(id));
                }
            }
            track(n, outId, null, hostBuffers);
            return;
        }
        Map<String, Tensor> params = new HashMap<>();
        Map<String, Tensor> grads = new HashMap<>();
        boolean laterCall = earlierCallOf(layer, n);
        for (Parameters.Slot s : parameters.of(layer)) {
            params.put(s.spec().name(), s.value());
            if (training && s.gradient() != null) {
                if (laterCall) { // a layer applied twice: this call's gradient is added to the first's
                    Tensor own = memory.allocate(s.spec().shape());
                    sharedGradients.add(new Tensor[] {s.gradient(), own});
                    grads.put(s.spec().name(), own);
                } else {
                    grads.put(s.spec().name(), s.gradient());
                }
            }
        }
        Activation fused = absorbed.get(node);
        for (Fold f : folds) {
            if (f.producer() == node) {
                params.put(((Fusion.Absorber) layer).kernelName(), f.kernel());
                params.put("bias", f.bias());
                fused = foldedActivation(f.norm());
            }
        }
        Tensor residual = null;
        if (residualOf.containsKey(node)) {
            residual = values[ids.get(residualOf.get(node))];
            fused = residualActivation.get(node);
        }
        boolean backward = training && (trains(layer) || any(inputNeedsGradient[n]));
        runsBackward[n] = backward;
        Activation.Kind leaves = leftOutOf(node.output());
        Buffer[] taken = new Buffer[1];
        Node padding = paddedBy.get(node);
        int[] extraPadding = padding == null ? NO_PADDING : ((Fusion.PaddingOnly) padding.layer()).padding();
        Node dw = depthwiseAfter.get(node);
        Node pool = maxPoolAfter.get(node);
        Shape outputShape = dw != null ? dw.output().shape() : pool != null ? pool.output().shape()
                : node.output().shape();
        Node writer = sumWrittenBy.get(node);
        java.util.function.Function<int[], Tensor> outputs = writer == null ? shape -> output(shape, taken)
                : shape -> writtenOutput(node, writer, shape);
        PlanContext context = new PlanContext(backend, memory, outputs, extraPadding, batch,
                training, in, shapes, outputShape, params, grads,
                inputNeedsGradient[n].clone(), backward, leaves, fused, prepareWeights, residual,
                fp32Calls.contains(node) ? dev.osprey.Precision.FP32 : precision,
                fp32Calls.contains(node) ? null : inputRanges.get(layer.name()),
                new PlanContext.HandOver(quantizedInputs.contains(node), quantizedOutputOf.get(node),
                        quantizedResidualOf.get(node)),
                dw == null ? null : depthwiseAfterOf(dw),
                pool == null ? null : ((Fusion.MaxPooling) pool.layer()).maxPoolSpec(node.output().shape(), batch));
        if (plannedGradients != null) {
            context.plannedInputGradients(plannedGradients[n]);
        }
        context.scratch(scratch);
        runs[n] = writer == null ? layer.plan(context) : LayerRun.backwardOnly(layer.plan(context));
        preparations.addAll(context.preparations());
        values[outId] = runs[n].output();
        track(n, outId, context.allocatedOutput() ? taken[0] : null);
        if (backward) {
            for (int i = 0; i < arity; i++) {
                if (inputNeedsGradient[n][i]) {
                    contributions[inputIds[n][i]]++;
                }
            }
        }
    }

    /** A training plan's sum written by the call before it: its output is that call's, in its own shape. */
    private Tensor writtenOutput(Node sum, Node writer, int[] shape) {
        Tensor written = values[ids.get(writer.output())];
        if (dev.osprey.backend.Checks.elements(shape) != written.size()) {
            throw new IllegalStateException(sum + ": expected an output of " + written.size() + " values, as "
                    + writer + " writes it, received a request for " + java.util.Arrays.toString(shape));
        }
        return backend.view(written, 0, shape);
    }

    /** True when an earlier call of this plan (index below n) is a call of the same layer. */
    private boolean earlierCallOf(Layer layer, int n) {
        List<Node> nodes = graph.nodes();
        for (int i = 0; i < n; i++) {
            if (nodes.get(i).layer() == layer) {
                return true;
            }
        }
        return false;
    }

    /**
     * A layer's output tensor: in a training plan, new memory (backward reads every output); in an inference plan, the
     * smallest free buffer that fits, or a new one.
     */
    private Tensor output(int[] shape, Buffer[] taken) {
        if (training) {
            return memory.allocate(shape);
        }
        long size = dev.osprey.backend.Checks.elements(shape);
        Buffer best = null;
        for (Buffer b : free) {
            if (b.size >= size && (best == null || b.size < best.size)) {
                best = b;
            }
        }
        if (best == null) {
            best = new Buffer(memory.allocate(Math.toIntExact(size)));
        } else {
            free.remove(best);
        }
        taken[0] = best;
        return backend.view(best.tensor, 0, shape);
    }

    /**
     * Inference plans: records the buffers call n's output lives in (the one it took, or, for a view or an alias of its
     * inputs, theirs), then frees the buffers of inputs call n was the last to read.
     */
    private void track(int n, int outId, Buffer taken) {
        track(n, outId, taken, null);
    }

    /** The same, for a call whose output is another call's (folded into it): it lives where that one does. */
    private void track(int n, int outId, Buffer taken, List<Buffer> hostStorage) {
        if (training) {
            return;
        }
        List<Buffer> lives;
        if (taken != null) {
            lives = List.of(taken);
        } else if (hostStorage != null) {
            lives = new ArrayList<>(hostStorage);
        } else {
            lives = new ArrayList<>();
            for (int id : inputIds[n]) {
                lives.addAll(storage.get(id));
            }
        }
        for (Buffer b : lives) {
            b.readers++;
        }
        storage.set(outId, lives);
        for (int id : inputIds[n]) {
            if (lastUse[id] == n) {
                for (Buffer b : storage.get(id)) {
                    if (--b.readers == 0) {
                        free.add(b);
                    }
                }
                storage.set(id, List.of());
            }
        }
    }

    /** The activation of the call folded in after this BatchNorm call, if any. */
    private Activation foldedActivation(Node norm) {
        List<Node> readers = graph.consumers(norm.output());
        if (readers.size() == 1 && readers.get(0).layer() instanceof Fusion.ActivationOnly a
                && onlyReader(norm.output(), Fusion.ActivationOnly.class)
                && a.elementwiseActivation().kind() != Activation.Kind.SOFTMAX) {
            return a.elementwiseActivation();
        }
        return Activation.LINEAR;
    }

    private static boolean any(boolean[] flags) {
        for (boolean f : flags) {
            if (f) {
                return true;
            }
        }
        return false;
    }

    private Parameters.Slot slot(Layer layer, String name) {
        for (Parameters.Slot s : parameters.of(layer)) {
            if (s.spec().name().equals(name)) {
                return s;
            }
        }
        throw new IllegalStateException(layer.describe() + " has no weight named " + name);
    }

    // ---- running -----------------------------------------------------------------------------------------

    /** The batch size this plan was made for: its inputs, outputs and targets hold this many samples. */
    public int batch() {
        return batch;
    }

    /** Whether this is a training plan (backward pass planned, trainable layers in training mode). */
    public boolean training() {
        return training;
    }

    /** Model input i: (batch, input shape...), for the caller to fill. */
    public Tensor input(int i) {
        return inputs.get(i);
    }

    /**
     * The model's inputs as one tensor of (batch, sum of the inputs' sizes) rows, each sample's inputs side by side in
     * the graph's order ({@link Graph#packedRowSize}), for the callers that feed data a sample a row (training,
     * evaluation): they fill it, then call {@link #unpackInputs} before the forward pass. A model of one input has its
     * input here; a model of several gets a tensor of its own, made on first use and kept.
     */
    public Tensor packedInput() {
        if (inputs.size() == 1) {
            return inputs.get(0);
        }
        if (packedInput == null) {
            packedInput = memory.allocate(batch, graph.packedRowSize());
        }
        return packedInput;
    }

    /**
     * Copies {@link #packedInput}'s columns into each input (one backend op; nothing for a model of one input).
     * Call it on the backend's thread, after filling packedInput and before the forward pass.
     */
    public void unpackInputs() {
        if (inputs.size() == 1) {
            return;
        }
        if (packedInput == null) {
            throw new IllegalStateException("unpackInputs: packedInput() was never filled");
        }
        backend.split(batch, packedInput, inputs);
    }

    /** Output i after {@link #forward}: (batch, output shape...); logits when the plan leaves out the softmax. */
    public Tensor output(int i) {
        return values[ids.get(graph.outputs().get(i))];
    }

    /**
     * Where the caller applies an activation this plan left out of output o, after the forward pass: the output itself
     * for a model of one output; for several, a tensor of the output's shape of its own (made on first use), since
     * outputs may share storage (an activation layer left out passes its input on, which may be another output).
     */
    public Tensor activatedOutput(int o) {
        if (graph.outputs().size() == 1) {
            return output(0);
        }
        if (activatedOutputs == null) {
            activatedOutputs = new Tensor[graph.outputs().size()];
        }
        if (activatedOutputs[o] == null) {
            activatedOutputs[o] = memory.allocate(graph.outputs().get(o).shape().withBatch(batch));
        }
        return activatedOutputs[o];
    }

    /** (batch, outputs) targets of the single-output loss, for the caller to fill. */
    public Tensor targets() {
        return targets;
    }

    /**
     * Targets of width values a row for the caller to fill: {@link #targets()} for the output's width, or (batch,
     * outputs + 1) rows that end in the row's weight (made on first use and kept). For a model of several outputs:
     * every output's target rows side by side (see {@link TargetRows}), each of the output's width or, weighted, one
     * more; {@link #targetParts} then splits them.
     */
    public Tensor targets(int width) {
        if (targets == null) { // several outputs: their target rows side by side, split by targetParts
            int variant = packedVariant(width);
            if (packedTargets[variant] == null) {
                packedTargets[variant] = memory.allocate(batch, width);
            }
            packedFilled = variant;
            return packedTargets[variant];
        }
        int outputs = targets.shape()[1];
        if (width == outputs) {
            return targets;
        }
        if (width != outputs + 1) {
            throw new IllegalArgumentException("expected target rows of " + outputs + " or " + (outputs + 1)
                    + " values, received " + width);
        }
        if (weightedTargets == null) {
            weightedTargets = memory.allocate(batch, width);
        }
        return weightedTargets;
    }

    /** The loss gradient of the output, for the caller's loss op to write (training plans of one output). */
    public Tensor outputGradient() {
        return outputGradients.length == 1 ? outputGradients[0] : null;
    }

    /** The loss gradient of output o, for the caller's loss op to write (training plans). */
    public Tensor outputGradient(int o) {
        return outputGradients[o];
    }

    /**
     * A model of several outputs: splits the target rows last filled through {@link #targets(int)} (their width the
     * sum of widths) into one tensor per output, (batch, widths[o]) each, and returns them. One backend op; call it on
     * the backend's thread. The tensors are made at the first call and kept while the widths stay the same.
     */
    public List<Tensor> targetParts(int[] widths) {
        if (targets != null) {
            throw new IllegalStateException("targetParts: a model of one output reads targets() whole");
        }
        if (packedFilled < 0) {
            throw new IllegalStateException("targetParts: expected target rows filled through targets(width) first");
        }
        boolean weighted = packedFilled == 1;
        boolean fits = widths.length == graph.outputs().size();
        for (int o = 0; fits && o < widths.length; o++) {
            fits = widths[o] == graph.outputs().get(o).shape().size() + (weighted ? 1 : 0);
        }
        if (!fits) {
            throw new IllegalArgumentException("targetParts: expected per output its width" + (weighted
                    ? " plus its weight column" : "") + " as filled, received " + java.util.Arrays.toString(widths));
        }
        if (targetParts.get(packedFilled) == null) {
            List<Tensor> parts = new ArrayList<>();
            for (int w : widths) {
                parts.add(memory.allocate(batch, w));
            }
            targetParts.set(packedFilled, List.copyOf(parts));
        }
        List<Tensor> parts = targetParts.get(packedFilled);
        backend.split(batch, packedTargets[packedFilled], parts);
        return parts;
    }

    /**
     * Which packed target rows width is for a model of several outputs: 0 for the outputs' widths added up (unweighted),
     * 1 for that plus one weight column per output.
     */
    private int packedVariant(int width) {
        int unweighted = outputsWidth;
        if (width == unweighted || width == unweighted + graph.outputs().size()) {
            return width == unweighted ? 0 : 1;
        }
        throw new IllegalArgumentException("expected target rows of " + unweighted + " values (every output's, side by "
                + "side) or " + (unweighted + graph.outputs().size()) + " (each output's ending in its weight), "
                + "received " + width);
    }

    /** The activation this plan leaves out of t when t is one of the model's outputs, else null. */
    private Activation.Kind leftOutOf(SymbolicTensor t) {
        int o = graph.outputs().indexOf(t);
        return o < 0 ? null : leftOut[o];
    }

    /**
     * Refreshes weights derived from the model's (folded kernels, then kernels in the backend's layouts) if the model's
     * weights changed since.
     */
    public void prepare() {
        if ((folds.isEmpty() && preparations.isEmpty()) || foldedVersion == parameters.version()) {
            return;
        }
        for (Fold f : folds) {
            Fusion.Absorber absorber = (Fusion.Absorber) f.producer().layer();
            float[] kernel = parameters.read(slot(f.producer().layer(), absorber.kernelName())).data();
            float[] bias = null;
            for (Parameters.Slot s : parameters.of(f.producer().layer())) {
                if (s.spec().name().equals("bias")) {
                    bias = parameters.read(s).data();
                }
            }
            Map<String, float[]> norm = new HashMap<>();
            for (Parameters.Slot s : parameters.of(f.norm().layer())) {
                norm.put(s.spec().name(), parameters.read(s).data());
            }
            float[][] scaleShift = ((Fusion.ChannelAffine) f.norm().layer()).inferenceScaleShift(norm);
            float[][] folded = Fusion.fold(kernel, bias, scaleShift[0], scaleShift[1]);
            backend.copyIn(folded[0], 0, f.kernel());
            backend.copyIn(folded[1], 0, f.bias());
        }
        for (PlanContext.Preparation p : preparations) {
            p.prepare().accept(p.source(), p.prepared());
        }
        foldedVersion = parameters.version();
    }

    /**
     * Every call's forward, in order; seed drives dropout (each call gets its own stream). An optimized inference plan
     * runs consecutive calls the backend chains ({@link LayerRun#chainForward}) as one op chain each.
     */
    public void forward(long seed) {
        forward(seed, (CallClock) null);
    }

    /**
     * {@link #forward(long)}, timing each call, or each chain of calls, on clock (null: untimed); a call that computes
     * nothing ({@link LayerRun#computesNothing}) is not timed.
     */
    public void forward(long seed, CallClock clock) {
        prepare();
        for (Scheduled step : schedule()) {
            boolean timed = clock != null && (step.chain() != null || !runs[step.run()].computesNothing());
            if (timed) {
                clock.start();
            }
            if (step.chain() != null) {
                backend.runChain(step.chain());
                if (timed) {
                    clock.chainDone(step.members());
                }
            } else {
                runs[step.run()].forward(seed * 1_000_003L + step.run());
                if (timed) {
                    clock.forwardDone(step.run());
                }
            }
        }
    }

    /**
     * One step of {@link #forward(long)}: a call (its index) on its own, or a chain of calls (members: their indices,
     * the calls whose ops it runs).
     */
    private record Scheduled(int run, OpChain chain, List<Integer> members) {
    }

    /**
     * The steps of {@link #forward(long)}, made at its first call: every call on its own, except in an optimized
     * inference plan on a backend that makes op chains, where each stretch of calls it chains becomes one chain.
     */
    private List<Scheduled> schedule() {
        if (schedule != null) {
            return schedule;
        }
        List<Scheduled> steps = new ArrayList<>();
        try {
            OpChain chain = prepareWeights ? newChain() : null;
            List<Integer> members = new ArrayList<>(); // the calls that appended ops to chain so far
            for (int n = 0; n < runs.length; n++) {
                int before = chain == null ? 0 : chain.ops();
                if (chain != null && runs[n].chainForward(chain)) {
                    if (chain.ops() > before) { // else its work was folded into a call beside it: nothing to run
                        members.add(n);
                    }
                    continue;
                }
                if (chain != null && chain.ops() > 0) { // the stretch before this call ends: it runs first
                    steps.add(new Scheduled(-1, chain, List.copyOf(members)));
                    chain = newChain();
                }
                members.clear();
                steps.add(new Scheduled(n, null, List.of()));
            }
            if (chain != null && chain.ops() > 0) {
                steps.add(new Scheduled(-1, chain, List.copyOf(members)));
            }
        } catch (RuntimeException | Error e) { // no half-made schedule: a later call starts again from nothing
            chains.forEach(OpChain::close);
            chains.clear();
            throw e;
        }
        schedule = List.copyOf(steps);
        return schedule;
    }

    /** A new chain from the backend, owned by this plan from the start (closed with it); null where it makes none. */
    private OpChain newChain() {
        OpChain chain = backend.newChain();
        if (chain != null) {
            chains.add(chain);
        }
        return chain;
    }

    /**
     * {@link #forward(long)} for the rows of a larger batch that start at {@code firstRow}, the batch split across
     * data-parallel replicas: each call's random stream (dropout) is skipped to that row, so the replicas together
     * draw what one device running the whole batch draws (see {@link dev.osprey.backend.CounterRandom}).
     */
    public void forward(long seed, int firstRow) {
        if (firstRow == 0) {
            forward(seed);
            return;
        }
        prepare();
        if (valuesPerSample == null) {
            valuesPerSample = graph.nodes().stream().mapToLong(node -> node.output().shape().size()).toArray();
        }
        for (int n = 0; n < runs.length; n++) {
            runs[n].forward(dev.osprey.backend.CounterRandom.skip(seed * 1_000_003L + n,
                    firstRow * valuesPerSample[n]));
        }
    }

    /** What {@link #forward(long, Observer)} shows before each call runs. */
    public interface Observer {
        /** The call about to run, and the tensors it reads (valid until it has run). */
        void beforeCall(Node node, List<Tensor> inputs);
    }

    /** {@link #forward(long)}, showing each call's inputs to observer just before it runs (calibration). */
    public void forward(long seed, Observer observer) {
        prepare();
        List<Node> nodes = graph.nodes();
        for (int n = 0; n < runs.length; n++) {
            List<Tensor> in = new ArrayList<>(inputIds[n].length);
            for (int id : inputIds[n]) {
                in.add(values[id]);
            }
            observer.beforeCall(nodes.get(n), in);
            runs[n].forward(seed * 1_000_003L + n);
        }
    }

    /** Back-propagates {@link #outputGradient()} through every call, writing the gradient arena. */
    public void backward() {
        backward(null);
    }

    /**
     * {@link #backward()}, telling afterCall (when not null) each call's node index as soon as that call's backward has
     * run: its layer's weight gradients are then final, unless the layer is called more than once (shared layers'
     * gradients are summed at the very end). Data-parallel training starts summing gradients across replicas there.
     */
    public void backward(java.util.function.IntConsumer afterCall) {
        backward(afterCall, null);
    }

    /**
     * {@link #backward(java.util.function.IntConsumer)}, timing each call's backward on clock (null: untimed), except a
     * call's that computes nothing.
     */
    public void backward(java.util.function.IntConsumer afterCall, CallClock clock) {
        if (!training) {
            throw new IllegalStateException("backward: this plan was made for inference");
        }
        java.util.Arrays.fill(received, 0);
        java.util.Arrays.fill(gradients, null);
        if (gatedByReader == null) {
            gatedByReader = new boolean[gradients.length];
            producerOf = new int[gradients.length];
            java.util.Arrays.fill(producerOf, -1);
            for (int n = 0; n < runs.length; n++) {
                producerOf[outputIds[n]] = n;
            }
        }
        java.util.Arrays.fill(gatedByReader, false);
        gradientSumsFused = 0;
        for (int o = 0; o < outputGradients.length; o++) {
            int id = ids.get(graph.outputs().get(o));
            gradients[id] = outputGradients[o];
            if (contributions[id] > 1) { // an output later calls read: their gradients add to its loss's
                received[id] = 1;
            }
        }
        for (int n = runs.length - 1; n >= 0; n--) {
            poisonEndedAt(n + 1); // tests only
            if (!runsBackward[n]) {
                continue;
            }
            if (poisonArena && plannedGradients != null && plannedGradients[n] != null) {
                for (Tensor t : plannedGradients[n]) {
                    if (t != null) {
                        backend.fill(t, Float.NaN);
                    }
                }
            }
            Tensor dOut = gradients[outputIds[n]];
            if (dOut == null) {
                continue; // nothing downstream depends on it
            }
            Tensor[] offered = offeredAddends(n);
            boolean timed = clock != null && !runs[n].computesNothing();
            if (timed) {
                clock.start();
            }
            List<Tensor> dIn;
            if (gatedByReader[outputIds[n]]) { // the reader that wrote dOut applied this run's ReLU gradient
                dIn = runs[n].backwardGated(dOut);
            } else if (offered == null) {
                dIn = runs[n].backward(dOut);
            } else {
                Tensor[] gates = offeredGate(n);
                gateTaken[0] = false;
                dIn = runs[n].backward(dOut, offered, gates, offerTaken, gateTaken);
                if (gates != null && gateTaken[0]) {
                    if (!offerTaken[0]) {
                        throw new IllegalStateException(graph.nodes().get(n) + " applied its input's ReLU gate "
                                + "without adding the input's other gradients: expected a gate taken only with them");
                    }
                    gatedByReader[gateTarget] = true;
                }
            }
            if (plannedGradients != null && plannedGradients[n] != null) {
                requirePlannedGradients(n, dIn);
            }
            if (afterCall != null) {
                afterCall.accept(n);
            }
            for (int i = 0; i < inputIds[n].length; i++) {
                if (offered != null && offerTaken[i]) { // the run wrote the sum: its gradient is the input's
                    gradients[inputIds[n][i]] = dIn.get(i);
                    received[inputIds[n][i]]++;
                    gradientSumsFused++;
                } else if (inputNeedsGradient[n][i]) {
                    contribute(inputIds[n][i], dIn.get(i), n);
                }
            }
            if (timed) { // a call's time includes summing its input gradients into others'
                clock.backwardDone(n);
            }
        }
        for (Tensor[] shared : sharedGradients) {
            backend.add(shared[0], shared[1], shared[0]);
        }
    }

    /**
     * A call whose input gradients the arena holds must return them (Fusion.OwnInputGradients): anything else (its
     * output gradient, a view of it, a tensor of its own) would outlive the life the layout gave it, or share memory
     * with gradients still to be read.
     */
    private void requirePlannedGradients(int n, List<Tensor> dIn) {
        for (int i = 0; i < plannedGradients[n].length; i++) {
            Tensor planned = plannedGradients[n][i];
            if (planned != null && dIn.get(i) != planned) {
                throw new IllegalStateException(graph.nodes().get(n) + " is marked Fusion.OwnInputGradients, but "
                        + "its backward returned " + dIn.get(i) + " as input " + i + "'s gradient: expected the "
                        + "tensor PlanContext.allocateInputGradient(" + i + ") gave it, " + planned);
            }
        }
    }

    /**
     * The gradients call n's backward may add to its input's (the sum of that input's other contributions so far, where
     * n's is the last one due), or null where there is none to offer: a call of one input only, so that an input read
     * twice by one call is never offered. Its run, if it takes one, writes the whole sum in its own input gradient.
     */
    private Tensor[] offeredAddends(int n) {
        if (inputIds[n].length != 1 || !inputNeedsGradient[n][0]) {
            return null;
        }
        int id = inputIds[n][0];
        if (contributions[id] < 2 || received[id] != contributions[id] - 1) {
            return null;
        }
        offer[0] = gradients[id];
        offerTaken[0] = false;
        return offer;
    }

    /**
     * Beside an offered addend (offeredAddends), the ReLU gate of the input's producer (LayerRun.reluGate: the output of
     * a ReLU its backward would differentiate first), or null where it has none: the run that writes the input's whole
     * gradient may apply that gradient too, and the producer's backward then skips it.
     */
    private Tensor[] offeredGate(int n) {
        int id = inputIds[n][0];
        int producer = producerOf[id];
        // through calls that pass their gradient on unchanged (an activation layer another call took), each the one
        // reader of its input, to the call that applies the gradient
        while (producer >= 0 && runs[producer].computesNothing() && inputIds[producer].length == 1
                && contributions[inputIds[producer][0]] == 1) {
            id = inputIds[producer][0];
            producer = producerOf[id];
        }
        Tensor gate = producer >= 0 && runsBackward[producer] ? runs[producer].reluGate() : null;
        if (gate == null) {
            return null;
        }
        gateTarget = id;
        gateOffer[0] = gate;
        gateTaken[0] = false;
        return gateOffer;
    }

    /** Training plans: how many ReLU gradients the last backward pass left to the readers of their outputs. */
    int reluGatesFused() {
        int fused = 0;
        for (boolean g : gatedByReader == null ? new boolean[0] : gatedByReader) {
            fused += g ? 1 : 0;
        }
        return fused;
    }

    /** Training plans: how many gradient sums the last backward pass left to the layers (their runs added them). */
    int gradientSumsFused() {
        return gradientSumsFused;
    }

    private void contribute(int id, Tensor g, int node) {
        if (g == null) {
            throw new IllegalStateException(graph.nodes().get(node) + " returned no input gradient where the plan "
                    + "asked for one");
        }
        if (contributions[id] == 1) {
            gradients[id] = g;
            return;
        }
        int r = received[id]++;
        if (r == 0) {
            gradients[id] = g;
        } else if (r == 1) {
            if (accumulators[id] == null) { // the first step that needs it; kept for the next
                accumulators[id] = memory.allocate(values[id].shape());
            }
            backend.add(gradients[id], g, accumulators[id]);
            gradients[id] = accumulators[id];
        } else {
            backend.add(accumulators[id], g, accumulators[id]);
        }
    }

    /** How many zero paddings this plan let the convolution after them take over. */
    int absorbedPaddings() {
        return paddedBy.size();
    }

    /** How many activation layers this plan let the layer before them apply. */
    int absorbedActivations() {
        return absorbed.size();
    }

    /** How many sums this plan let the convolution before them compute. */
    int residualSums() {
        return residualOf.size();
    }

    /** Training plans: how many sums the BatchNormalization before them writes (planTrainingResidualSums). */
    int sumsWrittenByNormalization() {
        return sumWrittenBy.size();
    }

    /** How many BatchNormalization calls this plan folded into the layer before them. */
    int folds() {
        return folds.size();
    }

    /** Bytes of tensors this plan holds. */
    public long bytes() {
        return memory.bytes();
    }

    /** Calls the forward pass runs in op chains: 0 before its first call, and in plans that make none. */
    int chainedOps() {
        return chains.stream().mapToInt(OpChain::ops).sum();
    }

    /**
     * Of {@link #bytes}, those of weights held in the layout the backend's inference ops read (a Winograd kernel's
     * transform is 16/9 or 36/9 of its 3x3 kernel); 0 for plans that read the parameters as they are.
     */
    public long preparedWeightBytes() {
        long bytes = 0;
        for (PlanContext.Preparation p : preparations) {
            bytes += p.prepared().size() * Float.BYTES;
        }
        return bytes;
    }

    @Override
    public void close() {
        chains.forEach(OpChain::close);
        chains.clear();
        memory.close();
    }
}
