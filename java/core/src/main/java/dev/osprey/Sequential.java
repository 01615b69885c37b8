package dev.osprey;

import dev.osprey.backend.Device;
import dev.osprey.data.images.Preprocessing;
import dev.osprey.engine.Graph;
import dev.osprey.io.ModelFile;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Optimizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A stack of layers, as Keras' Sequential: add layers, compile, fit, evaluate, predict, save. It is the linear case
 * of {@link Model}: once the input shape is known (the first layer's {@code inputShape(...)}, {@link #build(Shape)},
 * or the first data it sees) it applies each layer to the last one's output and runs as that graph.
 */
public final class Sequential extends Model {
    private final List<Layer> stack = new ArrayList<>();

    /** A stack of these layers, in order; more can be added until the model is built. */
    public Sequential(Layer... layers) {
        for (Layer l : layers) {
            add(l);
        }
    }

    /** Adds a layer on top of the stack; refused once the model is built. */
    public synchronized Sequential add(Layer layer) {
        if (graphOrNull() != null) {
            throw new IllegalStateException("Sequential: layers can't be added after the model is built");
        }
        if (layer == null) {
            throw new IllegalArgumentException("Sequential: expected a layer, received null");
        }
        stack.add(layer);
        return this;
    }

    @Override
    public String className() {
        return "Sequential";
    }

    /** The layers, in order (also before the model is built). */
    @Override
    public synchronized List<Layer> layers() {
        return Collections.unmodifiableList(stack);
    }

    /** Infers every shape (failing with the layer's message), then allocates and initialises the weights. */
    public synchronized Sequential build(Shape inputShape) {
        checkOpen();
        Graph g = graphOrNull();
        if (g != null) {
            if (!g.inputShape(0).equals(inputShape)) {
                throw new IllegalArgumentException("Sequential: built for input " + g.inputShape(0)
                        + ", received input " + inputShape);
            }
        } else {
            setGraph(stackGraph(inputShape));
        }
        build();
        return this;
    }

    @Override
    synchronized Graph graphFor(Shape sample) {
        Graph g = graphOrNull();
        if (g != null) {
            return g;
        }
        Shape declared = stack.isEmpty() ? null : stack.get(0).declaredInputShape().orElse(null);
        Shape shape = declared != null ? declared : sample;
        if (shape == null) {
            return null;
        }
        setGraph(stackGraph(shape));
        return graphOrNull();
    }

    private Graph stackGraph(Shape inputShape) {
        if (stack.isEmpty()) {
            throw new IllegalStateException("Sequential: expected at least one layer, received none");
        }
        Input input = Input.shape(inputShape);
        SymbolicTensor x = input;
        List<SymbolicTensor> made = new ArrayList<>();
        try {
            for (Layer layer : stack) {
                x = layer.apply(x);
                made.add(x);
            }
            return new Graph(List.of(input), List.of(x));
        } catch (RuntimeException e) { // leave the layers as they were, so another input shape can still build them
            for (int i = made.size() - 1; i >= 0; i--) {
                made.get(i).layer().undoLastCall(made.get(i).node());
            }
            throw e;
        }
    }

    @Override
    Model newShell() {
        Sequential s = new Sequential(stack.toArray(Layer[]::new));
        s.setGraph(graphOrNull());
        return s;
    }

    // ---- the same calls, typed as Sequential for chaining ---------------------------------------------------

    @Override
    public Sequential device(Device device) {
        super.device(device);
        return this;
    }

    @Override
    public Sequential seed(long seed) {
        super.seed(seed);
        return this;
    }

    @Override
    public Sequential compile(Optimizer optimizer, Loss loss, Metric... metrics) {
        super.compile(optimizer, loss, metrics);
        return this;
    }

    @Override
    public Sequential compile(String optimizer, String loss, String... metrics) {
        super.compile(optimizer, loss, metrics);
        return this;
    }

    @Override
    public Sequential classNames(List<String> names) {
        super.classNames(names);
        return this;
    }

    @Override
    public Sequential preprocessing(Preprocessing p) {
        super.preprocessing(p);
        return this;
    }

    @Override
    public Sequential copy(Device target) {
        return (Sequential) super.copy(target);
    }

    /** Reads a Sequential model written by {@link #save} onto {@link Device#auto()}. */
    public static Sequential load(Path path) throws IOException {
        return load(path, null);
    }

    /** Reads a Sequential model written by {@link #save} onto this device (null: {@link Device#auto()}). */
    public static Sequential load(Path path, Device device) throws IOException {
        Model m = ModelFile.read(path, device);
        if (m instanceof Sequential s) {
            return s;
        }
        m.close();
        throw new dev.osprey.io.ModelFormatException(path + ": expected a Sequential model, received a functional "
                + "one (use Model.load)");
    }
}
