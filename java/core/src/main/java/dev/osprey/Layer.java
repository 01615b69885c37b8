package dev.osprey;

import dev.osprey.engine.LayerRun;
import dev.osprey.engine.Node;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A layer, as in Keras. The constructor validates and stores configuration only; {@link #apply} connects the layer to
 * symbolic tensors and infers its output shape there (a mismatch fails at once, naming both layers);
 * {@link #plan} makes the per-batch-size run that does the work on a backend. A layer applied twice shares its
 * weights. Weights live in the model that holds the layer, not in the layer.
 *
 * <p>A new layer is one file: its configuration (with {@link #layerConfig} and a static {@code fromConfig(Config)}
 * that model files find by class name in this package or by {@link dev.osprey.io.LayerRegistry}), its shapes, its
 * parameters and its run, forward and backward side by side.
 *
 * <p>{@link #name(String)}, {@link #trainable(boolean)} and {@link #inputShape(int...)} return {@code Layer}; every
 * built-in layer overrides them to return its own type, so that they chain with the layer's own setters in any order
 * ({@code new Conv2D(32, 3).inputShape(28, 28, 1).padding(Padding.SAME)}). A layer defined elsewhere does the same to
 * chain alike.
 */
public abstract class Layer {
    private String name;
    private boolean trainable = true;
    private Shape declaredInputShape;
    private final List<Node> nodes = new ArrayList<>();
    private List<Shape> firstInputShapes;

    /** Keras' class name, e.g. "Conv2D" (the Java class's simple name unless a layer says otherwise). */
    public String className() {
        return getClass().getSimpleName();
    }

    /**
     * The shape of one output sample for these input samples (one per input); throws IllegalArgumentException saying
     * what was expected and what was received when the layer can't take them.
     */
    public abstract Shape outputShape(List<Shape> inputs);

    /** The output shape for a single input. */
    public final Shape outputShape(Shape input) {
        return outputShape(List.of(input));
    }

    /** Parameters for these input shapes, in Keras' order (e.g. kernel, bias; BatchNorm's moving statistics last). */
    public List<ParamSpec> parameters(List<Shape> inputs) {
        return List.of();
    }

    /** Plans this layer for one batch size on one backend: the tensors it needs, made once, and the run that uses them. */
    public abstract LayerRun plan(PlanContext context);

    /** Multiply-adds times two of the forward pass for one sample (0 for layers that only move data). */
    public double forwardFlops(List<Shape> inputs) {
        return 0;
    }

    /** This layer's own configuration keys (Keras' names); {@link #getConfig} adds name and trainable. */
    protected abstract Map<String, Object> layerConfig();

    /** The whole configuration, as Keras' get_config(): name, trainable and the layer's keys. */
    public final Map<String, Object> getConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        if (name != null) {
            c.put("name", name);
        }
        c.put("trainable", trainable);
        c.putAll(layerConfig());
        return c;
    }

    /** Name and trainable from a configuration; every layer's fromConfig calls this on the layer it made. */
    protected static <L extends Layer> L withCommonConfig(L layer, Config c) {
        String n = c.string("name", null);
        if (n != null) {
            layer.name(n);
        }
        layer.trainable(c.bool("trainable", true));
        return layer;
    }

    /** The activation applied to the output, for layers that have one (softmax marks a classifier's last layer). */
    public Activation activation() {
        return Activation.LINEAR;
    }

    // ---- name, trainable, declared input ----------------------------------------------------------------

    /** The layer's name, or null until it is named by the user or by the first model that holds it. */
    public String name() {
        return name;
    }

    /** Names the layer (names are unique within a model; Keras' rules: letters, digits, '_', '-', '.', '/'). */
    public Layer name(String name) {
        if (name == null || !name.matches("[A-Za-z0-9_.\\-/]{1,200}")) {
            throw new IllegalArgumentException(className() + ": expected a name of 1 to 200 letters, digits, '_', '-', "
                    + "'.' or '/', received '" + name + "'");
        }
        if (this.name != null && !this.name.equals(name) && !nodes.isEmpty()) {
            throw new IllegalStateException(className() + " '" + this.name + "': can't be renamed once it is in a model");
        }
        this.name = name;
        return this;
    }

    /** For the engine: names an unnamed layer when a model first takes it. */
    public final void nameIfUnnamed(String name) {
        if (this.name == null) {
            this.name = name;
        }
    }

    /** Whether fit updates this layer's weights (default true). */
    public boolean trainable() {
        return trainable;
    }

    /** Whether fit updates this layer's weights (a frozen BatchNormalization also normalizes as in inference). */
    public Layer trainable(boolean trainable) {
        this.trainable = trainable;
        return this;
    }

    /** Declares the model's input shape on a Sequential's first layer, like Keras' input_shape=(28, 28, 1). */
    public Layer inputShape(int... dims) {
        declaredInputShape = Shape.of(dims);
        return this;
    }

    /** The input shape declared by {@link #inputShape(int...)}, if any. */
    public Optional<Shape> declaredInputShape() {
        return Optional.ofNullable(declaredInputShape);
    }

    // ---- the functional API -------------------------------------------------------------------------------

    /**
     * Calls this layer on symbolic tensors, as Keras' {@code layer(x)}: checks the shapes, records the call, and returns
     * the output's symbolic tensor. A second call shares the first call's weights, so it must see the same input shapes.
     */
    public final SymbolicTensor apply(SymbolicTensor... inputs) {
        if (inputs == null || inputs.length == 0) {
            throw new IllegalArgumentException(describe() + ": expected at least one input tensor, received none");
        }
        for (int i = 0; i < inputs.length; i++) {
            if (inputs[i] == null) {
                throw new IllegalArgumentException(describe() + ": expected an input tensor, received null as input "
                        + (i + 1));
            }
        }
        List<SymbolicTensor> in = List.of(inputs);
        List<Shape> shapes = in.stream().map(SymbolicTensor::shape).toList();
        Shape output;
        try {
            output = outputShape(shapes);
        } catch (IllegalArgumentException e) {
            String reason = e.getMessage().startsWith(className() + ": ")
                    ? e.getMessage().substring(className().length() + 2) : e.getMessage();
            throw new IllegalArgumentException(describe() + " applied to " + SymbolicTensor.describeAll(in) + ": "
                    + reason, e);
        }
        if (firstInputShapes == null) {
            firstInputShapes = shapes;
        } else if (!sameParameters(parameters(firstInputShapes), parameters(shapes))) {
            throw new IllegalArgumentException(describe() + ": applied again to " + SymbolicTensor.describeAll(in)
                    + ", but its weights were made for inputs " + firstInputShapes + " by its first call (a layer "
                    + "applied twice shares its weights, so it must see inputs its weights fit)");
        }
        Node node = new Node(this, in, nodes.size());
        SymbolicTensor out = new SymbolicTensor(output, node);
        node.setOutput(out);
        nodes.add(node);
        return out;
    }

    /**
     * Takes back this layer's latest call (a Sequential whose chain failed part-way undoes the calls it made, so the
     * layers can be built again for another shape). A layer left without calls forgets the shapes of its weights.
     */
    final void undoLastCall(Node node) {
        if (nodes.isEmpty() || nodes.get(nodes.size() - 1) != node) {
            throw new IllegalStateException(describe() + ": can only undo its latest call");
        }
        nodes.remove(nodes.size() - 1);
        if (nodes.isEmpty()) {
            firstInputShapes = null;
        }
    }

    /** The same as {@link #apply}; reads well for merge layers: {@code new Add().apply(a, b)}. */
    public final SymbolicTensor call(SymbolicTensor... inputs) {
        return apply(inputs);
    }

    private static boolean sameParameters(List<ParamSpec> a, List<ParamSpec> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (!Arrays.equals(a.get(i).shape(), b.get(i).shape())) {
                return false;
            }
        }
        return true;
    }

    /** This layer's calls so far, in order. */
    public List<Node> nodes() {
        return Collections.unmodifiableList(nodes);
    }

    /** The input shapes the weights were made for (those of the first call), or null before the first call. */
    public List<Shape> weightInputShapes() {
        return firstInputShapes;
    }

    /** The output of this layer's only call, as Keras' layer.output (to build a new model on it). */
    public SymbolicTensor output() {
        if (nodes.size() != 1) {
            throw new IllegalStateException(describe() + ": output is defined for a layer called exactly once, but it "
                    + "was called " + nodes.size() + " times (use nodes().get(i).output())");
        }
        return nodes.get(0).output();
    }

    /** "Conv2D 'conv2d_1'", or "Conv2D" while unnamed: for messages. */
    public String describe() {
        return name == null ? className() : className() + " '" + name + "'";
    }

    // ---- helpers for layer authors -----------------------------------------------------------------------

    /** The only input shape, or a clear error for a layer called with several. */
    protected final Shape single(List<Shape> inputs) {
        if (inputs.size() != 1) {
            throw new IllegalArgumentException(className() + ": expected one input, received " + inputs.size());
        }
        return inputs.get(0);
    }

    /** The only input shape, which must be (height, width, channels). */
    protected final Shape image(List<Shape> inputs) {
        Shape input = single(inputs);
        if (input.rank() != 3) {
            throw new IllegalArgumentException(className() + ": expected an input of shape (height, width, channels), "
                    + "received " + input);
        }
        return input;
    }

    protected static int positive(String layer, String what, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(layer + ": expected " + what + " > 0, received " + what + "=" + value);
        }
        return value;
    }

    @Override
    public String toString() {
        return className() + getConfig();
    }
}
