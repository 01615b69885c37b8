package dev.osprey.engine;

import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A model's layer calls in the order they run, walked back from its outputs once (Keras' functional model): every
 * tensor the outputs depend on must come from the declared inputs, and every input must reach an output. Names unnamed
 * layers (conv2d, conv2d_1, ...) and inputs (input_1, ...) and checks that names are unique. Immutable.
 */
public final class Graph {
    private final List<Input> inputs;
    private final List<SymbolicTensor> outputs;
    private final List<Node> nodes;
    private final List<Layer> layers;
    private final Map<SymbolicTensor, List<Node>> consumers;

    /**
     * Orders the calls that compute outputs from inputs, and names the unnamed layers and inputs. Throws
     * IllegalArgumentException when there is no input or output, an input is repeated or reaches no output, an output
     * is null, the outputs depend on a tensor that is not one of the inputs, the graph has a cycle, or two layers or
     * inputs share a name.
     */
    public Graph(List<Input> inputs, List<SymbolicTensor> outputs) {
        if (inputs == null || inputs.isEmpty() || outputs == null || outputs.isEmpty()) {
            throw new IllegalArgumentException("Model: expected at least one input and one output, received "
                    + (inputs == null ? 0 : inputs.size()) + " inputs and " + (outputs == null ? 0 : outputs.size())
                    + " outputs");
        }
        Set<SymbolicTensor> declared = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Input in : inputs) {
            if (in == null || !declared.add(in)) {
                throw new IllegalArgumentException("Model: expected distinct inputs, received "
                        + (in == null ? "null" : "the input " + in.describe() + " twice"));
            }
        }
        for (SymbolicTensor out : outputs) {
            if (out == null) {
                throw new IllegalArgumentException("Model: expected output tensors, received null");
            }
        }
        this.inputs = List.copyOf(inputs);
        this.outputs = List.copyOf(outputs);
        this.nodes = List.copyOf(order(outputs, declared));
        Set<Layer> distinct = new LinkedHashSet<>();
        Map<SymbolicTensor, List<Node>> users = new IdentityHashMap<>();
        for (Node n : nodes) {
            distinct.add(n.layer());
            for (SymbolicTensor t : n.inputs()) {
                users.computeIfAbsent(t, k -> new ArrayList<>()).add(n);
            }
        }
        this.layers = List.copyOf(distinct);
        this.consumers = users;
        checkEveryInputIsUsed();
        nameLayersAndInputs();
    }

    /**
     * Topological order by an iterative depth-first walk from the outputs (deep models don't exhaust the stack): a node
     * comes after every node that computes one of its inputs.
     */
    private static List<Node> order(List<SymbolicTensor> outputs, Set<SymbolicTensor> declared) {
        List<Node> ordered = new ArrayList<>();
        Map<Node, Boolean> state = new IdentityHashMap<>(); // false: on the walk's path; true: done
        Deque<Object[]> stack = new ArrayDeque<>();          // {node, index of the next input to visit}
        for (SymbolicTensor out : outputs) {
            if (out.node() == null) {
                requireDeclared(out, declared);
                continue;
            }
            if (state.containsKey(out.node())) {
                continue; // an earlier output's walk reached it: an output that another output's layers read
            }
            push(out.node(), stack, state);
            while (!stack.isEmpty()) {
                Object[] top = stack.peek();
                Node node = (Node) top[0];
                int next = (Integer) top[1];
                if (next < node.inputs().size()) {
                    top[1] = next + 1;
                    SymbolicTensor in = node.inputs().get(next);
                    if (in.node() == null) {
                        requireDeclared(in, declared);
                    } else if (!state.containsKey(in.node())) {
                        push(in.node(), stack, state);
                    } else if (!state.get(in.node())) {
                        throw new IllegalArgumentException("Model: the graph has a cycle through "
                                + in.node().layer().describe());
                    }
                } else {
                    stack.pop();
                    state.put(node, true);
                    ordered.add(node);
                }
            }
        }
        return ordered;
    }

    private static void push(Node node, Deque<Object[]> stack, Map<Node, Boolean> state) {
        state.put(node, false);
        stack.push(new Object[] {node, 0});
    }

    private static void requireDeclared(SymbolicTensor t, Set<SymbolicTensor> declared) {
        if (!declared.contains(t)) {
            throw new IllegalArgumentException("Model: the outputs depend on " + t.describe() + ", which is not one of "
                    + "the model's inputs (pass every Input the outputs are computed from)");
        }
    }

    private void checkEveryInputIsUsed() {
        for (Input in : inputs) {
            if (!consumers.containsKey(in) && !outputs.contains(in)) {
                throw new IllegalArgumentException("Model: the input " + in.describe() + " is not connected to any "
                        + "output");
            }
        }
    }

    private void nameLayersAndInputs() {
        Set<String> taken = new HashSet<>();
        Map<String, Layer> owners = new HashMap<>();
        for (Layer l : layers) {
            if (l.name() != null) {
                Layer other = owners.put(l.name(), l);
                if (other != null) {
                    throw new IllegalArgumentException("Model: expected unique layer names, received two layers named '"
                            + l.name() + "' (" + other.className() + " and " + l.className() + ")");
                }
                taken.add(l.name());
            }
        }
        for (Input in : inputs) {
            if (in.name() != null && !taken.add(in.name())) {
                throw new IllegalArgumentException("Model: expected unique names, received the input name '"
                        + in.name() + "' twice or also on a layer");
            }
        }
        Map<String, Integer> counters = new HashMap<>();
        for (Input in : inputs) {
            in.nameIfUnnamed(fresh("input", taken, counters, 1));
        }
        for (Layer l : layers) {
            l.nameIfUnnamed(fresh(snake(l.className()), taken, counters, 0));
        }
    }

    /** base, base_1, base_2, ... (input_1, input_2, ... for inputs): the first one not taken. */
    private static String fresh(String base, Set<String> taken, Map<String, Integer> counters, int first) {
        int k = counters.getOrDefault(base, first);
        String name;
        do {
            name = k == 0 ? base : base + "_" + k;
            k++;
        } while (taken.contains(name));
        counters.put(base, k);
        taken.add(name);
        return name;
    }

    /** "MaxPooling2D" -> "max_pooling2d", "Conv2D" -> "conv2d", "ReLU" -> "re_lu" (Keras' own rule). */
    public static String snake(String className) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < className.length(); i++) {
            char c = className.charAt(i);
            if (Character.isUpperCase(c) && i > 0 && Character.isLowerCase(className.charAt(i - 1))) {
                s.append('_');
            }
            s.append(Character.toLowerCase(c));
        }
        return s.toString().toLowerCase(Locale.ROOT);
    }

    /** The model's inputs, in the order given (unmodifiable). */
    public List<Input> inputs() {
        return inputs;
    }

    /** The model's outputs, in the order given (unmodifiable). */
    public List<SymbolicTensor> outputs() {
        return outputs;
    }

    /** Layer calls in the order they run. */
    public List<Node> nodes() {
        return nodes;
    }

    /** Distinct layers, in the order of their first call. */
    public List<Layer> layers() {
        return layers;
    }

    /** The calls that read this tensor, in run order (empty for none). */
    public List<Node> consumers(SymbolicTensor t) {
        return consumers.getOrDefault(t, List.of());
    }

    /** Floating-point operations of one sample's forward pass, every call's {@link Layer#forwardFlops} together. */
    public double forwardFlopsPerSample() {
        double flops = 0;
        for (Node node : nodes) {
            flops += node.layer().forwardFlops(node.inputs().stream().map(SymbolicTensor::shape).toList());
        }
        return flops;
    }

    /** Input i's shape of one sample (without the batch axis). */
    public Shape inputShape(int i) {
        return inputs.get(i).shape();
    }

    /**
     * Values of one sample's inputs side by side, in the inputs' order: the row of training and evaluation data (see
     * {@link ExecutionPlan#packedInput}); for a model of one input, its input's size.
     */
    public int packedRowSize() {
        long size = 0;
        for (Input in : inputs) {
            size += in.shape().size();
        }
        return Math.toIntExact(size);
    }

    /** The layer of this name, or null. */
    public Layer layer(String name) {
        for (Layer l : layers) {
            if (name.equals(l.name())) {
                return l;
            }
        }
        return null;
    }
}
