package dev.osprey;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Tensor;
import dev.osprey.callbacks.BackupAndRestore;
import dev.osprey.data.images.Preprocessing;
import dev.osprey.engine.Graph;
import dev.osprey.engine.Network;
import dev.osprey.engine.Parameters;
import dev.osprey.engine.Summary;
import dev.osprey.engine.Trainer;
import dev.osprey.io.ModelFile;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.Optimizer;
import dev.osprey.optim.SGD;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A model of layers connected as a graph, as Keras' functional Model: build it from inputs and outputs, then compile,
 * fit, evaluate, predict, summary, save and load.
 *
 * <pre>{@code
 * Input input = Input.shape(32, 32, 3);
 * SymbolicTensor x = new Conv2D(16, 3).padding(Padding.SAME).useBias(false).apply(input);
 * x = new ReLU().apply(new BatchNormalization().apply(x));
 * ...
 * Model model = new Model(input, new Dense(10, Activation.SOFTMAX).apply(x));
 * }</pre>
 *
 * Owns its weights' and plans' native memory from build to {@link #close()}; the device's backend is shared. Every
 * public method is safe from any thread: calls on one model run one at a time.
 */
public class Model implements AutoCloseable {
    /** Weights start from this seed unless {@link #seed(long)} says otherwise, so runs repeat by default. */
    public static final long DEFAULT_SEED = 42;

    private Graph graph;
    private Device device;
    private long seed = DEFAULT_SEED;
    private Optimizer optimizer;
    private Loss loss;                  // the loss; for several outputs, the first output's
    // a model of several outputs: its losses, one per output; else null. Volatile: read without the lock by the checks
    // that must answer at once while another thread trains (which holds it)
    private volatile List<Loss> outputLosses;
    private double[] lossWeights;       // with outputLosses: their weights
    private Set<Metric> metrics = EnumSet.noneOf(Metric.class);
    private List<Set<Metric>> outputMetrics; // compiled by output: per output, its metrics; null: every output, all
    private List<String> classNames = List.of();
    private Preprocessing preprocessing;
    private Network network;
    private Optimizer.Updater updater;
    private volatile boolean closed; // volatile: other models read it, unlocked, when they are built
    private boolean acceptNonFiniteInputs;
    private Precision inferencePrecision = Precision.FP32;
    private MixedPrecision mixedPrecision = MixedPrecision.FLOAT32;
    private Map<String, dev.osprey.backend.InputRange> inputRanges = Map.of(); // int8 calibration, by layer name
    /** The thread running fit, while it runs: other threads get a clear error instead of waiting hours. */
    private final java.util.concurrent.atomic.AtomicReference<Thread> trainer = new java.util.concurrent.atomic.AtomicReference<>();
    /** The call the trainer thread is in (fit, trainOnBatch, profileTraining), for other threads' refusals. */
    private volatile String trainingCall = "fit";
    /**
     * Set while fit's epochs run, which is when its callbacks run: a training call then (fit, trainOnBatch) would
     * reset the running fit's loss and metrics and could put averaged weights in place. Read and written under the
     * model's lock, by the training thread.
     */
    private boolean fitRunning;

    /** A model from one input to one output. */
    public Model(Input input, SymbolicTensor output) {
        this(List.of(input), List.of(output));
    }

    /**
     * A model of several inputs and outputs. Training takes one loss per output
     * ({@link #compile(Optimizer, List, List, Metric...)}) and one array per input and per output.
     */
    public Model(List<Input> inputs, List<SymbolicTensor> outputs) {
        this.graph = new Graph(inputs, outputs);
    }

    /** For {@link Sequential}, which makes its graph once it knows the input shape. */
    Model() {
    }

    /** The graph, made now by a subclass that defers it; sample is one sample's shape of the data at hand, or null. */
    Graph graphFor(Shape sample) {
        return graph;
    }

    /** For {@link Sequential}: the graph it made. */
    final void setGraph(Graph graph) {
        this.graph = graph;
    }

    final Graph graphOrNull() {
        return graph;
    }

    /** Keras' class name in model files and summaries: "Functional" or "Sequential". */
    public String className() {
        return "Functional";
    }

    // ---- configuration -----------------------------------------------------------------------------------

    /** Where the model runs; default {@link Device#auto()}. Set before the model is built. */
    public Model device(Device device) {
        refuseWhileTraining("device");
        synchronized (this) {
            if (network != null) {
                throw new IllegalStateException(className() + ": the device must be chosen before the model is built");
            }
            this.device = device;
            return this;
        }
    }

    /** The device chosen for this model (set at build time when left to {@link Device#auto()}). */
    public Device device() {
        refuseWhileTraining("device");
        synchronized (this) {
            return device;
        }
    }

    /** Seed of the weight initialisation (and default seed of fit). Set before the model is built. */
    public Model seed(long seed) {
        refuseWhileTraining("seed");
        synchronized (this) {
            this.seed = seed;
            return this;
        }
    }

    /** The seed of the weight initialisation (default {@link #DEFAULT_SEED}). */
    public long seed() {
        refuseWhileTraining("seed");
        synchronized (this) {
            return seed;
        }
    }

    /** Keras' compile(optimizer, loss, metrics); builds the model when its input shape is known. */
    public Model compile(Optimizer optimizer, Loss loss, Metric... metrics) {
        return compile(optimizer, loss, null, null, null, metrics);
    }

    /**
     * Keras' compile for a model of several outputs, {@code compile(optimizer, loss=[la, lb], metrics)}: one loss per
     * output, in the model's output order, each of weight 1. fit, evaluate and trainOnBatch then take one label array
     * per output, and report the total loss ("loss") and each output's ("name_loss", by the output layer's name; with
     * accuracy, each classifying output's "name_accuracy"). A model of one output takes a list of one.
     */
    public Model compile(Optimizer optimizer, List<Loss> losses, Metric... metrics) {
        return compile(optimizer, losses, losses == null ? null : java.util.Collections.nCopies(losses.size(), 1.0),
                metrics);
    }

    /**
     * {@link #compile(Optimizer, List, Metric...)} with Keras' loss_weights: the loss minimized is the sum of each
     * output's mean loss times its weight (finite, >= 0), plus the weight penalties.
     */
    public Model compile(Optimizer optimizer, List<Loss> losses, List<Double> lossWeights, Metric... metrics) {
        return compileLists(optimizer, losses, lossWeights, null, metrics);
    }

    /** The list forms of compile: metrics for every output, or with perOutput (not null) each output's own. */
    private Model compileLists(Optimizer optimizer, List<Loss> losses, List<Double> lossWeights,
                               List<Set<Metric>> perOutput, Metric... metrics) {
        if (losses == null || losses.isEmpty() || losses.stream().anyMatch(java.util.Objects::isNull)) {
            Graph g = graphOrNull();
            throw new IllegalArgumentException("compile: expected one loss per model output"
                    + (g == null ? "" : " (" + g.outputs().size() + ")") + ", received " + losses);
        }
        if (lossWeights == null || lossWeights.size() != losses.size()
                || lossWeights.stream().anyMatch(java.util.Objects::isNull)) {
            throw new IllegalArgumentException("compile: expected one loss weight for each of the " + losses.size()
                    + " losses, received " + lossWeights);
        }
        double[] weights = lossWeights.stream().mapToDouble(Double::doubleValue).toArray();
        for (double w : weights) {
            if (!(w >= 0) || Double.isInfinite(w)) {
                throw new IllegalArgumentException("compile: expected finite loss weights >= 0, received "
                        + lossWeights);
            }
        }
        if (losses.size() == 1) {
            if (weights[0] != 1) {
                throw new IllegalArgumentException("compile: expected a loss weight of 1 for a model of one loss, "
                        + "received " + weights[0] + " (scale the learning rate instead)");
            }
            return compile(optimizer, losses.get(0), null, null, null, metrics); // one output: its metrics
        }
        return compile(optimizer, losses.get(0), List.copyOf(losses), weights, perOutput, metrics);
    }

    /**
     * Keras' compile with losses and loss weights by output name, {@code compile(loss={"kind": ..., "box": ...},
     * loss_weights={"box": 0.5})}: an output's name is its layer's name; every output needs a loss, and an output
     * without a weight weighs 1. lossWeights may be null.
     */
    public Model compile(Optimizer optimizer, Map<String, Loss> losses, Map<String, Double> lossWeights,
                         Metric... metrics) {
        ByOutputName ordered = inOutputOrder(losses, lossWeights, null);
        return compile(optimizer, ordered.losses(), ordered.weights(), metrics);
    }

    /**
     * Keras' compile with metrics by output name, {@code compile(loss={...}, loss_weights={...}, metrics={"kind":
     * ["accuracy", "precision"], "box": ["mae"]})}: each output reports its own metrics alone, under its name
     * ("kind_precision", "box_mae"), and an output not named reports none. Accuracy and the classification metrics
     * need an output whose loss classifies. lossWeights may be null.
     */
    public Model compile(Optimizer optimizer, Map<String, Loss> losses, Map<String, Double> lossWeights,
                         Map<String, List<Metric>> metrics) {
        ByOutputName ordered = inOutputOrder(losses, lossWeights, metrics == null ? Map.of() : metrics);
        return compile(optimizer, ordered.losses(), ordered.weights(), ordered.metrics());
    }

    /** compile's settings by output name, put in output order. */
    private record ByOutputName(List<Loss> losses, List<Double> weights, List<List<Metric>> metrics) {
    }

    /**
     * Checks losses, loss weights and metrics (null: not given) by output name against the outputs' names (every
     * output needs a loss; one without a weight weighs 1, one without metrics reports none) and puts them in output
     * order. Refuses at once while another thread's fit holds the lock.
     */
    private ByOutputName inOutputOrder(Map<String, Loss> losses, Map<String, Double> lossWeights,
                                       Map<String, List<Metric>> metrics) {
        refuseWhileTraining("compile"); // before the lock, which another thread's fit holds
        refuseInsideFit("compile", COMPILE_INSIDE_FIT);
        List<String> names;
        synchronized (this) {
            names = dev.osprey.engine.ModelLoss.outputNames(requireGraph("compile"));
        }
        Map<String, Double> weights = lossWeights == null ? Map.of() : lossWeights;
        Map<String, List<Metric>> byName = metrics == null ? Map.of() : metrics;
        for (Map<String, ?> given : List.of(losses == null ? Map.<String, Loss>of() : losses, weights, byName)) {
            for (String key : given.keySet()) {
                if (!names.contains(key)) {
                    throw new IllegalArgumentException("compile: expected losses" + (metrics == null ? " and loss "
                            + "weights" : ", loss weights and metrics") + " by the outputs' names " + names
                            + ", received '" + key + "'");
                }
            }
        }
        List<Loss> orderedLosses = new ArrayList<>();
        List<Double> orderedWeights = new ArrayList<>();
        List<List<Metric>> orderedMetrics = new ArrayList<>();
        for (String name : names) {
            Loss l = losses == null ? null : losses.get(name);
            if (l == null) {
                throw new IllegalArgumentException("compile: expected a loss for each of the outputs " + names
                        + ", received none for '" + name + "'");
            }
            orderedLosses.add(l);
            orderedWeights.add(weights.getOrDefault(name, 1.0));
            orderedMetrics.add(byName.getOrDefault(name, List.of()));
        }
        return new ByOutputName(orderedLosses, orderedWeights, orderedMetrics);
    }

    /**
     * Keras' compile with a list of metrics per output, {@code compile(loss=[...], loss_weights=[...],
     * metrics=[["accuracy"], ["mae"]])}, in the model's output order: as {@link #compile(Optimizer, Map, Map, Map)};
     * lossWeights null weighs every output 1. (Pass {@code List.of()}, not a bare null, for no metrics: null would fit
     * this form and the one of {@code Metric...} alike.)
     */
    public Model compile(Optimizer optimizer, List<Loss> losses, List<Double> lossWeights,
                         List<List<Metric>> metrics) {
        if (losses == null || losses.isEmpty()) {
            throw new IllegalArgumentException("compile: expected one loss per model output, received " + losses);
        }
        if (metrics == null || metrics.size() != losses.size() || metrics.stream().anyMatch(
                each -> each == null || each.stream().anyMatch(java.util.Objects::isNull))) {
            throw new IllegalArgumentException("compile: expected a list of metrics (none null) for each of the "
                    + losses.size() + " outputs, received " + metrics);
        }
        if (lossWeights == null) {
            lossWeights = java.util.Collections.nCopies(losses.size(), 1.0);
        }
        List<Set<Metric>> perOutput = new ArrayList<>();
        Set<Metric> union = EnumSet.noneOf(Metric.class);
        for (List<Metric> each : metrics) {
            Set<Metric> set = each.isEmpty() ? EnumSet.noneOf(Metric.class) : EnumSet.copyOf(each);
            perOutput.add(Collections.unmodifiableSet(set));
            union.addAll(set);
        }
        return compileLists(optimizer, losses, lossWeights, perOutput, union.toArray(Metric[]::new));
    }

    private static final String COMPILE_INSIDE_FIT = "a callback changes the rate with training.learningRate(rate); "
            + "to train with other settings, stop (training.stopTraining()), compile after fit returns, and fit again";

    private Model compile(Optimizer optimizer, Loss loss, List<Loss> outputLosses, double[] lossWeights,
                          List<Set<Metric>> perOutput, Metric... metrics) {
        refuseWhileTraining("compile");
        refuseInsideFit("compile", COMPILE_INSIDE_FIT);
        synchronized (this) {
            checkOpen();
            if (optimizer == null || loss == null) {
                throw new IllegalArgumentException("compile: expected an optimizer and a loss, received "
                        + optimizer + " and " + loss);
            }
            Optimizer previousOptimizer = this.optimizer;
            Loss previousLoss = this.loss;
            List<Loss> previousOutputLosses = this.outputLosses;
            double[] previousWeights = this.lossWeights;
            Set<Metric> previousMetrics = this.metrics;
            List<Set<Metric>> previousOutputMetrics = this.outputMetrics;
            Optimizer.Updater previousUpdater = this.updater;
            this.optimizer = optimizer;
            this.loss = loss;
            this.outputLosses = outputLosses;
            this.lossWeights = lossWeights;
            this.metrics = metrics.length == 0 ? EnumSet.noneOf(Metric.class) : EnumSet.copyOf(Arrays.asList(metrics));
            this.outputMetrics = perOutput == null ? null : List.copyOf(perOutput);
            this.updater = null;
            Network previousNetwork = network;
            try {
                if (network != null && network.parameters().trainabilityChanged() != null) {
                    relayoutWeights();
                }
                if (graphFor(null) != null) {
                    build();
                }
            } catch (RuntimeException e) { // a model that can't take this compile keeps the one it had
                this.optimizer = previousOptimizer;
                this.loss = previousLoss;
                this.outputLosses = previousOutputLosses;
                this.lossWeights = previousWeights;
                this.metrics = previousMetrics;
                this.outputMetrics = previousOutputMetrics;
                // An updater bound to the weights before a relayout can't be kept; the next build binds a fresh one.
                this.updater = network == previousNetwork ? previousUpdater : null;
                throw e;
            }
            return this;
        }
    }

    /**
     * Lays the weights out again after layers were frozen or unfrozen, keeping their values: trained weights move to
     * the trainable arena with gradients, frozen ones to the state arena. Plans and optimizer state start afresh.
     */
    private void relayoutWeights() {
        List<NDArray> values = network.parameters().get();
        Network relaid = new Network(graph, network.backend());
        relaid.inferencePrecision(inferencePrecision);
        relaid.trainingMath(network.trainingMath());
        try {
            relaid.parameters().set(values);
        } catch (RuntimeException e) {
            relaid.close();
            throw e;
        }
        network.close();
        network = relaid;
        updater = null;
    }

    /**
     * Keras' string form: compile("adam", "categorical_crossentropy", "accuracy"), with Keras' default settings; names
     * in any case, and Keras' class names too ("Adam", "SparseCategoricalCrossentropy").
     */
    public Model compile(String optimizer, String loss, String... metrics) {
        Optimizer o = switch (optimizer == null ? "" : optimizer.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "adam" -> new Adam();
            case "adamw" -> new dev.osprey.optim.AdamW();
            case "sgd" -> new SGD();
            case "rmsprop" -> new dev.osprey.optim.RMSprop();
            default -> throw new IllegalArgumentException("compile: expected optimizer 'adam', 'adamw', 'sgd' or "
                    + "'rmsprop', received '" + optimizer + "'");
        };
        return compile(o, Loss.of(loss), Arrays.stream(metrics).map(Metric::of).toArray(Metric[]::new));
    }

    /** Allocates the weights on the device and initialises them from the seed (done by compile or first use). */
    public Model build() {
        return build((List<NDArray>) null);
    }

    /**
     * Allocates the weights on the device and sets them to {@code weights}, in {@link #weightPaths()} order, instead of
     * drawing them from the seed: how a saved model is loaded. Throws IllegalStateException when the model is built
     * already, IllegalArgumentException when the count or a shape differs from the model's.
     */
    public Model buildWith(List<NDArray> weights) {
        java.util.Objects.requireNonNull(weights, "weights");
        refuseWhileTraining("buildWith");
        synchronized (this) {
            if (network != null) {
                throw new IllegalStateException("buildWith: the model is built already; use setWeights");
            }
            return build(weights);
        }
    }

    private Model build(List<NDArray> weights) {
        refuseWhileTraining("build");
        synchronized (this) {
            checkOpen();
            Graph g = graphFor(null);
            if (g == null) {
                throw new IllegalStateException(className() + ": the input shape is not known yet; declare the first "
                        + "layer's inputShape(...) or call build(Shape.of(...))");
            }
            if (network == null) {
                if (device == null) {
                    device = Device.auto();
                }
                Backend backend = device.backend();
                Network n = new Network(g, backend);
                try {
                    n.inputRanges(inputRanges);
                    n.inferencePrecision(effectivePrecision(backend, inferencePrecision));
                    n.trainingMath(effectiveTrainingMath(backend, mixedPrecision));
                    if (weights == null) {
                        n.parameters().initialize(seed);
                        warnIfTrainedElsewhere(g);
                    } else {
                        n.parameters().set(weights);
                        weightsGiven = true;
                    }
                } catch (RuntimeException e) {
                    n.close();
                    throw e;
                }
                network = n;
                for (Layer layer : g.layers()) { // an open model that trained them keeps the entry (a copy doesn't take it)
                    HOLDERS.compute(layer, (l, ref) -> {
                        Model holder = ref == null ? null : ref.get(); // read once: the collector may clear it
                        return holder != null && !holder.closed && holder.weightsGiven ? ref
                                : new java.lang.ref.WeakReference<>(this);
                    });
                }
            }
            if (optimizer != null && updater == null) {
                checkOutputMatchesLoss();
                updater = bindOptimizer(network);
            }
            return this;
        }
    }

    /**
     * For each layer, the model that last built it (weak on both sides: neither a layer nor a model is kept alive), so
     * that a model built later from some of the same layer objects (a feature extractor cut from a trained classifier,
     * Keras' transfer pattern) can say that it does not share that model's weights.
     */
    private static final Map<Layer, java.lang.ref.WeakReference<Model>> HOLDERS =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** Whether this model's weights are no longer its initializers' (it trained, or was given weights). */
    private volatile boolean weightsGiven;

    /**
     * Each model holds its own weights, so a model built from layers another open model has trained (or loaded)
     * starts them from its own initializers, not from those weights, where Keras would share them: said once, with
     * the way to take them ({@link #copyWeightsFrom}). Reads only the other models' flags, taking no lock: copying
     * their weights here would wait on a model another thread may hold for a whole fit.
     */
    private void warnIfTrainedElsewhere(Graph g) {
        List<String> layers = new ArrayList<>();
        for (Layer layer : g.layers()) {
            java.lang.ref.WeakReference<Model> ref = HOLDERS.get(layer);
            Model holder = ref == null ? null : ref.get();
            if (holder != null && holder != this && !holder.closed && holder.weightsGiven) {
                layers.add(layer.name());
            }
        }
        if (!layers.isEmpty()) {
            org.slf4j.LoggerFactory.getLogger(Model.class).warn("layers {} are also in another open model, which has "
                    + "trained or loaded weights for them; this model starts them from its own initializers (each "
                    + "model holds its own weights, where Keras shares them): call copyWeightsFrom(thatModel) to "
                    + "start from those", layers);
        }
    }

    /**
     * The compiled optimizer bound to n's trainable weights and gradients, with its clipping, and with dynamic loss
     * scaling in effect when the optimizer asks for it or, with Keras' defaults, while n trains with fp16 math.
     */
    private Optimizer.Updater bindOptimizer(Network n) {
        Optimizer o = optimizer;
        dev.osprey.optim.DynamicLossScale asked = o.lossScale();
        java.util.function.BooleanSupplier inEffect = asked != null ? () -> true
                : () -> n.trainingMath() == Precision.FP16;
        // loss scaling outermost, then gradient accumulation (the mean is clipped), clipping, the optimizer's update
        return n.bindOptimizer(memory -> new dev.osprey.engine.LossScaler(dev.osprey.engine.GradientAccumulator.wrap(
                dev.osprey.engine.GradientClipper.wrap(
                        o.bind(n.backend(), memory, n.parameters().trainableArena(), n.parameters().gradientArena(),
                                o.weightDecay() > 0 ? n.parameters().decayMask(memory, o::decays) : null),
                        o.clipping(), n.backend(), memory, n.parameters()),
                o.gradientAccumulationSteps(), n.backend(), memory, n.parameters().gradientArena()),
                asked == null ? dev.osprey.optim.DynamicLossScale.KERAS_DEFAULTS : asked, inEffect, n.backend(), memory,
                n.parameters().gradientArena()));
    }

    /**
     * The data-parallel replicas fit's devices ask for, or null for the model's device alone: replica 0 is the model's
     * network, each other a new network on its device holding the model's weights and optimizer state.
     */
    private dev.osprey.engine.parallel.DataParallel replicas(FitOptions options) {
        if (options.communicator() != null) {
            if (!options.deviceNames().isEmpty()) {
                throw new IllegalArgumentException("fit: expected devices(...) or distributed(...), received both");
            }
            return dev.osprey.engine.parallel.DataParallel.ofRank(
                    new dev.osprey.engine.parallel.DataParallel.Replica(network, updater), options.rank(),
                    options.communicator(), modelLoss(), metrics.stream().anyMatch(Metric::fromCounts));
        }
        List<Device> devices = resolveDevices(options.deviceNames());
        if (devices.size() <= 1) {
            return null;
        }
        List<dev.osprey.engine.parallel.DataParallel.Replica> replicas = new ArrayList<>();
        replicas.add(new dev.osprey.engine.parallel.DataParallel.Replica(network, updater));
        List<dev.osprey.backend.Backend> backends = new ArrayList<>(List.of(network.backend()));
        List<NDArray> weights = network.parameters().get();
        try {
            for (Device d : devices.subList(1, devices.size())) {
                Network n = new Network(graph, d.backend());
                replicas.add(new dev.osprey.engine.parallel.DataParallel.Replica(n, null));
                n.trainingMath(network.trainingMath()); // devices of one kind: replica 0's math, said once
                n.parameters().set(weights);
                Optimizer.Updater u = bindOptimizer(n);
                for (Map.Entry<String, Tensor> slot : updater.slots().entrySet()) {
                    float[] values = new float[Math.toIntExact(slot.getValue().size())];
                    network.backend().copyOut(slot.getValue(), values, 0);
                    n.backend().copyIn(values, 0, u.slots().get(slot.getKey()));
                }
                u.restoreIterations(updater.iterations());
                if (u instanceof dev.osprey.engine.LossScaler scaler
                        && updater instanceof dev.osprey.engine.LossScaler lead) {
                    scaler.follow(lead); // gradients summed across replicas must carry one scale
                }
                if (!u.followsSchedule()) {
                    u.learningRate(updater.learningRate());
                }
                replicas.set(replicas.size() - 1, new dev.osprey.engine.parallel.DataParallel.Replica(n, u));
                backends.add(n.backend());
            }
        } catch (RuntimeException e) {
            replicas.subList(1, replicas.size()).forEach(r -> r.network().close());
            throw e;
        }
        try {
            return new dev.osprey.engine.parallel.DataParallel(replicas,
                    dev.osprey.engine.parallel.CollectiveProvider.best(backends), modelLoss(),
                    metrics.stream().anyMatch(Metric::fromCounts));
        } catch (RuntimeException e) {
            replicas.subList(1, replicas.size()).forEach(r -> r.network().close());
            throw e;
        }
    }

    /** fit's device names as devices, the model's own first; "all" is every GPU here (or the model's device alone). */
    private List<Device> resolveDevices(List<String> names) {
        if (names.isEmpty()) {
            return List.of(device);
        }
        List<Device> out = new ArrayList<>();
        if (names.size() == 1 && names.get(0).trim().equalsIgnoreCase(FitOptions.ALL_DEVICES)) {
            int gpus = Device.cudaAvailability().usable() ? Device.cudaAvailability().devices() : 0;
            if (gpus == 0 || device.kind() != Device.Kind.CUDA) {
                org.slf4j.LoggerFactory.getLogger(Model.class).info("fit: devices \"all\" trains on {} alone ({})",
                        device, gpus == 0 ? "no usable GPU: " + Device.cudaAvailability().reason()
                                : "the model is on the CPU");
                return List.of(device);
            }
            out.add(device);
            for (int i = 0; i < gpus; i++) {
                if (i != device.index()) {
                    out.add(Device.cuda(i));
                }
            }
            return out;
        }
        for (String name : names) {
            out.add(Device.parse(name));
        }
        Device first = out.get(0);
        if (first.kind() != device.kind() || first.index() != device.index()) {
            throw new IllegalArgumentException("fit: expected the model's own device (" + device + ") first among "
                    + "the devices, received " + names + "; move the model there with device(...) first");
        }
        for (int i = 1; i < out.size(); i++) {
            Device d = out.get(i);
            if (d.kind() != first.kind()) { // their arithmetic differs: the replicas' weights would drift apart
                throw new IllegalArgumentException("fit: expected devices of one kind (all GPUs or all CPU), received "
                        + names);
            }
            if (d.kind() == Device.Kind.CUDA && out.subList(0, i).stream()
                    .anyMatch(o -> o.kind() == Device.Kind.CUDA && o.index() == d.index())) {
                throw new IllegalArgumentException("fit: expected each GPU once among the devices, received " + names);
            }
        }
        return out;
    }

    private void checkOutputMatchesLoss() {
        int outputs = graph.outputs().size();
        if (outputLosses == null && outputs != 1) {
            throw new IllegalArgumentException("compile: expected one loss per output (the model has " + outputs
                    + " outputs), received one loss (" + loss + "): compile(optimizer, List.of(loss1, loss2, ...), "
                    + "metrics)");
        }
        dev.osprey.engine.ModelLoss losses;
        try {
            losses = modelLoss();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("compile: " + e.getMessage(), e);
        }
        for (int o = 0; outputMetrics != null && o < outputs; o++) {
            List<String> asked = outputMetrics.get(o).stream().filter(Metric::classifies).map(Metric::kerasName)
                    .toList();
            if (!asked.isEmpty() && !losses.classifies(o)) {
                throw new IllegalArgumentException("compile: expected a loss that classifies for output '"
                        + losses.name(o) + "' to report " + asked + ", received " + losses.loss(o).name()
                        + " (its errors count no classes; mae, mse and root_mean_squared_error measure them)");
            }
        }
        List<String> classifying = metrics.stream().filter(m -> m.fromCounts() && m.classifies())
                .map(Metric::kerasName).sorted().toList();
        if (!classifying.isEmpty() && java.util.stream.IntStream.range(0, outputs).noneMatch(losses::classified)) {
            throw new IllegalArgumentException("compile: expected an output whose loss classifies for the metrics "
                    + classifying + ", received the losses " + losses() + " (the errors count no classes; mae, mse "
                    + "and root_mean_squared_error measure them)");
        }
        for (int o = 0; o < outputs; o++) {
            SymbolicTensor out = graph.outputs().get(o);
            String which = outputs == 1 ? "" : "output " + (o + 1) + " (" + losses.name(o) + "): ";
            Activation last = out.layer() == null ? Activation.LINEAR : out.layer().activation();
            if (out.shape().rank() != 1) {
                throw new IllegalArgumentException("compile: " + which + "expected the last layer to output (classes,), "
                        + "received " + out.shape() + (out.layer() instanceof dev.osprey.layers.Dense
                        ? " (a Dense layer applies to the last axis of a larger input, as in Keras: add a Flatten or a "
                        + "GlobalAveragePooling2D before it)" : ""));
            }
            String mismatch = losses.loss(o).mismatch(last, out.shape().size());
            if (mismatch != null) {
                throw new IllegalArgumentException("compile: " + which + mismatch);
            }
        }
    }

    /** The compiled losses of the built model's outputs, as the engine takes them. */
    private dev.osprey.engine.ModelLoss modelLoss() {
        dev.osprey.engine.ModelLoss losses = outputLosses == null ? dev.osprey.engine.ModelLoss.of(graph, loss)
                : dev.osprey.engine.ModelLoss.of(graph, outputLosses, lossWeights);
        // with errors alone (mae, mse), no output needs classification counts, which grow with its width squared
        return losses.countingClasses(metrics.stream().anyMatch(m -> m.fromCounts() && m.classifies()))
                .withOutputMetrics(outputMetrics);
    }

    /**
     * Refuses a model of several outputs (or one compiled with a loss per output) where the call takes one array of
     * labels; instead: the call that takes one array per output.
     */
    private void requireOneOutput(String what, String instead) {
        // no lock: a call refused here must not wait for another thread's fit to end (refuseWhileTraining comes after)
        Graph g = graphOrNull();
        List<Loss> perOutput = outputLosses;
        int outputs = g != null ? g.outputs().size() : perOutput != null ? perOutput.size() : 1;
        if (outputs != 1 || perOutput != null) {
            throw new IllegalArgumentException(what + ": expected a model of one output for one array of labels, "
                    + "received a model " + (g != null ? "of " + outputs + " outputs" : "compiled with "
                    + outputs + " losses") + " (" + instead + ")");
        }
    }

    private static final String FIT_PER_OUTPUT = "pass one label array per output, in the model's output order: "
            + "fit(List.of(x, ...), List.of(y1, y2, ...), options)";

    /**
     * One label array per model output, each checked against its output's loss (as many samples as rows), laid side
     * by side into one array of label rows, which is what the engine's target rows take (see
     * {@link dev.osprey.engine.TargetRows}). A model of one output takes its array as it is.
     */
    private NDArray packLabels(String what, List<NDArray> labels, int rows) {
        synchronized (this) {
            checkOpen();
            requireCompiled(what);
            Graph g = requireGraph(what);
            dev.osprey.engine.ModelLoss losses = modelLoss();
            int count = losses.outputs();
            boolean hasNull = labels != null && labels.stream().anyMatch(java.util.Objects::isNull);
            if (labels == null || labels.size() != count || hasNull) {
                throw new IllegalArgumentException(what + ": expected " + count + " label array"
                        + (count == 1 ? "" : "s") + " (one per model output, in order), received " + (labels == null
                        ? "null" : hasNull ? "a null array among " + labels.size() : labels.size()));
            }
            for (int o = 0; o < count; o++) {
                losses.loss(o).validate(count == 1 ? what : what + ", labels of output " + (o + 1) + " ("
                        + losses.name(o) + ")", labels.get(o), rows, g.outputs().get(o).shape().size());
            }
            if (count == 1) {
                return labels.get(0);
            }
            int width = losses.labelWidth();
            float[] packed = new float[Math.multiplyExact(rows, width)];
            int offset = 0;
            for (NDArray y : labels) {
                int w = y.rowSize();
                float[] data = y.data();
                for (int i = 0; i < rows; i++) {
                    System.arraycopy(data, i * w, packed, i * width + offset, w);
                }
                offset += w;
            }
            return new NDArray(packed, rows, width);
        }
    }

    /** Checks labels given as one array: the loss's checks, or, for several outputs, rows packed by packLabels. */
    private void validateLabels(String what, NDArray y, int rows) {
        if (outputLosses == null) {
            loss.validate(what, y, rows, outputShape().size());
            return;
        }
        int width = modelLoss().labelWidth();
        if (y == null || y.rows() != rows || y.rowSize() != width) {
            throw new IllegalArgumentException(what + ": expected " + rows + " label rows of " + width + " values, "
                    + "every output's labels side by side, received " + (y == null ? "null" : y.rows() + " rows of "
                    + y.rowSize()));
        }
    }

    /** Checks that a source's label rows fit the losses (for several outputs: every output's labels side by side). */
    private void validateLabelRow(String what, int labelRowSize) {
        if (outputLosses == null) {
            loss.validate(what, labelRowSize, outputShape().size());
            return;
        }
        int width = modelLoss().labelWidth();
        if (labelRowSize != width) {
            throw new IllegalArgumentException(what + ": expected label rows of " + width + " values (every output's "
                    + "labels side by side, in output order), received rows of " + labelRowSize);
        }
    }

    /** Builds for data of this sample shape and checks the data fits the model's input. */
    private void ensureBuilt(Shape sample, String what) {
        graphFor(sample);
        build();
        Shape expected = rowShape();
        if (!compatible(sample, expected)) {
            throw new IllegalArgumentException(what + ": expected input of shape (N, " + expected.toString().substring(1)
                    + ", received (N, " + sample.toString().substring(1));
        }
    }

    private void ensureBuilt(NDArray x, String what) {
        if (x == null || x.rows() == 0) {
            throw new IllegalArgumentException(what + ": expected at least one sample, received "
                    + (x == null ? "null" : "0"));
        }
        graphFor(x.sampleShape());
        build();
        Shape expected = rowShape();
        if (x.rowSize() != expected.size() || !compatible(x.sampleShape(), expected)) {
            throw new IllegalArgumentException(what + ": expected input of shape (N, " + expected.toString().substring(1)
                    + ", received " + x.shapeString());
        }
    }

    /**
     * One sample's row of training and evaluation data as the engine takes it: the input's shape, or for a model of
     * several inputs their values side by side ({@link #packRows}).
     */
    private Shape rowShape() {
        return graph.inputs().size() == 1 ? graph.inputShape(0) : Shape.of(graph.packedRowSize());
    }

    /** Refuses a single array of samples for a model of several inputs, naming the overload that takes them. */
    private void requireOneInput(String what) {
        requireOneInput(what, "expected one array per input, in that order: pass a List<NDArray>");
    }

    /** Refuses a model of several inputs where the call takes one array of samples; instead: what to do. */
    private void requireOneInput(String what, String instead) {
        Graph g = graphOrNull();
        if (g != null && g.inputs().size() != 1) {
            throw new IllegalArgumentException(what + ": this model has " + g.inputs().size() + " inputs ("
                    + g.inputs().stream().map(i -> i.name() + " " + i.shape()).collect(java.util.stream.Collectors
                    .joining(", ")) + "); " + instead);
        }
    }

    /**
     * A model of several inputs trains from a {@link BatchSource#sideBySide} source, whose parts are checked against the
     * inputs here, one by one (the rows they make are checked as any source's are); a model of one input from any.
     */
    private void checkPartsPerInput(BatchSource source, String what) {
        if (source instanceof LabelsSideBySide labels) {
            source = labels.first();
        }
        Graph g = graphOrNull();
        int inputs = g == null ? 1 : g.inputs().size(); // a Sequential not built yet: one input
        if (source == null || inputs == 1 && !(source instanceof InputsSideBySide)) {
            return;
        }
        if (!(source instanceof InputsSideBySide parts)) {
            requireOneInput(what, "expected a source of every input's rows: BatchSource.sideBySide(source, arrays...)");
            return;
        }
        List<Shape> shapes = parts.partShapes();
        if (shapes.size() != inputs) {
            throw new IllegalArgumentException(what + ": expected a part for each of the model's " + inputs
                    + " input" + (inputs == 1 ? "" : "s") + ", received a source of " + shapes.size() + " parts");
        }
        for (int i = 0; i < parts.arrays().size(); i++) {
            checkFinite(what + " input " + (i + 2), parts.arrays().get(i));
        }
        for (int i = 0; i < shapes.size(); i++) {
            Shape expected = g.inputShape(i);
            if (shapes.get(i).size() != expected.size() || !compatible(shapes.get(i), expected)) {
                throw new IllegalArgumentException(what + ": expected part " + (i + 1) + " ('"
                        + g.inputs().get(i).name() + "') of shape " + batchOf(expected) + ", received samples of "
                        + shapes.get(i));
            }
        }
    }

    /**
     * A model compiled with a loss per output trains from a source whose label rows hold every output's labels: a
     * {@link BatchSource#labelsSideBySide} source, whose label arrays are checked against their outputs' losses here,
     * or any source of rows that wide; a model of one output refuses a source of several outputs' labels.
     */
    private void checkLabelsPerOutput(BatchSource source, String what) {
        synchronized (this) {
            if (source instanceof InputsSideBySide inputs) { // several inputs' rows beside the labels' source
                source = inputs.first();
            }
            if (source == null) {
                return;
            }
            if (outputLosses == null) {
                if (source instanceof LabelsSideBySide labels) {
                    throw new IllegalArgumentException(what + ": expected one output's labels, as the model is "
                            + "compiled with one loss, received a source of " + (labels.arrays().size() + 1)
                            + " outputs' labels");
                }
                return;
            }
            if (!(source instanceof LabelsSideBySide labels)) {
                return; // its label rows are checked as any source's are
            }
            Graph g = requireGraph(what);
            dev.osprey.engine.ModelLoss losses = modelLoss();
            if (labels.arrays().size() + 1 != losses.outputs()) {
                throw new IllegalArgumentException(what + ": expected labels for each of the model's "
                        + losses.outputs() + " outputs, received a source of " + (labels.arrays().size() + 1));
            }
            losses.loss(0).validate(what + ", labels of output 1 (" + losses.name(0) + ")",
                    labels.first().labelRowSize(), g.outputs().get(0).shape().size());
            for (int o = 1; o < losses.outputs(); o++) {
                NDArray y = labels.arrays().get(o - 1);
                losses.loss(o).validate(what + ", labels of output " + (o + 1) + " (" + losses.name(o) + ")", y,
                        y.rows(), g.outputs().get(o).shape().size());
            }
        }
    }

    /** What the calls that take models of one input only say to a model of several. */
    private static final String ONE_INPUT_ONLY = "this call takes models of one input";

    /**
     * One array per model input, in the model's input order, checked (as many arrays as inputs, each of the input's
     * shape, all of the same number of samples) and laid side by side into one array of rows, which is what the
     * engine trains and evaluates on (see {@link dev.osprey.engine.ExecutionPlan#packedInput}). A model of one input
     * takes its array as it is; otherwise this holds a copy of the data.
     */
    private NDArray packRows(String what, List<NDArray> inputs) {
        Graph g;
        synchronized (this) { // a Sequential makes its graph on first use
            g = graphOrNull();
            if (g == null) { // a Sequential not built yet: one input
                graphFor(inputs != null && inputs.size() == 1 && inputs.get(0) != null ? inputs.get(0).sampleShape()
                        : null);
                g = graphOrNull();
            }
        }
        int count = g == null ? 1 : g.inputs().size();
        // (List.of's contains(null) throws)
        boolean hasNull = inputs != null && inputs.stream().anyMatch(java.util.Objects::isNull);
        if (inputs == null || inputs.size() != count || hasNull) {
            throw new IllegalArgumentException(what + ": expected " + count + " input array" + (count == 1 ? "" : "s")
                    + " (one per model input, in order), received " + (inputs == null ? "null"
                    : hasNull ? "a null array among " + inputs.size() : inputs.size()));
        }
        if (count == 1) {
            return inputs.get(0);
        }
        int rows = inputs.get(0).rows();
        if (rows == 0) {
            throw new IllegalArgumentException(what + ": expected at least one sample, received 0");
        }
        long rowSize = 0;
        for (int i = 0; i < count; i++) {
            NDArray x = inputs.get(i);
            Shape expected = g.inputShape(i);
            if (x.rows() != rows) {
                throw new IllegalArgumentException(what + ": expected every input array to hold the same samples; "
                        + "input 1 has " + rows + ", input " + (i + 1) + " has " + x.rows());
            }
            if (x.rowSize() != expected.size() || !compatible(x.sampleShape(), expected)) {
                throw new IllegalArgumentException(what + ": expected input " + (i + 1) + " ('"
                        + g.inputs().get(i).name() + "') of shape " + batchOf(expected)
                        + ", received " + x.shapeString());
            }
            rowSize += x.rowSize();
        }
        for (int i = 0; i < count; i++) {
            checkFinite(what + " input " + (i + 1), inputs.get(i));
        }
        int width = Math.toIntExact(rowSize);
        float[] packed = new float[Math.multiplyExact(rows, width)];
        int at = 0;
        for (NDArray x : inputs) {
            float[] d = x.data();
            int size = x.rowSize();
            for (int r = 0; r < rows; r++) {
                System.arraycopy(d, r * size, packed, r * width + at, size);
            }
            at += size;
        }
        return new NDArray(packed, rows, width);
    }

    /** A sample's shape with the batch axis before it, as error messages write it: (N, 28, 28, 1), or (N, 3). */
    private static String batchOf(Shape sample) {
        return "(N" + Arrays.stream(sample.dims()).mapToObj(d -> ", " + d)
                .collect(java.util.stream.Collectors.joining()) + ")";
    }

    /** Equal shapes, or equal but for a trailing channel of 1, e.g. (28, 28) for (28, 28, 1). */
    private static boolean compatible(Shape got, Shape expected) {
        if (got.equals(expected)) {
            return true;
        }
        int[] e = expected.dims();
        return e.length > 1 && e[e.length - 1] == 1 && got.equals(Shape.of(Arrays.copyOf(e, e.length - 1)));
    }

    private void requireCompiled(String what) {
        if (optimizer == null || loss == null) {
            throw new IllegalStateException(what + ": expected a compiled model; call compile(optimizer, loss, metrics) "
                    + "first");
        }
    }

    /** Training after freezing or unfreezing a layer needs a compile first, as in Keras (which ignores it silently). */
    private void requireTrainabilityCompiled() {
        Layer changed = network == null ? null : network.parameters().trainabilityChanged();
        if (changed != null) {
            throw new IllegalStateException("fit: layer '" + changed.name() + "' was made "
                    + (changed.trainable() ? "trainable" : "non-trainable") + " after compile; expected compile(...) "
                    + "again before fit, for the change to take effect");
        }
    }

    // ---- training and inference --------------------------------------------------------------------------

    /** Marks this thread as training in fit; false when it already was (fit called from fit). */
    private boolean beginTraining() {
        return beginTraining("fit");
    }

    /**
     * Marks this thread as training in method (fit, trainOnBatch, profileTraining: named in other threads' refusals);
     * false when it already was.
     */
    private boolean beginTraining(String method) {
        Thread self = Thread.currentThread();
        if (trainer.compareAndSet(null, self)) {
            trainingCall = method;
            weightsGiven = true; // what other models built from these layers warn about
            return true;
        }
        if (trainer.get() == self) {
            return false;
        }
        refuseWhileTraining(method);
        return beginTraining(method); // the other call ended between the two checks
    }

    /**
     * Training is exclusive: while fit runs, a call from another thread fails at once, naming the trainer, rather
     * than waiting for the whole fit. fit's own thread (its callbacks) may call anything but compile, close,
     * finalizeWeights and the training calls (refuseInsideFit, refuseTrainingInsideFit).
     */
    private void refuseWhileTraining(String method) {
        Thread t = trainer.get();
        if (t != null && t != Thread.currentThread()) {
            String call = trainingCall;
            throw new IllegalStateException(method + ": the model is training (" + call + " on thread '" + t.getName()
                    + "'); expected this call after " + call + " returns" + (call.equals("fit")
                    ? ", or from one of fit's callbacks" : "") + " (serve other threads from a copy: Predictor)");
        }
    }

    /** Refuses a training call from inside fit's epochs (its callbacks), which it would break. Under the lock. */
    private void refuseTrainingInsideFit(String method) {
        if (fitRunning) {
            throw new IllegalStateException(method + ": called from inside fit (one of its callbacks), which it would "
                    + "break (the epoch's loss and metrics, the weights' average); expected it after fit returns (a "
                    + "callback changes training through its Training: learningRate, stopTraining)");
        }
    }

    /**
     * Calls that would pull the model out from under a running fit (its plans, optimizer state, tensors) are refused
     * from fit's own thread too, that is from its callbacks, with what to do instead.
     */
    private void refuseInsideFit(String method, String instead) {
        if (trainer.get() == Thread.currentThread()) {
            throw new IllegalStateException(method + ": called from inside fit (one of its callbacks), which it would "
                    + "break; expected it after fit returns (" + instead + ")");
        }
    }

    /** fit with the default options (1 epoch, batch size 32, shuffled), as Keras' model.fit(x, y). */
    public History fit(NDArray x, NDArray y) {
        return fit(x, y, FitOptions.defaults());
    }

    /** Keras' fit on in-memory arrays: samples x (N, ...) and labels y (N) or (N, classes); needs compile first. */
    public History fit(NDArray x, NDArray y, FitOptions options) {
        requireOneInput("fit");
        requireOneOutput("fit", FIT_PER_OUTPUT);
        return fitRows(x, y, options);
    }

    /**
     * Keras' fit with several inputs, {@code model.fit([xa, xb], y)}: one array of samples per model input, in the
     * model's input order, all of the same N (a model of one input takes a list of one). Shuffling, validation (with
     * {@link FitOptions#validationData(List, NDArray)} or a split), sample and class weights and several devices work
     * as with one input. The arrays are copied side by side into one array of rows for the epochs.
     */
    public History fit(List<NDArray> inputs, NDArray y, FitOptions options) {
        requireOneOutput("fit", FIT_PER_OUTPUT);
        boolean outermost = beginTraining(); // refused before copying the data, where another thread trains
        try {
            return fitRows(packRows("fit", inputs), y, options);
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /**
     * Keras' fit for a model of several outputs (and any number of inputs), {@code model.fit([xa, xb], [ya, yb])}:
     * one array of samples per input and one array of labels per output, each as that output's loss takes them,
     * all of the same N. Validation ({@link FitOptions#validationData(List, List)} or a split), sample weights (one array
     * for every output, {@link FitOptions#sampleWeight}, or one per output, {@link FitOptions#sampleWeights}) and
     * several devices work as with one output; class weights take a model of one output, as in Keras. Needs {@link #compile(Optimizer, List, List, Metric...)}.
     */
    public History fit(List<NDArray> inputs, List<NDArray> labels, FitOptions options) {
        return fitInputsAndLabels(inputs, labels, options);
    }

    /**
     * {@link #fit(List, List, FitOptions)} for a model of one input and several outputs, {@code model.fit(x, [ya, yb])}.
     */
    public History fit(NDArray x, List<NDArray> labels, FitOptions options) {
        return fitInputsAndLabels(java.util.Collections.singletonList(x), labels, options);
    }

    /**
     * Keras' fit with inputs and labels by name, {@code model.fit({"image": xa, "meta": xb}, {"kind": ya, "box": yb})}:
     * each input's array by the input's name ({@link #inputs}) and each output's labels by the output's name
     * ({@link #outputNames}), every one of them and nothing else; otherwise as {@link #fit(List, List, FitOptions)}.
     * Validation data by name: {@link FitOptions#validationData(Map, Map)}.
     */
    public History fit(Map<String, NDArray> inputs, Map<String, NDArray> labels, FitOptions options) {
        boolean outermost = beginTraining(); // refused at once where another thread trains (it holds the lock)
        try {
            return fitInputsAndLabels(byInputName("fit", inputs), byOutputName("fit", labels), options);
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /** Every input's array from a map by input name, in the model's input order; an error for one missing, unknown. */
    private List<NDArray> byInputName(String what, Map<String, NDArray> given) {
        List<String> names;
        refuseWhileTraining(what); // before the lock, which another thread's fit holds
        synchronized (this) {
            names = requireGraph(what).inputs().stream().map(Input::name).toList();
        }
        return inOrder(what, "input", names, given);
    }

    /** Every output's labels from a map by output name, in the model's output order. */
    private List<NDArray> byOutputName(String what, Map<String, NDArray> given) {
        List<String> names;
        refuseWhileTraining(what);
        synchronized (this) {
            names = dev.osprey.engine.ModelLoss.outputNames(requireGraph(what));
        }
        return inOrder(what, "output", names, given);
    }

    private static List<NDArray> inOrder(String what, String kind, List<String> names, Map<String, NDArray> given) {
        if (given == null) {
            throw new IllegalArgumentException(what + ": expected an array for each " + kind + " by name " + names
                    + ", received null");
        }
        for (String key : given.keySet()) {
            if (!names.contains(key)) {
                throw new IllegalArgumentException(what + ": expected an array for each " + kind + " by name " + names
                        + ", received '" + key + "', which names no " + kind + " of this model");
            }
        }
        List<NDArray> ordered = new ArrayList<>(names.size());
        for (String name : names) {
            NDArray array = given.get(name);
            if (array == null) {
                throw new IllegalArgumentException(what + ": expected an array for each " + kind + " by name " + names
                        + ", received " + (given.containsKey(name) ? "null" : "none") + " for '" + name + "'");
            }
            ordered.add(array);
        }
        return ordered;
    }

    private History fitInputsAndLabels(List<NDArray> inputs, List<NDArray> labels, FitOptions options) {
        boolean outermost = beginTraining(); // refused before copying the data, where another thread trains
        try {
            NDArray x = packRows("fit", inputs);
            return fitRows(x, packLabels("fit", labels, x.rows()), options);
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /** fit on rows as the engine takes them (see {@link #rowShape}). */
    private History fitRows(NDArray x, NDArray y, FitOptions options) {
        given("fit", "options", options);
        boolean outermost = beginTraining();
        try {
            synchronized (this) {
                checkOpen();
                requireCompiled("fit");
                ensureBuilt(x, "fit");
                requireTrainabilityCompiled();
                NDArray trainX = x, trainY = y, valY = options.validationY;
                if (options.validationX != null && graph.inputs().size() != 1) {
                    throw new IllegalArgumentException("fit validation data: this model has " + graph.inputs().size()
                            + " inputs; expected one array per input: validationData(List<NDArray>, y), or each "
                            + "by name: validationData(Map, Map)");
                }
                List<NDArray> valInputs = options.validationInputsByName != null
                        ? byInputName("fit validation data", options.validationInputsByName) : options.validationInputs;
                List<NDArray> valLabels = options.validationLabelsByName != null
                        ? byOutputName("fit validation data", options.validationLabelsByName)
                        : options.validationLabels;
                NDArray valX = valInputs != null ? packRows("fit validation data", valInputs) : options.validationX;
                if (valLabels != null) {
                    valY = packLabels("fit validation data", valLabels, valX.rows());
                } else if (valX != null) {
                    requireOneOutput("fit validation data", "pass one label array per output: "
                            + "FitOptions.validationData(List.of(x, ...), List.of(y1, y2, ...))");
                }
                if (options.validationSplit > 0 && valX == null) {
                    validateLabels("fit", y, x.rows()); // before they are split with the samples
                    int split = (int) Math.round(x.rows() * (1 - options.validationSplit));
                    if (split <= 0 || split >= x.rows()) {
                        throw new IllegalArgumentException("fit: validation split " + options.validationSplit + " of "
                                + x.rows() + " samples leaves no training or no validation samples");
                    }
                    trainX = x.slice(0, split);
                    trainY = y.slice(0, split);
                    valX = x.slice(split, x.rows());
                    valY = y.slice(split, y.rows());
                }
                validateLabels("fit", trainY, trainX.rows());
                checkFinite("fit", trainX);
                if (valX != null) {
                    ensureBuilt(valX, "fit validation data");
                    checkFinite("fit validation data", valX); // a NaN val_loss would steer the callbacks
                    validateLabels("fit validation data", valY, valX.rows());
                }
                float[][] weights = sampleWeightColumns(options, x.rows());
                if (weights != null) {
                    trainY = withWeights(trainY, weights, trainX.rows());
                }
                return fitSources(new ArrayBatchSource(trainX, trainY),
                        valX == null ? null : new ArrayBatchSource(valX, valY), options,
                        weights == null ? 0 : weights.length);
            }
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /**
     * One training step on one batch (Keras' train_on_batch): x is the batch, y its labels (class indices or one-hot
     * rows, as the loss takes them). Skips fit's machinery (epochs, shuffling, callbacks, History); the plan for the
     * batch size is cached, so a loop of calls costs what fit's steps cost. Returns {"loss", "accuracy"} of the batch,
     * computed before the step's update, as Keras reports them. The dropout seed follows the model's seed and step
     * count, so a loop repeats exactly.
     */
    public Map<String, Double> trainOnBatch(NDArray x, NDArray y) {
        return trainOnBatch(x, y, null);
    }

    /**
     * {@link #trainOnBatch(NDArray, NDArray)} with Keras' sample_weight: one weight >= 0 per sample of the batch
     * (null: all 1), multiplying each sample's loss and gradient.
     */
    public Map<String, Double> trainOnBatch(NDArray x, NDArray y, float[] sampleWeight) {
        requireOneInput("trainOnBatch");
        requireOneOutput("trainOnBatch", "pass one label array per output: "
                + "trainOnBatch(List.of(x, ...), List.of(y1, y2, ...), sampleWeight)");
        return trainOnBatch(x, y, sampleWeight, null);
    }

    /** {@link #trainOnBatch(List, NDArray, float[])} with every sample weighing 1. */
    public Map<String, Double> trainOnBatch(List<NDArray> inputs, NDArray y) {
        return trainOnBatch(inputs, y, null);
    }

    /** {@link #trainOnBatch(NDArray, List, float[])} with every sample weighing 1. */
    public Map<String, Double> trainOnBatch(NDArray x, List<NDArray> labels) {
        return trainOnBatch(x, labels, null);
    }

    /** {@link #trainOnBatch(List, List, float[])} with every sample weighing 1. */
    public Map<String, Double> trainOnBatch(List<NDArray> inputs, List<NDArray> labels) {
        return trainOnBatch(inputs, labels, null);
    }

    /**
     * {@link #trainOnBatch(NDArray, NDArray, float[])} for a model of several inputs: one array per input, in the
     * model's input order (Keras' {@code train_on_batch([xa, xb], y)}); sampleWeight may be null.
     */
    public Map<String, Double> trainOnBatch(List<NDArray> inputs, NDArray y, float[] sampleWeight) {
        requireOneOutput("trainOnBatch", "pass one label array per output: "
                + "trainOnBatch(List.of(x, ...), List.of(y1, y2, ...), sampleWeight)");
        // refused before copying the batch, where another thread trains
        boolean outermost = beginTraining("trainOnBatch");
        try {
            return trainOnBatch(packRows("trainOnBatch", inputs), y, sampleWeight, null);
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /** {@link #trainOnBatch(List, List, float[])} for a model of one input and several outputs. */
    public Map<String, Double> trainOnBatch(NDArray x, List<NDArray> labels, float[] sampleWeight) {
        return trainOnBatch(java.util.Collections.singletonList(x), labels, sampleWeight);
    }

    /**
     * {@link #trainOnBatch(List, NDArray, float[])} for a model of several outputs: one label array per output, in the
     * model's output order (Keras' {@code train_on_batch([xa, xb], [ya, yb])}); sampleWeight may be null. Returns the
     * total loss and each output's, named as fit names them.
     */
    public Map<String, Double> trainOnBatch(List<NDArray> inputs, List<NDArray> labels, float[] sampleWeight) {
        // refused before copying the batch, where another thread trains
        boolean outermost = beginTraining("trainOnBatch");
        try {
            NDArray x = packRows("trainOnBatch", inputs);
            return trainOnBatch(x, packLabels("trainOnBatch", labels, x.rows()), sampleWeight, null);
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /**
     * Where a training step's time goes, layer by layer: runs one untimed step on the batch (x, y), then {@code steps}
     * timed ones, each as {@link #trainOnBatch(NDArray, NDArray)} runs it, so the weights, the optimizer's state and
     * the BatchNormalization statistics change as they would there. Every layer call's forward and backward is timed;
     * the rest of a step (loss, optimizer update, copies) shows as one figure. See {@link LayerProfile}.
     */
    public LayerProfile profileTraining(NDArray x, NDArray y, int steps) {
        requireOneInput("profileTraining");
        requireOneOutput("profileTraining", "profileTraining takes models of one output; time "
                + "trainOnBatch(List, List, null) for several");
        return profileTrainingRows(x, y, steps);
    }

    /** {@link #profileTraining(NDArray, NDArray, int)} for a model of several inputs: one array per input, in order. */
    public LayerProfile profileTraining(List<NDArray> inputs, NDArray y, int steps) {
        refuseWhileTraining("profileTraining"); // before packRows, which would wait for another thread's fit
        requireOneOutput("profileTraining", "profileTraining takes models of one output; time "
                + "trainOnBatch(List, List, null) for several");
        return profileTrainingRows(packRows("profileTraining", inputs), y, steps);
    }

    private LayerProfile profileTrainingRows(NDArray x, NDArray y, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("profileTraining: expected steps >= 1, received " + steps);
        }
        boolean outermost = beginTraining("profileTraining"); // the whole profile, not only each step
        try {
            synchronized (this) {
                refuseTrainingInsideFit("profileTraining");
            }
            trainOnBatch(x, y, null, null); // builds the plan; its first run is slower
            return profile("profileTraining", true, x.rows(), steps, clock -> trainOnBatch(x, y, null, clock));
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /**
     * Where a predict call's time goes, layer by layer: runs one untimed {@code predict(x, x.rows())}, then {@code
     * calls} timed ones, through the optimized inference plan predict uses (in the model's inference precision).
     * See {@link LayerProfile}.
     */
    public LayerProfile profileInference(NDArray x, int calls) {
        given("profileInference", "a batch of samples", x);
        requireOneInput("profileInference", ONE_INPUT_ONLY);
        if (calls < 1) {
            throw new IllegalArgumentException("profileInference: expected calls >= 1, received " + calls);
        }
        if (x.rows() == 0) {
            throw new IllegalArgumentException("profileInference: expected at least one sample, received 0");
        }
        predict(x, x.rows(), null); // builds the plan; its first run is slower
        return profile("profileInference", false, x.rows(), calls, clock -> predict(x, x.rows(), clock));
    }

    /** Runs call `calls` times on one clock, timed in all, into a profile of `batch` samples a call. */
    private LayerProfile profile(String what, boolean training, int batch, int calls,
                                 java.util.function.Consumer<dev.osprey.engine.CallClock> call) {
        dev.osprey.engine.Network net = built(what);
        dev.osprey.engine.CallClock clock = new dev.osprey.engine.CallClock(net.backend(), net.graph().nodes().size());
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            call.accept(clock);
        }
        long wall = System.nanoTime() - start;
        return LayerProfile.of(training, batch, calls, wall, device().toString(), net.graph().nodes(), clock);
    }

    /** trainOnBatch, each layer call timed on clock where it is not null. */
    private Map<String, Double> trainOnBatch(NDArray x, NDArray y, float[] sampleWeight,
                                             dev.osprey.engine.CallClock clock) {
        given("trainOnBatch", "a batch of samples", x);
        FitOptions options = FitOptions.defaults().verbose(false).sampleWeight(sampleWeight);
        boolean outermost = beginTraining("trainOnBatch");
        try {
            synchronized (this) {
                refuseTrainingInsideFit("trainOnBatch");
                checkOpen();
                requireCompiled("trainOnBatch");
                if (x.rows() == 0) {
                    throw new IllegalArgumentException("trainOnBatch: expected at least one sample, received 0");
                }
                ensureBuilt(x.sampleShape(), "trainOnBatch");
                requireTrainabilityCompiled();
                Shape expected = rowShape();
                if (x.sampleShape().size() != expected.size() || !compatible(x.sampleShape(), expected)) {
                    throw new IllegalArgumentException("trainOnBatch: expected samples of shape " + expected
                            + ", received " + x.sampleShape());
                }
                validateLabels("trainOnBatch", y, x.rows());
                checkFinite("trainOnBatch", x);
                NDArray labels = y;
                if (sampleWeight != null) {
                    if (sampleWeight.length != x.rows()) {
                        throw new IllegalArgumentException("trainOnBatch: expected one sample weight for each of the "
                                + x.rows() + " samples, received " + sampleWeight.length);
                    }
                    labels = withWeights(y, new float[][] {sampleWeight}, x.rows());
                }
                return new Trainer(this, network, modelLoss(), optimizer, updater, options, metrics)
                        .trainOnBatch(x, labels.data(), seed, clock);
            }
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /** Loss and accuracy on one batch, without training (Keras' test_on_batch): evaluate with the batch as one. */
    public Map<String, Double> testOnBatch(NDArray x, NDArray y) {
        given("testOnBatch", "a batch of samples", x);
        return evaluate(x, y, Math.max(1, x.rows()));
    }

    /** {@link #testOnBatch(List, List)} for a model of one input and several outputs. */
    public Map<String, Double> testOnBatch(NDArray x, List<NDArray> labels) {
        return testOnBatch(java.util.Collections.singletonList(x), labels);
    }

    /** {@link #testOnBatch(NDArray, NDArray)} for a model of several outputs: one array per input and per output. */
    public Map<String, Double> testOnBatch(List<NDArray> inputs, List<NDArray> labels) {
        refuseWhileTraining("testOnBatch");
        NDArray x = packRows("testOnBatch", inputs);
        refuseWhileTraining("testOnBatch"); // again after the copy: a fit may have begun meanwhile
        synchronized (this) { // the labels are checked against the losses they are evaluated with
            return evaluateRows(x, packLabels("testOnBatch", labels, x.rows()), Math.max(1, x.rows()));
        }
    }

    /** {@link #testOnBatch(NDArray, NDArray)} for a model of several inputs: one array per input, in order. */
    public Map<String, Double> testOnBatch(List<NDArray> inputs, NDArray y) {
        refuseWhileTraining("testOnBatch");
        requireOneOutput("testOnBatch", "pass one label array per output: "
                + "testOnBatch(List.of(x, ...), List.of(y1, y2, ...))");
        NDArray x = packRows("testOnBatch", inputs);
        return evaluateRows(x, y, Math.max(1, x.rows()));
    }

    /** Predictions for one batch (Keras' predict_on_batch): predict with the batch as one. */
    public NDArray predictOnBatch(NDArray x) {
        given("predictOnBatch", "a batch of samples", x);
        return predict(x, Math.max(1, x.rows()));
    }

    /** Predictions for one batch of a model of several inputs: {@link #predict(List, int)} with the batch as one. */
    public List<NDArray> predictOnBatch(List<NDArray> inputs) {
        return predict(inputs, inputs == null || inputs.isEmpty() || inputs.get(0) == null ? 1
                : Math.max(1, inputs.get(0).rows()));
    }

    /**
     * Trains from batch sources: in-memory arrays, or an image pipeline that prefetches on worker threads. A model of
     * several inputs takes a {@link BatchSource#sideBySide} source; one compiled with a loss per output, a
     * {@link BatchSource#labelsSideBySide} source (or any source whose label rows hold every output's labels).
     */
    public History fit(BatchSource train, BatchSource validation, FitOptions options) {
        given("fit", "a training source", train);
        given("fit", "options", options);
        checkPartsPerInput(train, "fit");
        checkPartsPerInput(validation, "fit validation data");
        if (options.sampleWeightColumns() > 0) {
            throw new IllegalArgumentException("fit: sampleWeight and sampleWeights apply to fit on arrays; received "
                    + "them with a batch source");
        }
        if (options.hasValidationArrays() || options.validationSplit > 0) {
            throw new IllegalArgumentException("fit: FitOptions.validationData and validationSplit apply to fit on "
                    + "arrays; with batch sources, expected the validation data as fit's second source, received "
                    + (options.validationSplit > 0 ? "a validation split of " + options.validationSplit
                    : "validation arrays"));
        }
        boolean outermost = beginTraining(); // refused at once where another thread trains (it holds the lock)
        try {
            checkLabelsPerOutput(train, "fit");
            checkLabelsPerOutput(validation, "fit validation data");
            return fitSources(train, validation, options, 0);
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /** fit from sources; the training source's label rows end in weightColumns sample weights (0: none). */
    private History fitSources(BatchSource train, BatchSource validation, FitOptions options, int weightColumns) {
        given("fit", "options", options);
        given("fit", "a training source", train);
        boolean outermost = beginTraining();
        try {
            synchronized (this) {
                refuseTrainingInsideFit("fit");
                checkOpen();
                requireCompiled("fit");
                if (train.size() == 0) {
                    throw new IllegalArgumentException("fit: expected at least one sample, received 0");
                }
                ensureBuilt(train.sampleShape(), "fit");
                requireTrainabilityCompiled();
                for (BatchSource s : new BatchSource[] {train, validation}) {
                    if (s != null) {
                        Shape expected = rowShape();
                        if (s.sampleShape().size() != expected.size() || !compatible(s.sampleShape(), expected)) {
                            throw new IllegalArgumentException("fit: expected samples of shape " + expected + ", received "
                                    + s.sampleShape());
                        }
                        int labelRow = s.labelRowSize() - (s == train ? weightColumns : 0);
                        validateLabelRow("fit", labelRow);
                    }
                }
                long fitSeed = options.seed == null ? seed : options.seed;
                // restores a backup first: before replicas copy weights
                BackupAndRestore.Progress start = startingPoint(options, train.size());
                try (dev.osprey.engine.parallel.DataParallel parallel = replicas(options)) {
                    fitRunning = true;
                    return new Trainer(this, network, modelLoss(), optimizer, updater, options, metrics, parallel)
                            .fit(train, validation, fitSeed, start.epochs(), start.batches());
                } catch (dev.osprey.TrainingDivergedException e) {
                    // its moments, averages and pending sums hold NaN now: the next fit (or a save) starts the
                    // optimizer afresh, from the weights EarlyStopping(restoreBestWeights) may have put back
                    updater = null;
                    throw e;
                } finally {
                    fitRunning = false;
                }
            }
        } finally {
            if (outermost) {
                trainer.set(null);
            }
        }
    }

    /**
     * Where fit starts (samples: the training samples of an epoch): where a {@link BackupAndRestore} callback finds a
     * backup, where it left training, with its weights and optimizer state restored into this model; else the
     * options' initialEpoch, which must be below their epochs. A backup taken within an epoch of another number of
     * batches an epoch than this data and batch size give is refused before anything changes.
     */
    private BackupAndRestore.Progress startingPoint(FitOptions options, int samples) {
        List<BackupAndRestore> backups = options.callbacks().stream()
                .filter(c -> c instanceof BackupAndRestore).map(c -> (BackupAndRestore) c).toList();
        if (backups.size() > 1) {
            throw new IllegalArgumentException("fit: expected at most one BackupAndRestore callback, received "
                    + backups.size());
        }
        BackupAndRestore.Progress found = backups.isEmpty() ? null : backups.get(0).backedUp();
        if (found != null && found.batches() > 0) {
            int batch = Math.min(options.batchSize(), samples);
            int steps = (samples + batch - 1) / batch;
            if (found.batchesPerEpoch() != steps) {
                throw new IllegalArgumentException("fit: the backup in " + backups.get(0).folder() + " was taken "
                        + found + " (an epoch of " + found.batchesPerEpoch() + " batches), but this data and batch "
                        + "size give " + steps + " batches an epoch: expected those of the run it backs up (delete "
                        + "the folder's backup to start afresh)");
            }
        }
        BackupAndRestore.Progress restored = backups.isEmpty() ? null : backups.get(0).restore(this);
        if (restored != null && restored.epochs() >= options.epochs()) {
            org.slf4j.LoggerFactory.getLogger(Model.class).warn("fit: the backup in {} was taken {}, and the run has "
                    + "{} epochs: nothing left to train", backups.get(0).folder(), restored, options.epochs());
        }
        if (restored != null) {
            return restored;
        }
        if (options.initialEpoch() >= options.epochs()) {
            throw new IllegalArgumentException("fit: expected initialEpoch below epochs (" + options.epochs()
                    + ", the run's total), received initialEpoch " + options.initialEpoch());
        }
        return BackupAndRestore.Progress.afterEpochs(options.initialEpoch());
    }

    /**
     * fit's sample weights on arrays of this many samples, as columns: null for none, one column (sampleWeight, for
     * every output) or one per output (sampleWeights, 1s for a null entry).
     */
    private float[][] sampleWeightColumns(FitOptions options, int samples) {
        float[] every = options.sampleWeight();
        List<float[]> perOutput = options.sampleWeights();
        if (every != null && perOutput != null) {
            throw new IllegalArgumentException("fit: expected sampleWeight (for every output) or sampleWeights (per "
                    + "output), received both");
        }
        if (every != null) {
            if (every.length != samples) {
                throw new IllegalArgumentException("fit: expected one sample weight for each of the " + samples
                        + " samples, received " + every.length);
            }
            return new float[][] {every};
        }
        if (perOutput == null) {
            return null;
        }
        List<String> names = dev.osprey.engine.ModelLoss.outputNames(graph);
        if (perOutput.size() != names.size()) {
            throw new IllegalArgumentException("fit: expected one sample weight array (or null) for each of the model's "
                    + names.size() + " outputs " + names + ", received " + perOutput.size());
        }
        float[][] columns = new float[perOutput.size()][];
        for (int o = 0; o < columns.length; o++) {
            float[] w = perOutput.get(o);
            if (w == null) {
                w = new float[samples];
                Arrays.fill(w, 1f);
            } else if (w.length != samples) {
                throw new IllegalArgumentException("fit: expected one sample weight for each of the " + samples
                        + " samples of output " + (o + 1) + " (" + names.get(o) + "), received " + w.length);
            }
            columns[o] = w;
        }
        return columns;
    }

    /** The first rows label rows, each with its sample's weights appended, as the trainer's TargetRows reads them. */
    private static NDArray withWeights(NDArray y, float[][] weights, int rows) {
        int width = y.rowSize();
        int row = width + weights.length;
        float[] labels = y.data();
        float[] out = new float[Math.multiplyExact(rows, row)];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(labels, i * width, out, i * row, width);
            for (int c = 0; c < weights.length; c++) {
                out[i * row + width + c] = weights[c][i];
            }
        }
        return new NDArray(out, rows, row);
    }

    /** fit(x, y, epochs, batchSize, validationData) in one line. */
    public History fit(NDArray x, NDArray y, int epochs, int batchSize, NDArray validationX, NDArray validationY) {
        return fit(x, y, FitOptions.defaults().epochs(epochs).batchSize(batchSize).validationData(validationX, validationY));
    }

    /** Loss and (if compiled with it) accuracy: {"loss": .., "accuracy": ..}. */
    public Map<String, Double> evaluate(NDArray x, NDArray y) {
        return evaluate(x, y, 32);
    }

    /** {@link #evaluate(NDArray, NDArray)} in batches of this size. */
    public Map<String, Double> evaluate(NDArray x, NDArray y, int batchSize) {
        requireOneInput("evaluate");
        requireOneOutput("evaluate", "pass one label array per output: "
                + "evaluate(List.of(x, ...), List.of(y1, y2, ...), batchSize)");
        return evaluateRows(x, y, batchSize);
    }

    /**
     * Keras' evaluate with inputs and labels by name, as {@link #fit(Map, Map, FitOptions)} takes them; otherwise as
     * {@link #evaluate(List, List, int)}.
     */
    public Map<String, Double> evaluate(Map<String, NDArray> inputs, Map<String, NDArray> labels, int batchSize) {
        refuseWhileTraining("evaluate");
        return evaluate(byInputName("evaluate", inputs), byOutputName("evaluate", labels), batchSize);
    }

    /** {@link #evaluate(Map, Map, int)} in batches of 32. */
    public Map<String, Double> evaluate(Map<String, NDArray> inputs, Map<String, NDArray> labels) {
        return evaluate(inputs, labels, 32);
    }

    /** {@link #evaluate(List, NDArray, int)} in batches of 32. */
    public Map<String, Double> evaluate(List<NDArray> inputs, NDArray y) {
        return evaluate(inputs, y, 32);
    }

    /** {@link #evaluate(NDArray, List, int)} in batches of 32. */
    public Map<String, Double> evaluate(NDArray x, List<NDArray> labels) {
        return evaluate(x, labels, 32);
    }

    /** {@link #evaluate(List, List, int)} in batches of 32. */
    public Map<String, Double> evaluate(List<NDArray> inputs, List<NDArray> labels) {
        return evaluate(inputs, labels, 32);
    }

    /** {@link #evaluate(NDArray, NDArray, int)} for a model of several inputs: one array per input, in order. */
    public Map<String, Double> evaluate(List<NDArray> inputs, NDArray y, int batchSize) {
        refuseWhileTraining("evaluate");
        requireOneOutput("evaluate", "pass one label array per output: "
                + "evaluate(List.of(x, ...), List.of(y1, y2, ...), batchSize)");
        return evaluateRows(packRows("evaluate", inputs), y, batchSize);
    }

    /** {@link #evaluate(List, List, int)} for a model of one input and several outputs. */
    public Map<String, Double> evaluate(NDArray x, List<NDArray> labels, int batchSize) {
        return evaluate(java.util.Collections.singletonList(x), labels, batchSize);
    }

    /**
     * Keras' evaluate for a model of several outputs: one array per input and one label array per output, in order.
     * Returns the total loss ("loss"), each output's ("name_loss") and, when compiled with accuracy, each classifying
     * output's "name_accuracy".
     */
    public Map<String, Double> evaluate(List<NDArray> inputs, List<NDArray> labels, int batchSize) {
        refuseWhileTraining("evaluate");
        NDArray x = packRows("evaluate", inputs);
        refuseWhileTraining("evaluate"); // again after the copy: a fit may have begun meanwhile
        synchronized (this) { // the labels are checked against the losses they are evaluated with
            return evaluateRows(x, packLabels("evaluate", labels, x.rows()), batchSize);
        }
    }

    /** evaluate on rows as the engine takes them (see {@link #rowShape}). */
    private Map<String, Double> evaluateRows(NDArray x, NDArray y, int batchSize) {
        refuseWhileTraining("evaluate");
        synchronized (this) {
            checkOpen();
            requireCompiled("evaluate");
            positiveBatch("evaluate", batchSize);
            ensureBuilt(x, "evaluate");
            checkFinite("evaluate", x);
            validateLabels("evaluate", y, x.rows());
            dev.osprey.engine.ModelLoss losses = modelLoss();
            List<Metric> counted = metrics.stream().filter(Metric::fromCounts).sorted().toList();
            float[][] counts = counted.isEmpty() ? null : losses.newCounts();
            double[] r = network.evaluate(new ArrayBatchSource(x, y), batchSize, losses, losses.unweightedRows(),
                    counts);
            Map<String, Double> out = new LinkedHashMap<>();
            losses.putLogs(r, reportsAccuracy(), "", out);
            if (counts != null) {
                losses.putCounted(counts, counted, "", out);
            }
            return out;
        }
    }

    /**
     * Where the model fails, class by class, on labeled data: predicts x and returns the confusion matrix, per-class
     * precision, recall, F1 and one-vs-rest AUC with macro averages, and top-k accuracy
     * ({@link dev.osprey.metrics.ClassificationReport}). y: class indices, or one-hot rows. Class names are the
     * model's when it has them.
     */
    public dev.osprey.metrics.ClassificationReport classificationReport(NDArray x, NDArray y, int batchSize) {
        refuseWhileTraining("classificationReport");
        given("classificationReport", "samples", x);
        given("classificationReport", "labels", y);
        requireOneInput("classificationReport", ONE_INPUT_ONLY);
        synchronized (this) {
            checkFinite("classificationReport", x);
        }
        NDArray p = predict(x, batchSize);
        int rows = p.rows();
        int classes = p.rowSize();
        if (y.rows() != rows) {
            throw new IllegalArgumentException("classificationReport: expected " + rows + " labels, received "
                    + y.rows());
        }
        int[] labels = new int[rows];
        if (y.rowSize() == 1) {
            float[] v = y.data();
            for (int i = 0; i < rows; i++) {
                if (v[i] != Math.rint(v[i]) || v[i] < 0 || v[i] >= classes) {
                    throw new IllegalArgumentException("classificationReport: expected class indices in [0, " + classes
                            + "), received " + v[i] + " at " + i);
                }
                labels[i] = (int) v[i];
            }
        } else if (y.rowSize() == classes) {
            labels = y.argMax();
        } else {
            throw new IllegalArgumentException("classificationReport: expected labels of 1 or " + classes
                    + " values a row, received " + y.rowSize());
        }
        List<String> names = classNames();
        return dev.osprey.metrics.ClassificationReport.of(p.data(), classes, labels,
                names != null && names.size() == classes ? names : null);
    }

    /** Class probabilities (N, classes) for a softmax model, raw outputs otherwise; batches of 32. */
    public NDArray predict(NDArray x) {
        return predict(x, 32);
    }

    /** {@link #predict(NDArray)} in batches of this size, for a model of one input and one output. */
    public NDArray predict(NDArray x, int batchSize) {
        return predict(x, batchSize, null);
    }

    /** predict, each layer call (or chain of calls) timed on clock where it is not null. */
    private NDArray predict(NDArray x, int batchSize, dev.osprey.engine.CallClock clock) {
        refuseWhileTraining("predict");
        synchronized (this) {
            checkOpen();
            positiveBatch("predict", batchSize);
            Graph g = graphOrNull(); // checked before the shapes, which a model of several inputs would misname
            if (g != null && (g.inputs().size() != 1 || g.outputs().size() != 1)) {
                throw new IllegalArgumentException("predict: this model has " + g.inputs().size() + " inputs and "
                        + g.outputs().size() + " outputs; use predict(List<NDArray>, batchSize)");
            }
            ensureBuilt(x, "predict");
            // non-finite inputs are refused as each slice is copied in (a native scan of the copy)
            return network.predict(List.of(x), batchSize, clock, !acceptNonFiniteInputs).get(0);
        }
    }

    /** Every output of a model of several inputs (one array per input, in the model's input order). */
    public List<NDArray> predict(List<NDArray> inputs, int batchSize) {
        refuseWhileTraining("predict");
        given("predict", "one array per input", inputs);
        for (int i = 0; i < inputs.size(); i++) {
            given("predict", "an array for input " + (i + 1), inputs.get(i));
        }
        synchronized (this) {
            checkOpen();
            positiveBatch("predict", batchSize);
            Graph g = graphFor(inputs.isEmpty() ? null : inputs.get(0).sampleShape());
            if (g == null || inputs.size() != g.inputs().size()) {
                throw new IllegalArgumentException("predict: expected " + (g == null ? "?" : g.inputs().size())
                        + " input arrays, received " + inputs.size());
            }
            build();
            for (int i = 0; i < inputs.size(); i++) {
                NDArray x = inputs.get(i);
                Shape expected = g.inputShape(i);
                if (x.rows() != inputs.get(0).rows() || x.rows() == 0 || x.rowSize() != expected.size()) {
                    throw new IllegalArgumentException("predict: expected input " + (i + 1) + " of shape "
                            + batchOf(expected) + " with the same N as the first, received " + x.shapeString());
                }
            }
            return network.predict(inputs, batchSize, null, !acceptNonFiniteInputs);
        }
    }

    /**
     * Every output by its name ({@link #outputNames}), in the model's output order, for inputs by their names (every
     * input of the model, nothing else): Keras' {@code model.predict({"image": xa, "meta": xb})}.
     */
    public Map<String, NDArray> predict(Map<String, NDArray> inputs) {
        return predict(inputs, 32);
    }

    /** {@link #predict(Map)} in batches of this size. */
    public Map<String, NDArray> predict(Map<String, NDArray> inputs, int batchSize) {
        refuseWhileTraining("predict");
        List<NDArray> outputs = predict(byInputName("predict", inputs), batchSize);
        List<String> names = outputNames();
        Map<String, NDArray> byName = new java.util.LinkedHashMap<>();
        for (int o = 0; o < names.size(); o++) {
            byName.put(names.get(o), outputs.get(o));
        }
        return java.util.Collections.unmodifiableMap(byName);
    }

    /** value, or an IllegalArgumentException saying what was expected: "what: expected name, received null". */
    private static <T> T given(String what, String name, T value) {
        if (value == null) {
            throw new IllegalArgumentException(what + ": expected " + name + ", received null");
        }
        return value;
    }

    private static void positiveBatch(String what, int batchSize) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException(what + ": expected batch size > 0, received " + batchSize);
        }
    }

    /**
     * Lets predict take NaN and infinite inputs (for models trained to treat them as markers). Default false: such
     * inputs are refused, since they otherwise give meaningless predictions without a sign of trouble.
     */
    public Model acceptNonFiniteInputs(boolean accept) {
        refuseWhileTraining("acceptNonFiniteInputs");
        synchronized (this) {
            this.acceptNonFiniteInputs = accept;
            return this;
        }
    }

    /**
     * The precision predict, evaluate and serving compute in (default {@link Precision#FP32}). {@link Precision#BF16}
     * multiplies in bfloat16 with fp32 sums in convolutions and dense layers: faster on CPUs with AVX512_BF16 or AMX
     * and on GPUs with bf16 tensor cores (compute capability 8.0 and up), within about a percent of fp32's outputs.
     * {@link Precision#FP16} does the same in IEEE half precision on GPUs with tensor cores (7.0 and up), and
     * {@link Precision#INT8} infers a quantized model ({@link #quantize}). Where the backend has no such kernels (fp16
     * on a CPU, bf16 on an older CPU or GPU) the model logs one line saying why and stays in fp32:
     * {@link #inferencePrecision()} tells which is in effect. Training follows {@link #mixedPrecision} instead, and
     * weights stay fp32 in the model and its files.
     */
    public Model inferencePrecision(Precision precision) {
        java.util.Objects.requireNonNull(precision, "precision");
        refuseWhileTraining("inferencePrecision");
        synchronized (this) {
            if (precision == Precision.INT8 && inputRanges.isEmpty()) {
                throw new IllegalStateException("inferencePrecision: int8 needs the ranges of the layers' inputs; "
                        + "expected quantize(calibrationSamples) first, or a model file saved after it (on the "
                        + "command line: osprey quantize MODEL -o MODEL.int8.osprey)");
            }
            inferencePrecision = precision;
            if (network != null) {
                network.inferencePrecision(effectivePrecision(network.backend(), precision));
            }
            return this;
        }
    }

    /** The precision inference computes in now: the one asked for, or fp32 where the backend can't. */
    public Precision inferencePrecision() {
        refuseWhileTraining("inferencePrecision");
        synchronized (this) {
            return network != null ? network.inferencePrecision()
                    : device == null ? inferencePrecision : effectivePrecision(device.backend(), inferencePrecision);
        }
    }

    /**
     * Post-training quantization: runs fp32 inference over calibration samples (a few hundred representative inputs)
     * and keeps the range each convolution's and dense layer's input took, so that {@link #inferencePrecision
     * inferencePrecision(Precision.INT8)} can map inputs onto 8 bits; kernels are mapped with one scale per output
     * channel when a plan is made. The ranges are saved with the model; its fp32 weights stay as they are. Returns
     * this model, whose inference precision is now int8 (where the backend has int8 kernels; else fp32, with a
     * logged reason).
     */
    public Model quantize(NDArray calibration) {
        refuseWhileTraining("quantize");
        requireOneInput("quantize", ONE_INPUT_ONLY);
        synchronized (this) {
            checkOpen();
            ensureBuilt(calibration, "quantize");
            checkFinite("quantize", calibration);
            Map<String, dev.osprey.backend.InputRange> ranges = dev.osprey.engine.Calibration.inputRanges(network,
                    calibration, 64);
            inputRanges(ranges);
            return inferencePrecision(Precision.INT8);
        }
    }

    /** The calibrated input ranges by layer name (empty before {@link #quantize}); for model files. */
    public Map<String, dev.osprey.backend.InputRange> inputRanges() {
        refuseWhileTraining("inputRanges");
        synchronized (this) {
            return inputRanges;
        }
    }

    /** Sets calibrated input ranges (as a model file holds them); each must name a convolution or dense layer. */
    public Model inputRanges(Map<String, dev.osprey.backend.InputRange> ranges) {
        refuseWhileTraining("inputRanges");
        synchronized (this) {
            Graph g = graphFor(null);
            if (g != null) {
                List<String> needed = dev.osprey.engine.Calibration.quantizedLayers(g);
                for (String name : ranges.keySet()) {
                    if (!needed.contains(name)) {
                        throw new IllegalArgumentException("inputRanges: expected ranges for the layers " + needed
                                + ", received one for '" + name + "'");
                    }
                }
                for (String name : needed) {
                    if (!ranges.containsKey(name) && !ranges.isEmpty()) {
                        throw new IllegalArgumentException("inputRanges: expected a range for every layer of " + needed
                                + ", received none for '" + name + "'");
                    }
                }
            }
            if (ranges.isEmpty() && inferencePrecision == Precision.INT8) {
                throw new IllegalStateException("inputRanges: the model infers in int8, which needs them; expected "
                        + "ranges for " + (g == null ? "its layers" : dev.osprey.engine.Calibration.quantizedLayers(g))
                        + ", received none (set another precision first)");
            }
            inputRanges = Map.copyOf(ranges);
            if (network != null) {
                network.inputRanges(inputRanges);
            }
            return this;
        }
    }

    /**
     * How training multiplies (Keras' dtype policy; default {@link MixedPrecision#FLOAT32}).
     * {@link MixedPrecision#BFLOAT16} lets convolutions and dense layers, forward and backward, multiply in bfloat16
     * with fp32 sums: faster on CPUs with AVX512_BF16 or AMX and on GPUs with bf16 tensor cores (compute capability
     * 8.0 and up). {@link MixedPrecision#FLOAT16} does the same in IEEE
     * half precision on NVIDIA GPUs with tensor cores, with dynamic loss scaling (Keras' defaults, unless the
     * optimizer is a {@link dev.osprey.optim.LossScaleOptimizer} with its own). Weights, activations, gradients, the
     * loss and the optimizer stay fp32, and so do saved models. Where the backend has no kernels for the policy (bf16
     * on an older CPU or a GPU before Ampere, fp16 on any CPU) the model logs one line saying why and trains in
     * fp32: {@link #mixedPrecision()} tells which is in effect. Set it before fit; changing it drops the training plans
     * made so far.
     */
    public Model mixedPrecision(MixedPrecision policy) {
        java.util.Objects.requireNonNull(policy, "policy");
        refuseWhileTraining("mixedPrecision");
        synchronized (this) {
            mixedPrecision = policy;
            if (network != null) {
                network.trainingMath(effectiveTrainingMath(network.backend(), policy));
            }
            return this;
        }
    }

    /** How training multiplies now: the policy asked for, or fp32 where the backend can't. */
    public MixedPrecision mixedPrecision() {
        refuseWhileTraining("mixedPrecision");
        synchronized (this) {
            if (network != null) {
                return switch (network.trainingMath()) {
                    case BF16 -> MixedPrecision.BFLOAT16;
                    case FP16 -> MixedPrecision.FLOAT16;
                    default -> MixedPrecision.FLOAT32;
                };
            }
            boolean available = device == null || device.backend().trainingUnavailable(mixedPrecision.math()) == null;
            return available ? mixedPrecision : MixedPrecision.FLOAT32;
        }
    }

    /** The precision the policy's training ops multiply in on this backend: its own, or fp32 with one logged line. */
    static Precision effectiveTrainingMath(Backend backend, MixedPrecision policy) {
        String reason = backend.trainingUnavailable(policy.math());
        if (reason == null) {
            return policy.math();
        }
        org.slf4j.LoggerFactory.getLogger(Model.class).warn("{} mixed precision unavailable, training in fp32: {}",
                policy, reason);
        return Precision.FP32;
    }

    /** precision if the backend can run it, else fp32 with one logged line. */
    static Precision effectivePrecision(Backend backend, Precision precision) {
        String reason = backend.unavailable(precision);
        if (reason == null) {
            return precision;
        }
        org.slf4j.LoggerFactory.getLogger(Model.class).warn("{} inference unavailable, using fp32: {}", precision,
                reason);
        return Precision.FP32;
    }

    /** Whether NaN and infinite inputs are accepted; see {@link #acceptNonFiniteInputs(boolean)}. */
    public boolean acceptsNonFiniteInputs() {
        refuseWhileTraining("acceptsNonFiniteInputs");
        synchronized (this) {
            return acceptNonFiniteInputs;
        }
    }

    private void checkFinite(String what, NDArray x) {
        if (acceptNonFiniteInputs) {
            return;
        }
        float[] d = x.data();
        for (int i = 0; i < d.length; i++) {
            if (!Float.isFinite(d[i])) {
                throw new IllegalArgumentException(what + ": expected finite inputs, received " + d[i] + " in sample "
                        + i / x.rowSize());
            }
        }
    }

    boolean reportsAccuracy() {
        return metrics.contains(Metric.ACCURACY);
    }

    // ---- structure ---------------------------------------------------------------------------------------

    /** The model's layers, in the order of their first call. */
    public List<Layer> layers() {
        refuseWhileTraining("layers");
        synchronized (this) {
            Graph g = graphFor(null);
            return g == null ? List.of() : g.layers();
        }
    }

    /** The layer of this name (Keras' model.get_layer(name)). */
    public Layer layer(String name) {
        refuseWhileTraining("layer");
        synchronized (this) {
            Graph g = requireGraph("layer");
            Layer l = g.layer(name);
            if (l == null) {
                throw new IllegalArgumentException("layer: expected one of " + g.layers().stream().map(Layer::name).toList()
                        + ", received '" + name + "'");
            }
            return l;
        }
    }

    /**
     * Freezes every layer from the first up to and including the named one, in {@link #layers()} order (the order of
     * their first call, so everything the named layer's output depends on): fit leaves their weights as they are,
     * and a frozen BatchNormalization normalizes with its moving statistics, as Keras does. Later layers stay as
     * they were. Call it before compile; returns this model.
     */
    public Model freezeUpTo(String layerName) {
        refuseWhileTraining("freezeUpTo");
        synchronized (this) {
            Layer last = layer(layerName);
            for (Layer l : requireGraph("freezeUpTo").layers()) {
                l.trainable(false);
                if (l == last) {
                    break;
                }
            }
            return this;
        }
    }

    /**
     * Copies into this model every weight of source that this model has under the same path (layer name and weight
     * name) and shape: how a model built on another's layers (a new head on an imported base) starts from the base's
     * trained weights, since each model holds its own copy. Builds this model if needed; returns how many weights
     * were copied. A path present in both with different shapes is an error.
     */
    public int copyWeightsFrom(Model source) {
        refuseWhileTraining("copyWeightsFrom");
        if (source == null) {
            throw new IllegalArgumentException("copyWeightsFrom: expected a model to copy from, received null");
        }
        Map<String, NDArray> given = source.namedWeights();
        refuseWhileTraining("copyWeightsFrom"); // again after reading the source: a fit may have begun meanwhile
        synchronized (this) {
            build();
            Parameters p = built("copyWeightsFrom").parameters();
            List<NDArray> values = new java.util.ArrayList<>(p.get());
            List<Parameters.Slot> slots = p.slots();
            int copied = 0;
            for (int i = 0; i < slots.size(); i++) {
                NDArray w = given.get(slots.get(i).path());
                if (w == null) {
                    continue;
                }
                if (!Arrays.equals(w.shape(), values.get(i).shape())) {
                    throw new IllegalArgumentException("copyWeightsFrom: " + slots.get(i).path() + " has shape "
                            + Arrays.toString(values.get(i).shape()) + " here, received "
                            + Arrays.toString(w.shape()));
                }
                values.set(i, w);
                copied++;
            }
            p.set(values);
            weightsGiven |= copied > 0;
            return copied;
        }
    }

    /** The model's inputs, in order. */
    public List<Input> inputs() {
        refuseWhileTraining("inputs");
        synchronized (this) {
            return requireGraph("inputs").inputs();
        }
    }

    /**
     * Each output's name in the logs and in compile's losses, loss weights and metrics by name: its layer's name
     * ("kind"), in output order.
     */
    public List<String> outputNames() {
        refuseWhileTraining("outputNames");
        synchronized (this) {
            return dev.osprey.engine.ModelLoss.outputNames(requireGraph("outputNames"));
        }
    }

    /** The model's outputs, in order. */
    public List<SymbolicTensor> outputs() {
        refuseWhileTraining("outputs");
        synchronized (this) {
            return requireGraph("outputs").outputs();
        }
    }

    /** The shape of one sample of the first input. */
    public Shape inputShape() {
        refuseWhileTraining("inputShape");
        synchronized (this) {
            return requireGraph("inputShape").inputShape(0);
        }
    }

    /** The shape of one sample of the first output, e.g. (10,) for a classifier of 10 classes. */
    public Shape outputShape() {
        refuseWhileTraining("outputShape");
        synchronized (this) {
            return requireGraph("outputShape").outputs().get(0).shape();
        }
    }

    /**
     * Whether predict's rows are class logits, which a softmax turns into probabilities: the model's one output is a
     * vector of two or more values from a linear last layer (looking back through Flatten, Reshape and Dropout), and
     * the model is either compiled with a categorical cross-entropy from logits, or not compiled and given class names
     * (a classifier imported from ONNX with {@code --class-names}: PyTorch's usually end in logits). A model compiled
     * with another loss, or one without a loss or class names (a regression, an embedding), outputs values, not
     * logits. predict returns the rows as they are, as Keras' does; the command line's predict, the server's
     * {@code Predictor} and the Spark scorer answer with their softmax.
     */
    public boolean outputsLogits() {
        refuseWhileTraining("outputsLogits");
        synchronized (this) {
            Graph g = requireGraph("outputsLogits");
            if (g.outputs().size() != 1) {
                return false;
            }
            SymbolicTensor out = g.outputs().get(0);
            return out.shape().rank() == 1 && out.shape().size() >= 2
                    && lastActivation(out).kind() == Activation.Kind.LINEAR
                    && (loss == null ? !classNames.isEmpty() : loss.categorical() && loss.fromLogits());
        }
    }

    /** The activation t last went through, looking back through layers that only reshape or drop values. */
    private static Activation lastActivation(SymbolicTensor t) {
        while (t.layer() instanceof dev.osprey.layers.Flatten || t.layer() instanceof dev.osprey.layers.Reshape
                || t.layer() instanceof dev.osprey.layers.Dropout) {
            t = t.node().inputs().get(0);
        }
        return t.layer() == null ? Activation.LINEAR : t.layer().activation();
    }

    /**
     * Each row of logits (values holds rows of width values) replaced by its softmax, as {@link #outputsLogits}
     * models' answers are shown as class probabilities. A row holding NaN, or +Infinity, becomes NaN throughout.
     */
    public static void softmaxRows(float[] values, int width) {
        if (width < 1 || values.length % width != 0) {
            throw new IllegalArgumentException("softmaxRows: expected rows of " + width + " values, received "
                    + values.length + " values");
        }
        for (int row = 0; row < values.length; row += width) {
            float max = Float.NEGATIVE_INFINITY;
            for (int i = row; i < row + width; i++) {
                max = Math.max(max, values[i]);
            }
            double sum = 0;
            for (int i = row; i < row + width; i++) {
                sum += Math.exp(values[i] - max);
            }
            for (int i = row; i < row + width; i++) {
                values[i] = (float) (Math.exp(values[i] - max) / sum);
            }
        }
    }

    private Graph requireGraph(String what) {
        checkOpen();
        Graph g = graphFor(null);
        if (g == null) {
            throw new IllegalStateException(what + ": the model is not built yet; declare the first layer's "
                    + "inputShape(...) or call build(Shape.of(...))");
        }
        return g;
    }

    /** Forward-pass FLOPs for one sample (a training step costs about three times this). */
    public double forwardFlopsPerSample() {
        refuseWhileTraining("forwardFlopsPerSample");
        synchronized (this) {
            return requireGraph("forwardFlopsPerSample").forwardFlopsPerSample();
        }
    }

    // ---- weights -----------------------------------------------------------------------------------------

    /** Every weight in Keras' order (per layer, in order of first call: e.g. kernel, bias; BatchNorm's four). */
    public List<NDArray> getWeights() {
        refuseWhileTraining("getWeights");
        synchronized (this) {
            return built("getWeights").parameters().get();
        }
    }

    /** Sets every weight's values, given in {@link #getWeights()} order. */
    public void setWeights(List<NDArray> weights) {
        refuseWhileTraining("setWeights");
        synchronized (this) {
            for (int w = 0; w < weights.size(); w++) { // as a model file's weights are checked when it loads
                float[] v = weights.get(w) == null ? new float[0] : weights.get(w).data();
                for (int i = 0; i < v.length; i++) {
                    if (!Float.isFinite(v[i])) {
                        throw new IllegalArgumentException("setWeights: expected finite weights, received " + v[i]
                                + " at index " + i + " of weight " + w);
                    }
                }
            }
            built("setWeights").parameters().set(weights);
            weightsGiven = true;
        }
    }

    /** Every weight by its path ("conv2d/kernel"), in {@link #getWeights()} order. */
    public Map<String, NDArray> namedWeights() {
        refuseWhileTraining("namedWeights");
        synchronized (this) {
            Parameters p = built("namedWeights").parameters();
            Map<String, NDArray> out = new LinkedHashMap<>();
            for (Parameters.Slot s : p.slots()) {
                out.put(s.path(), p.read(s));
            }
            return out;
        }
    }

    /** Paths of the weights, in {@link #getWeights()} order (no need to build the model first). */
    public List<String> weightPaths() {
        refuseWhileTraining("weightPaths");
        synchronized (this) {
            return Parameters.paths(requireGraph("weightPaths"));
        }
    }

    /** Every weight's values, trainable or not, as Keras counts them (no need to build the model first). */
    public long countParams() {
        refuseWhileTraining("countParams");
        synchronized (this) {
            long[] c = Parameters.count(requireGraph("countParams"));
            return c[0] + c[1];
        }
    }

    /** Values of the weights fit updates (trainable weights of trainable layers). */
    public long trainableParams() {
        refuseWhileTraining("trainableParams");
        synchronized (this) {
            return Parameters.count(requireGraph("trainableParams"))[0];
        }
    }

    /** Values of the other weights: frozen layers' and state such as BatchNormalization's moving statistics. */
    public long nonTrainableParams() {
        refuseWhileTraining("nonTrainableParams");
        synchronized (this) {
            return Parameters.count(requireGraph("nonTrainableParams"))[1];
        }
    }

    /**
     * The optimizer's progress, saved with the model: steps taken, its state (e.g. Adam's moments), the learning rate
     * it had reached (a schedule may have moved it from the compiled one; NaN: the compiled one), and where the loss
     * is scaled ({@link dev.osprey.optim.LossScaleOptimizer}, mixed_float16) the scale reached (null: none).
     */
    public record OptimizerState(long iterations, Map<String, NDArray> slots, double learningRate,
                                 LossScaleState lossScale) {
        /** A state without loss scaling. */
        public OptimizerState(long iterations, Map<String, NDArray> slots, double learningRate) {
            this(iterations, slots, learningRate, null);
        }

        /** A state that leaves the learning rate as compiled. */
        public OptimizerState(long iterations, Map<String, NDArray> slots) {
            this(iterations, slots, Double.NaN);
        }
    }

    /**
     * Dynamic loss scaling's progress: the current scale, the steps in a row without overflow since it changed, and the
     * steps skipped so far for overflowing (they count in each step's dropout seed, so a resumed run draws the masks the
     * whole run would have).
     */
    public record LossScaleState(double scale, int goodSteps, long skippedSteps) {
        /** Checks a scale that is a power of two from 1 to 2^64, and counts >= 0. */
        public LossScaleState {
            if (!dev.osprey.optim.DynamicLossScale.isScale(scale) || goodSteps < 0 || skippedSteps < 0) {
                throw new IllegalArgumentException("loss scale: expected a power of two from 1 to 2^64 and counts "
                        + ">= 0, received " + scale + ", " + goodSteps + " and " + skippedSteps);
            }
        }

        /** A state without skipped steps (files written before they were saved). */
        public LossScaleState(double scale, int goodSteps) {
            this(scale, goodSteps, 0);
        }
    }

    /**
     * The optimizer's state, or null before compile/build or before the first step (a step skipped by loss scaling
     * counts: its state has 0 iterations and the skipped step).
     */
    public OptimizerState optimizerState() {
        refuseWhileTraining("optimizerState");
        synchronized (this) {
            boolean skippedOnly = updater instanceof dev.osprey.engine.LossScaler s && s.skippedSteps() > 0;
            if (updater == null || updater.iterations() == 0 && !skippedOnly) {
                return null;
            }
            Map<String, NDArray> slots = new TreeMap<>();
            updater.slots().forEach((name, t) -> {
                float[] values = new float[(int) t.size()];
                network.backend().copyOut(t, values, 0);
                slots.put(name, new NDArray(values, values.length));
            });
            LossScaleState lossScale = updater instanceof dev.osprey.engine.LossScaler scaler && scaler.inEffect()
                    ? new LossScaleState(scaler.currentScale(), scaler.goodSteps(), scaler.skippedSteps()) : null;
            return new OptimizerState(updater.iterations(), slots, updater.learningRate(), lossScale);
        }
    }

    /** Names of the optimizer's state tensors once compiled and built (e.g. "m", "v"). */
    public Set<String> optimizerSlotNames() {
        refuseWhileTraining("optimizerSlotNames");
        synchronized (this) {
            built("optimizerSlotNames");
            requireCompiled("optimizerSlotNames");
            return new java.util.TreeSet<>(updater.slots().keySet());
        }
    }

    /** Restores a state taken by {@link #optimizerState()} from a model of the same architecture and optimizer. */
    public void restoreOptimizerState(OptimizerState state) {
        refuseWhileTraining("restoreOptimizerState");
        synchronized (this) {
            built("restoreOptimizerState");
            requireCompiled("restoreOptimizerState");
            Map<String, Tensor> slots = updater.slots();
            if (!slots.keySet().equals(state.slots().keySet())) {
                throw new IllegalArgumentException("restoreOptimizerState: expected state " + slots.keySet() + " for "
                        + optimizer.name() + ", received " + state.slots().keySet());
            }
            for (Map.Entry<String, Tensor> e : slots.entrySet()) {
                NDArray saved = state.slots().get(e.getKey());
                if (saved.data().length != e.getValue().size()) {
                    throw new IllegalArgumentException("restoreOptimizerState: expected " + e.getKey() + " of "
                            + e.getValue().size() + " values, received " + saved.data().length);
                }
                network.backend().copyIn(saved.data(), 0, e.getValue());
            }
            if (state.lossScale() != null && updater instanceof dev.osprey.engine.LossScaler scaler) {
                scaler.restore(state.lossScale().scale(), state.lossScale().goodSteps()); // checks before any change
                scaler.restoreSkippedSteps(state.lossScale().skippedSteps());
            }
            updater.restoreIterations(state.iterations());
            if (!Double.isNaN(state.learningRate()) && !updater.followsSchedule()) {
                updater.learningRate(state.learningRate());
            }
        }
    }

    /**
     * A new model of the same graph, compile settings and saved details, with a copy of this model's weights,
     * optimizer state, int8 calibration and inference precision, on the given device (null: this model's). The layers
     * are shared; the weights are not.
     */
    public Model copy(Device target) {
        refuseWhileTraining("copy");
        synchronized (this) {
            built("copy");
            Model copy = newShell();
            copy.device(target == null ? device : target).seed(seed).classNames(classNames).preprocessing(preprocessing);
            try {
                if (optimizer != null) {
                    copy.compile(optimizer, loss, outputLosses, lossWeights, outputMetrics,
                            metrics.toArray(Metric[]::new));
                }
                copy.build();
                copy.setWeights(getWeights());
                OptimizerState state = optimizerState();
                if (state != null) {
                    copy.restoreOptimizerState(state);
                }
                copy.inputRanges(inputRanges).inferencePrecision(inferencePrecision).mixedPrecision(mixedPrecision);
                return copy;
            } catch (RuntimeException e) {
                copy.close();
                throw e;
            }
        }
    }

    /** An unbuilt model over the same graph (Sequential over the same layers). */
    Model newShell() {
        return new Model(graph.inputs(), graph.outputs());
    }

    // ---- saved details -----------------------------------------------------------------------------------

    /** Names of the output classes, saved with the model so predictions can print labels. */
    public Model classNames(List<String> names) {
        refuseWhileTraining("classNames");
        synchronized (this) {
            this.classNames = List.copyOf(names);
            return this;
        }
    }

    /** The output class names; empty unless set. */
    public List<String> classNames() {
        refuseWhileTraining("classNames");
        synchronized (this) {
            return classNames;
        }
    }

    /** How raw image files become inputs for this model; saved with it, so predict on an image repeats training's steps. */
    public Model preprocessing(Preprocessing p) {
        refuseWhileTraining("preprocessing");
        synchronized (this) {
            this.preprocessing = p;
            return this;
        }
    }

    /** The saved image preprocessing, or null for models trained on arrays. */
    public Preprocessing preprocessing() {
        refuseWhileTraining("preprocessing");
        synchronized (this) {
            return preprocessing;
        }
    }

    /** The compiled optimizer, or null before compile. */
    public Optimizer optimizer() {
        refuseWhileTraining("optimizer");
        synchronized (this) {
            return optimizer;
        }
    }

    /**
     * Keras' {@code model.optimizer.learning_rate = rate}: the compiled optimizer's rate from the next step on, keeping
     * its state (moments, step count), as a callback's {@code training.learningRate(rate)} does during fit; saved with
     * the model. Refused before compile, and for an optimizer whose rate follows a schedule.
     */
    public Model learningRate(double rate) {
        refuseWhileTraining("learningRate");
        if (!(rate >= 0) || Double.isInfinite(rate)) {
            throw new IllegalArgumentException("learningRate: expected a finite rate >= 0, received " + rate);
        }
        synchronized (this) {
            requireCompiled("learningRate");
            build();
            if (updater.followsSchedule()) {
                throw new IllegalStateException("learningRate: the optimizer's rate follows the schedule "
                        + (optimizer.schedule() == null ? "it was given" : optimizer.schedule().className())
                        + "; expected an optimizer with a fixed rate (compile with one to set it by hand)");
            }
            updater.learningRate(rate);
            return this;
        }
    }

    /**
     * Keras' {@code optimizer.finalize_variable_values(model.trainable_variables)}: where the optimizer keeps a moving
     * average of the weights ({@link Optimizer#useEma}), puts it in their place, as fit does when it returns; for
     * loops of {@link #trainOnBatch} calls, which never do. Does nothing for other optimizers or before the first step.
     * Refused before compile and while another thread trains; from inside fit, refused (fit does it at its end).
     */
    public Model finalizeWeights() {
        refuseWhileTraining("finalizeWeights");
        refuseInsideFit("finalizeWeights", "fit puts the average in place when it returns");
        synchronized (this) {
            requireCompiled("finalizeWeights");
            build();
            Optimizer.Updater u = updater;
            network.backend().execute(() -> {
                u.finishTraining();
                return null;
            });
            network.parameters().changed();
            return this;
        }
    }

    /** The compiled optimizer's learning rate for the next step (its schedule's, where it follows one). */
    public double learningRate() {
        refuseWhileTraining("learningRate");
        synchronized (this) {
            requireCompiled("learningRate");
            build();
            return updater.learningRate();
        }
    }

    /** The compiled loss, or null before compile; for a model compiled with one loss per output, the first's. */
    public Loss loss() {
        refuseWhileTraining("loss");
        synchronized (this) {
            return loss;
        }
    }

    /**
     * The compiled loss of each output, in output order (a list of one for a model compiled with one loss), or an empty
     * list before compile.
     */
    public List<Loss> losses() {
        refuseWhileTraining("losses");
        synchronized (this) {
            return outputLosses != null ? outputLosses : loss == null ? List.of() : List.of(loss);
        }
    }

    /** The weight of each output's loss, as {@link #losses()} lists them (1 for a model compiled with one loss). */
    public List<Double> lossWeights() {
        refuseWhileTraining("lossWeights");
        synchronized (this) {
            return lossWeights != null ? Arrays.stream(lossWeights).boxed().toList()
                    : loss == null ? List.of() : List.of(1.0);
        }
    }

    /**
     * The metrics compiled by output ({@link #compile(Optimizer, Map, Map, Map)}), by output name in output order; null
     * when the model was compiled with one list of metrics for all its outputs.
     */
    public Map<String, Set<Metric>> metricsByOutput() {
        refuseWhileTraining("metricsByOutput");
        synchronized (this) {
            if (outputMetrics == null) {
                return null;
            }
            List<String> names = dev.osprey.engine.ModelLoss.outputNames(graph);
            Map<String, Set<Metric>> byName = new LinkedHashMap<>();
            for (int o = 0; o < names.size(); o++) {
                byName.put(names.get(o), outputMetrics.get(o));
            }
            return Collections.unmodifiableMap(byName);
        }
    }

    /** The compiled metrics (of every output, with metrics by output); empty before compile or when none were given. */
    public Set<Metric> metrics() {
        refuseWhileTraining("metrics");
        synchronized (this) {
            return Collections.unmodifiableSet(metrics);
        }
    }

    /** The backend, for tests and benchmarks. */
    public Backend backend() {
        refuseWhileTraining("backend");
        synchronized (this) {
            return built("backend").backend();
        }
    }

    /**
     * How many batch sizes of inference plans the model keeps (default 3; least recently used first out). A server that
     * batches requests into a few fixed sizes keeps them all; a model that sees many sizes stays small.
     */
    public Model keepInferencePlans(int count) {
        refuseWhileTraining("keepInferencePlans");
        synchronized (this) {
            if (count <= 0) {
                throw new IllegalArgumentException("keepInferencePlans: expected a count > 0, received " + count);
            }
            built("keepInferencePlans").keepInferencePlans(count);
            return this;
        }
    }

    /**
     * Frees the native memory of the model's plans (their activation buffers; the weights stay): the next prediction
     * plans again. For a model kept between bursts of work, as a Spark executor keeps one between tasks.
     */
    public void releasePlans() {
        refuseWhileTraining("releasePlans");
        synchronized (this) {
            if (network != null) {
                network.dropPlans();
            }
        }
    }

    /** Bytes of native memory the model's plans hold now (weights excluded): for tests of memory bounds. */
    public long planBytes() {
        refuseWhileTraining("planBytes");
        synchronized (this) {
            return network == null ? 0 : network.planBytes();
        }
    }

    /** One line about the backend the model runs on. */
    public String backendDescription() {
        refuseWhileTraining("backendDescription");
        synchronized (this) {
            return built("backendDescription").backend().description();
        }
    }

    // ---- files and description ---------------------------------------------------------------------------

    /** Writes architecture, compile settings and weights to one file, atomically. */
    public void save(Path path) throws IOException {
        refuseWhileTraining("save");
        synchronized (this) {
            built("save");
            ModelFile.write(this, path);
        }
    }

    /** Reads a model written by {@link #save} onto {@link Device#auto()}. */
    public static Model load(Path path) throws IOException {
        return ModelFile.read(path, null);
    }

    /** Reads a model written by {@link #save} onto this device (null: {@link Device#auto()}). */
    public static Model load(Path path, Device device) throws IOException {
        return ModelFile.read(path, device);
    }

    /**
     * Imports an image classifier from an ONNX file (needs the osprey-onnx artifact): NCHW weights become Osprey's
     * NHWC ones, and the model takes NHWC input like every Osprey model. Unsupported ops fail with one error naming
     * the node, never a wrong model.
     */
    public static Model importOnnx(Path path) throws IOException {
        return dev.osprey.io.OnnxSupport.find().importModel(path, null);
    }

    /**
     * Writes this model as ONNX, opset 17 (needs the osprey-onnx artifact): the input stays NHWC as Osprey's, with a
     * dynamic batch; BatchNorm and activations stay ONNX nodes; outputs are named after their layers.
     */
    public void exportOnnx(Path path) throws IOException {
        refuseWhileTraining("exportOnnx");
        synchronized (this) {
            built("exportOnnx");
            dev.osprey.io.OnnxSupport.find().exportModel(this, path);
        }
    }

    /** {@link #importOnnx(Path)} onto this device (null: {@link Device#auto()}). */
    public static Model importOnnx(Path path, Device device) throws IOException {
        return dev.osprey.io.OnnxSupport.find().importModel(path, device);
    }

    /** Prints the Keras-style summary table to standard output. */
    public void summary() {
        System.out.print(summaryString());
    }

    /** Keras' summary table; needs the input shape, not the weights (a large model is not allocated for it). */
    public String summaryString() {
        refuseWhileTraining("summaryString");
        synchronized (this) {
            return Summary.of(this instanceof Sequential ? "sequential" : "model", this instanceof Sequential,
                    requireGraph("summary"));
        }
    }

    private Network built(String what) {
        checkOpen();
        if (network == null) {
            if (graphFor(null) == null) {
                throw new IllegalStateException(what + ": the model is not built yet; declare the first layer's "
                        + "inputShape(...) or call build(Shape.of(...))");
            }
            build();
        }
        return network;
    }

    final boolean isBuilt() {
        return network != null;
    }

    final void checkOpen() {
        if (closed) {
            throw new IllegalStateException(className() + ": the model was closed");
        }
    }

    /** Frees the model's native memory. Idempotent. */
    @Override
    public void close() {
        refuseWhileTraining("close");
        refuseInsideFit("close", "a callback stops training with training.stopTraining(); close after fit returns");
        synchronized (this) {
            if (!closed) {
                closed = true;
                if (network != null) {
                    network.close();
                }
                synchronized (HOLDERS) { // its layers stop naming it
                    HOLDERS.values().removeIf(ref -> ref.get() == this || ref.get() == null);
                }
            }
        }
    }

    @Override
    public String toString() {
        Graph g = graph;
        return className() + (g == null ? "(not built)" : g.layers().stream().map(Layer::describe).toList());
    }
}
