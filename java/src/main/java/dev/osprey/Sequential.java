package dev.osprey;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
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

/**
 * A stack of layers, as Keras' Sequential: add layers, compile, fit, evaluate, predict, save. Owns its backend's
 * native memory from build to {@link #close()}.
 *
 * <p>Threads: a model is used by one thread at a time. For full speed on the CPU, run oneDNN from one thread per
 * process: once a second thread has run OpenMP work, every thread's ops slow down (batch-1 inference measured at
 * 0.43 ms instead of 0.05 ms on 2 vCPUs; libgomp stops spinning when it manages more threads than cores). To
 * serve many threads, use {@link dev.osprey.serving.Predictor}: its worker is the one thread that touches oneDNN.
 */
public final class Sequential implements AutoCloseable {
    /** Weights start from this seed unless {@link #seed(long)} says otherwise, so runs repeat by default. */
    public static final long DEFAULT_SEED = 42;

    private final List<Layer> layers = new ArrayList<>();
    private Device device;
    private long seed = DEFAULT_SEED;
    private Optimizer optimizer;
    private Loss loss;
    private Set<Metric> metrics = EnumSet.noneOf(Metric.class);
    private List<String> classNames = List.of();
    private dev.osprey.data.images.Preprocessing preprocessing;
    private Network network;
    private Optimizer.Updater updater;
    private boolean closed;

    public Sequential(Layer... layers) {
        for (Layer l : layers) {
            add(l);
        }
    }

    public Sequential add(Layer layer) {
        if (network != null) {
            throw new IllegalStateException("Sequential: layers can't be added after the model is built");
        }
        if (layer == null) {
            throw new IllegalArgumentException("Sequential: expected a layer, received null");
        }
        layers.add(layer);
        return this;
    }

    public List<Layer> layers() {
        return Collections.unmodifiableList(layers);
    }

    /** Where the model runs; default {@link Device#auto()}. Set before compile. */
    public Sequential device(Device device) {
        if (network != null) {
            throw new IllegalStateException("Sequential: the device must be chosen before the model is built");
        }
        this.device = device;
        return this;
    }

    /** The device chosen for this model (set at build time when left to {@link Device#auto()}). */
    public Device device() {
        return device;
    }

    /** Seed of the weight initialisation (and default seed of fit). Set before compile. */
    public Sequential seed(long seed) {
        this.seed = seed;
        return this;
    }

    public long seed() {
        return seed;
    }

    /** Keras' compile(optimizer, loss, metrics). */
    public Sequential compile(Optimizer optimizer, Loss loss, Metric... metrics) {
        if (optimizer == null || loss == null) {
            throw new IllegalArgumentException("compile: expected an optimizer and a loss, received "
                    + optimizer + " and " + loss);
        }
        this.optimizer = optimizer;
        this.loss = loss;
        this.metrics = metrics.length == 0 ? EnumSet.noneOf(Metric.class) : EnumSet.copyOf(Arrays.asList(metrics));
        layers.stream().findFirst().flatMap(Layer::declaredInputShape).ifPresent(this::build);
        if (network != null) {
            checkOutputMatchesLoss();
            updater = optimizer.bind(network.backend, network.params, network.grads);
        }
        return this;
    }

    /** Keras' string form: compile("adam", "categorical_crossentropy", "accuracy"). */
    public Sequential compile(String optimizer, String loss, String... metrics) {
        Optimizer o = switch (optimizer) {
            case "adam" -> new Adam();
            case "sgd" -> new SGD();
            default -> throw new IllegalArgumentException("compile: expected optimizer 'adam' or 'sgd', received '"
                    + optimizer + "'");
        };
        return compile(o, Loss.of(loss), Arrays.stream(metrics).map(Metric::of).toArray(Metric[]::new));
    }

    /** Infers every shape, allocates the parameters on the device and initialises them. */
    public Sequential build(Shape inputShape) {
        checkOpen();
        if (network != null) {
            if (!network.inputShape.equals(inputShape)) {
                throw new IllegalArgumentException("Sequential: built for input " + network.inputShape
                        + ", received input " + inputShape);
            }
            return this;
        }
        if (layers.isEmpty()) {
            throw new IllegalStateException("Sequential: expected at least one layer, received none");
        }
        Shape shape = inputShape;
        for (Layer layer : layers) {
            shape = layer.outputShape(shape); // fail here, with the layer's message, before touching the device
        }
        for (int i = 0; i < layers.size() - 1; i++) {
            if (layers.get(i).activation() == Activation.SOFTMAX) {
                throw new IllegalArgumentException("Sequential: softmax is supported on the last layer only, received "
                        + "it on layer " + (i + 1) + " (" + layers.get(i).className() + ")");
            }
        }
        if (device == null) {
            device = Device.auto();
        }
        Backend backend = device.open();
        try {
            network = new Network(layers, inputShape, backend);
            network.initialize(seed);
        } catch (RuntimeException e) {
            backend.close();
            network = null;
            throw e;
        }
        return this;
    }

    private void checkOutputMatchesLoss() {
        Activation last = layers.get(layers.size() - 1).activation();
        if (network.outputShape().rank() != 1) {
            throw new IllegalArgumentException("compile: expected the last layer to output (classes,), received "
                    + network.outputShape());
        }
        if (!loss.fromLogits() && last != Activation.SOFTMAX) {
            throw new IllegalArgumentException("compile: " + loss.name() + " expects the last layer to end in softmax, "
                    + "received " + last.kerasName() + " (use Loss...fromLogits(true) for a linear last layer)");
        }
        if (loss.fromLogits() && last != Activation.LINEAR) {
            throw new IllegalArgumentException("compile: a loss from logits expects a linear last layer, received "
                    + last.kerasName());
        }
    }

    private void ensureBuilt(NDArray x, String what) {
        if (x == null || x.rows() == 0) {
            throw new IllegalArgumentException(what + ": expected at least one sample, received "
                    + (x == null ? "null" : "0"));
        }
        if (network == null) {
            build(layers.stream().findFirst().flatMap(Layer::declaredInputShape).orElse(x.sampleShape()));
            if (optimizer != null) {
                checkOutputMatchesLoss();
                updater = optimizer.bind(network.backend, network.params, network.grads);
            }
        }
        Shape expected = network.inputShape;
        if (x.rowSize() != expected.size() || !compatible(x.sampleShape(), expected)) {
            throw new IllegalArgumentException(what + ": expected input of shape (N, " + expected.toString().substring(1)
                    + ", received " + x.shapeString());
        }
    }

    /** Equal shapes, or equal but for a trailing channel of 1, e.g. (28, 28) for (28, 28, 1). */
    private static boolean compatible(Shape got, Shape expected) {
        if (got.equals(expected)) {
            return true;
        }
        int[] e = expected.dims();
        return e[e.length - 1] == 1 && got.equals(Shape.of(Arrays.copyOf(e, e.length - 1)));
    }

    private void requireCompiled(String what) {
        if (optimizer == null || loss == null) {
            throw new IllegalStateException(what + ": expected a compiled model; call compile(optimizer, loss, metrics) first");
        }
    }

    // ---- training and inference --------------------------------------------------------------------------

    public History fit(NDArray x, NDArray y, FitOptions options) {
        checkOpen();
        requireCompiled("fit");
        ensureBuilt(x, "fit");
        int classes = network.outputShape().size();
        NDArray trainX = x, trainY = y, valX = options.validationX, valY = options.validationY;
        if (options.validationSplit > 0 && valX == null) {
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
        loss.validate("fit", trainY, trainX.rows(), classes);
        checkFinite("fit", trainX);
        if (valX != null) {
            ensureBuilt(valX, "fit validation data");
            loss.validate("fit validation data", valY, valX.rows(), classes);
        }
        return fit(new ArrayBatchSource(trainX, trainY), valX == null ? null : new ArrayBatchSource(valX, valY), options);
    }

    /** Trains from batch sources: in-memory arrays, or an image pipeline that prefetches on worker threads. */
    public History fit(BatchSource train, BatchSource validation, FitOptions options) {
        checkOpen();
        requireCompiled("fit");
        if (train.size() == 0) {
            throw new IllegalArgumentException("fit: expected at least one sample, received 0");
        }
        if (network == null) {
            build(layers.stream().findFirst().flatMap(Layer::declaredInputShape).orElse(train.sampleShape()));
            checkOutputMatchesLoss();
            updater = optimizer.bind(network.backend, network.params, network.grads);
        }
        for (BatchSource s : new BatchSource[] {train, validation}) {
            if (s != null && (s.sampleShape().size() != network.inputShape.size() || !compatible(s.sampleShape(), network.inputShape))) {
                throw new IllegalArgumentException("fit: expected samples of shape " + network.inputShape + ", received "
                        + s.sampleShape());
            }
            if (s != null) {
                loss.validate("fit", s.labelRowSize(), network.outputShape().size());
            }
        }
        long fitSeed = options.seed == null ? seed : options.seed;
        return new Trainer(this, network, loss, optimizer, updater, options).fit(train, validation, fitSeed);
    }

    /** fit(x, y, epochs, batchSize, validationData) in one line. */
    public History fit(NDArray x, NDArray y, int epochs, int batchSize, NDArray validationX, NDArray validationY) {
        return fit(x, y, FitOptions.defaults().epochs(epochs).batchSize(batchSize).validationData(validationX, validationY));
    }

    /** Loss and (if compiled with it) accuracy: {"loss": .., "accuracy": ..}. */
    public Map<String, Double> evaluate(NDArray x, NDArray y) {
        return evaluate(x, y, 32);
    }

    public Map<String, Double> evaluate(NDArray x, NDArray y, int batchSize) {
        checkOpen();
        requireCompiled("evaluate");
        positiveBatch("evaluate", batchSize);
        ensureBuilt(x, "evaluate");
        loss.validate("evaluate", y, x.rows(), network.outputShape().size());
        double[] r = evaluateOn(network, new ArrayBatchSource(x, y), batchSize);
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("loss", r[0]);
        if (reportsAccuracy()) {
            out.put("accuracy", r[1]);
        }
        return out;
    }

    /** How the training step of this batch size runs (eager, or replaying a CUDA graph); for tests and logs. */
    String stepGraphState(int batch) {
        return network == null ? "not built" : network.plan(batch).stepGraph().state();
    }

    /** How prediction at this batch size runs (eager, or replaying a CUDA graph); for tests and logs. */
    String inferenceGraphState(int batch) {
        return network == null ? "not built" : network.plan(batch).inferenceGraphState();
    }

    /** {mean loss, accuracy} over a source, in order; used by evaluate and by fit's validation. */
    double[] evaluateOn(Network net, BatchSource data, int batchSize) {
        Backend backend = net.backend;
        backend.fill(net.evalStats, 0f);
        int classes = net.outputShape().size();
        int n = 0;
        data.startEpoch(0, batchSize, false, 0);
        for (BatchSource.Batch b = data.next(); b != null; b = data.next()) {
            BatchPlan plan = net.plan(b.count());
            plan.loadInput(b.x(), 0);
            loss.targets(b.labels(), b.count(), classes, plan.hostTargets);
            backend.copyIn(plan.hostTargets, 0, plan.targets);
            plan.evaluate(net.evalStats);
            n += b.count();
        }
        float[] stats = new float[2];
        backend.copyOut(net.evalStats, stats, 0);
        return new double[] {stats[0] / n, stats[1] / (double) n};
    }

    /** Class probabilities (N, classes) for a softmax model, raw outputs otherwise; batches of 32. */
    public NDArray predict(NDArray x) {
        return predict(x, 32);
    }

    public NDArray predict(NDArray x, int batchSize) {
        checkOpen();
        positiveBatch("predict", batchSize);
        ensureBuilt(x, "predict");
        int classes = network.outputShape().size();
        int n = x.rows();
        float[] out = new float[n * classes];
        boolean softmax = layers.get(layers.size() - 1).activation() == Activation.SOFTMAX;
        for (int start = 0; start < n; start += batchSize) {
            BatchPlan plan = network.plan(Math.min(batchSize, n - start));
            plan.loadInput(x.data(), start * x.rowSize());
            plan.infer(softmax);
            network.backend.copyOut(softmax ? plan.probabilities : plan.logits(), out, start * classes);
        }
        return new NDArray(out, n, classes);
    }

    private static void positiveBatch(String what, int batchSize) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException(what + ": expected batch size > 0, received " + batchSize);
        }
    }

    private static void checkFinite(String what, NDArray x) {
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

    // ---- weights, files, description ---------------------------------------------------------------------

    /** Every parameter in Keras' order (per layer: kernel, bias). */
    public List<NDArray> getWeights() {
        checkBuilt("getWeights");
        return network.getWeights();
    }

    public void setWeights(List<NDArray> weights) {
        checkBuilt("setWeights");
        network.setWeights(weights);
    }

    public long countParams() {
        checkBuilt("countParams");
        return network.parameterCount();
    }

    /** Forward-pass FLOPs for one sample (a training step costs about three times this). */
    public double forwardFlopsPerSample() {
        checkBuilt("forwardFlopsPerSample");
        Shape shape = network.inputShape;
        double flops = 0;
        for (Layer l : layers) {
            flops += l.forwardFlops(shape);
            shape = l.outputShape(shape);
        }
        return flops;
    }

    public Shape inputShape() {
        checkBuilt("inputShape");
        return network.inputShape;
    }

    public Shape outputShape() {
        checkBuilt("outputShape");
        return network.outputShape();
    }

    /** The optimizer's progress: steps taken and its state (e.g. Adam's moments), saved with the model. */
    public record OptimizerState(long iterations, Map<String, NDArray> slots) {
    }

    /** The optimizer's state, or null before compile/build or before the first step. */
    public OptimizerState optimizerState() {
        if (updater == null || updater.iterations() == 0) {
            return null;
        }
        Map<String, NDArray> slots = new java.util.TreeMap<>();
        updater.slots().forEach((name, t) -> {
            float[] values = new float[(int) t.size()];
            network.backend.copyOut(t, values, 0);
            slots.put(name, new NDArray(values, values.length));
        });
        return new OptimizerState(updater.iterations(), slots);
    }

    /** Names of the optimizer's state tensors once compiled and built (e.g. "m", "v"). */
    public java.util.Set<String> optimizerSlotNames() {
        checkBuilt("optimizerSlotNames");
        requireCompiled("optimizerSlotNames");
        return new java.util.TreeSet<>(updater.slots().keySet());
    }

    /** Restores a state taken by {@link #optimizerState()} from a model of the same architecture and optimizer. */
    public void restoreOptimizerState(OptimizerState state) {
        checkBuilt("restoreOptimizerState");
        requireCompiled("restoreOptimizerState");
        Map<String, dev.osprey.backend.Tensor> slots = updater.slots();
        if (!slots.keySet().equals(state.slots().keySet())) {
            throw new IllegalArgumentException("restoreOptimizerState: expected state " + slots.keySet() + " for "
                    + optimizer.name() + ", received " + state.slots().keySet());
        }
        for (Map.Entry<String, dev.osprey.backend.Tensor> e : slots.entrySet()) {
            NDArray saved = state.slots().get(e.getKey());
            if (saved.data().length != e.getValue().size()) {
                throw new IllegalArgumentException("restoreOptimizerState: expected " + e.getKey() + " of "
                        + e.getValue().size() + " values, received " + saved.data().length);
            }
            network.backend.copyIn(saved.data(), 0, e.getValue());
        }
        updater.restoreIterations(state.iterations());
    }

    /** Names of the output classes, saved with the model so predictions can print labels. */
    public Sequential classNames(List<String> names) {
        this.classNames = List.copyOf(names);
        return this;
    }

    public List<String> classNames() {
        return classNames;
    }

    /** How raw image files become inputs for this model; saved with it, so predict on an image repeats training's steps. */
    public Sequential preprocessing(dev.osprey.data.images.Preprocessing p) {
        this.preprocessing = p;
        return this;
    }

    /** The saved image preprocessing, or null for models trained on arrays. */
    public dev.osprey.data.images.Preprocessing preprocessing() {
        return preprocessing;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    public Loss loss() {
        return loss;
    }

    public Set<Metric> metrics() {
        return Collections.unmodifiableSet(metrics);
    }

    /** The backend, for tests and benchmarks in this package. */
    Backend backend() {
        checkBuilt("backend");
        return network.backend;
    }

    /** One line about the backend the model runs on. */
    public String backendDescription() {
        checkBuilt("backendDescription");
        return network.backend.description();
    }

    /** Writes architecture, compile settings and weights to one file, atomically. */
    public void save(Path path) throws IOException {
        checkBuilt("save");
        ModelFile.write(this, path);
    }

    /** Reads a model written by {@link #save} onto {@link Device#auto()}. */
    public static Sequential load(Path path) throws IOException {
        return ModelFile.read(path, null);
    }

    public static Sequential load(Path path, Device device) throws IOException {
        return ModelFile.read(path, device);
    }

    /** Prints the Keras-style summary table to standard output. */
    public void summary() {
        System.out.print(summaryString());
    }

    public String summaryString() {
        checkBuilt("summary");
        return Summary.of(this, network);
    }

    private void checkBuilt(String what) {
        checkOpen();
        if (network == null) {
            throw new IllegalStateException(what + ": the model is not built yet; declare the first layer's "
                    + "inputShape(...) or call build(Shape.of(...))");
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("Sequential: the model was closed");
        }
    }

    /** Frees the model's native memory. Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (network != null) {
                network.close();
            }
        }
    }
}
