package dev.osprey.io;

import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.Sequential;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.engine.Node;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model's graph in Keras' functional form: "layers" (input layers first) each with its class name, name, config and
 * inbound calls ([[producer, call, 0], ...] per call), then "input_layers" and "output_layers". Reading makes every
 * layer through {@link LayerRegistry} and replays the calls in an order where each call's inputs exist, so a file that
 * names a layer that isn't there, or whose calls form a cycle, is refused with the names involved.
 */
final class GraphConfig {
    private GraphConfig() {
    }

    static Map<String, Object> write(Model model) {
        List<Input> inputs = model.inputs();
        List<Layer> layers = model.layers();
        Set<Node> inGraph = new HashSet<>();
        Map<Node, Integer> localCall = new HashMap<>();
        collectNodes(model, inGraph);
        List<Object> entries = new ArrayList<>();
        for (Input in : inputs) {
            Map<String, Object> config = new LinkedHashMap<>();
            List<Object> batchShape = new ArrayList<>();
            batchShape.add(null);
            batchShape.addAll(ModelFile.toList(in.shape().dims()));
            config.put("batch_shape", batchShape);
            config.put("name", in.name());
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("class_name", "InputLayer");
            entry.put("name", in.name());
            entry.put("config", config);
            entry.put("inbound_nodes", List.of());
            entries.add(entry);
        }
        for (Layer layer : layers) {
            int k = 0;
            for (Node n : layer.nodes()) {
                if (inGraph.contains(n)) {
                    localCall.put(n, k++);
                }
            }
        }
        for (Layer layer : layers) {
            List<Object> calls = new ArrayList<>();
            for (Node n : layer.nodes()) {
                if (!inGraph.contains(n)) {
                    continue;
                }
                List<Object> refs = new ArrayList<>();
                for (SymbolicTensor t : n.inputs()) {
                    refs.add(reference(t, localCall));
                }
                calls.add(refs);
            }
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("class_name", layer.className());
            entry.put("name", layer.name());
            entry.put("config", layer.getConfig());
            entry.put("inbound_nodes", calls);
            entries.add(entry);
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("name", model instanceof Sequential ? "sequential" : "model");
        config.put("layers", entries);
        config.put("input_layers", inputs.stream().map(in -> (Object) List.of(in.name(), 0, 0)).toList());
        config.put("output_layers", model.outputs().stream().map(t -> reference(t, localCall)).toList());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("class_name", model.className());
        out.put("config", config);
        return out;
    }

    private static void collectNodes(Model model, Set<Node> into) {
        List<SymbolicTensor> pending = new ArrayList<>(model.outputs());
        while (!pending.isEmpty()) {
            SymbolicTensor t = pending.remove(pending.size() - 1);
            if (t.node() != null && into.add(t.node())) {
                pending.addAll(t.node().inputs());
            }
        }
    }

    private static Object reference(SymbolicTensor t, Map<Node, Integer> localCall) {
        if (t.node() == null) {
            return List.of(((Input) t).name(), 0, 0);
        }
        return List.of(t.layer().name(), localCall.get(t.node()), 0);
    }

    /** The model the config describes: a Sequential when it says so (and is a chain), else a functional Model. */
    static Model read(Map<String, Object> doc) {
        String className = (String) doc.get("class_name");
        if (!"Functional".equals(className) && !"Sequential".equals(className)) {
            throw new IllegalArgumentException("expected model class_name 'Functional' or 'Sequential', received '"
                    + className + "'");
        }
        Map<String, Object> config = ModelFile.asMap(doc.get("config"), "model config");
        List<?> entries = (List<?>) config.get("layers");
        if (entries == null) {
            throw new IllegalArgumentException("expected the model config to list its layers, found none");
        }
        Map<String, Input> inputs = new LinkedHashMap<>();
        Map<String, Layer> layers = new LinkedHashMap<>();
        Map<String, List<?>> calls = new LinkedHashMap<>();
        for (Object o : entries) {
            Map<String, Object> entry = ModelFile.asMap(o, "layer");
            String name = (String) entry.get("name");
            String layerClass = (String) entry.get("class_name");
            if (name == null || inputs.containsKey(name) || layers.containsKey(name)) {
                throw new IllegalArgumentException("expected a unique name for every layer, received "
                        + (name == null ? "a " + layerClass + " without one" : "'" + name + "' twice"));
            }
            Map<String, Object> layerConfig = ModelFile.asMap(entry.get("config"), "config of layer '" + name + "'");
            if ("InputLayer".equals(layerClass)) {
                int[] batchShape = ModelFile.ints(dropNull((List<?>) layerConfig.get("batch_shape"), name));
                inputs.put(name, Input.shape(Shape.of(batchShape)).name(name));
                continue;
            }
            Layer layer;
            try {
                layer = LayerRegistry.fromConfig(layerClass, layerConfig);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("layer '" + name + "': " + e.getMessage(), e);
            }
            layer.name(name);
            layers.put(name, layer);
            calls.put(name, (List<?>) entry.get("inbound_nodes"));
        }
        if ("Sequential".equals(className)) {
            return sequential(inputs, layers, calls);
        }
        Map<String, List<SymbolicTensor>> outputs = replay(inputs, layers, calls);
        List<Input> modelInputs = new ArrayList<>();
        for (Object ref : (List<?>) config.get("input_layers")) {
            String name = (String) ((List<?>) ref).get(0);
            Input in = inputs.get(name);
            if (in == null) {
                throw new IllegalArgumentException("input_layers names '" + name + "', which is not an InputLayer");
            }
            modelInputs.add(in);
        }
        List<SymbolicTensor> modelOutputs = new ArrayList<>();
        for (Object ref : (List<?>) config.get("output_layers")) {
            modelOutputs.add(resolve((List<?>) ref, inputs, outputs, "output_layers"));
        }
        return new Model(modelInputs, modelOutputs);
    }

    private static List<?> dropNull(List<?> batchShape, String name) {
        if (batchShape == null || batchShape.size() < 2) {
            throw new IllegalArgumentException("InputLayer '" + name + "': expected batch_shape [null, dims...], "
                    + "received " + batchShape);
        }
        return batchShape.subList(1, batchShape.size());
    }

    /**
     * Applies every layer's calls in an order where their inputs exist (a layer's calls in their own order): returns
     * each layer's outputs by call. A layer whose next call reads a tensor not made yet waits on that tensor's layer
     * and is taken up again when that layer makes a call, so the work grows with the calls, not with their square
     * (a file listing a long chain backwards costs one pass).
     */
    private static Map<String, List<SymbolicTensor>> replay(Map<String, Input> inputs, Map<String, Layer> layers,
                                                           Map<String, List<?>> calls) {
        Map<String, List<SymbolicTensor>> outputs = new HashMap<>();
        Map<String, Integer> next = new HashMap<>();
        int total = 0;
        for (Map.Entry<String, List<?>> e : calls.entrySet()) {
            outputs.put(e.getKey(), new ArrayList<>());
            next.put(e.getKey(), 0);
            total += e.getValue() == null ? 0 : e.getValue().size();
        }
        Map<String, List<String>> waiting = new HashMap<>(); // by the layer whose next call they wait for
        java.util.ArrayDeque<String> work = new java.util.ArrayDeque<>(calls.keySet()); // in the file's order first
        String[] missing = new String[1];
        int done = 0;
        while (!work.isEmpty()) {
            String name = work.poll();
            List<?> layerCalls = calls.get(name);
            while (layerCalls != null && next.get(name) < layerCalls.size()) {
                List<SymbolicTensor> args = ready((List<?>) layerCalls.get(next.get(name)), inputs, outputs, missing);
                if (args == null) {
                    waiting.computeIfAbsent(missing[0], k -> new ArrayList<>()).add(name);
                    break;
                }
                outputs.get(name).add(layers.get(name).apply(args.toArray(SymbolicTensor[]::new)));
                next.put(name, next.get(name) + 1);
                done++;
                List<String> woken = waiting.remove(name);
                if (woken != null) {
                    work.addAll(woken);
                }
            }
        }
        if (done < total) {
            List<String> stuck = calls.keySet().stream()
                    .filter(n -> calls.get(n) != null && next.get(n) < calls.get(n).size()).toList();
            throw new IllegalArgumentException("the layers " + stuck + " read tensors that no layer makes before "
                    + "them (a missing layer, or a cycle)");
        }
        return outputs;
    }

    /** The call's input tensors, or null when one isn't made yet (its layer's name then in missing[0]). */
    private static List<SymbolicTensor> ready(List<?> refs, Map<String, Input> inputs,
                                              Map<String, List<SymbolicTensor>> outputs, String[] missing) {
        List<SymbolicTensor> args = new ArrayList<>();
        for (Object r : refs) {
            if (!(r instanceof List<?> ref) || ref.size() < 2 || !(ref.get(0) instanceof String)
                    || !(ref.get(1) instanceof Number)) {
                throw new IllegalArgumentException("expected an input reference [layer name, call index, tensor "
                        + "index], received " + r);
            }
            String producer = (String) ref.get(0);
            if (!inputs.containsKey(producer) && !outputs.containsKey(producer)) {
                throw new IllegalArgumentException("a layer reads '" + producer + "', which the file doesn't define");
            }
            int call = ((Number) ref.get(1)).intValue();
            if (call < 0) {
                throw new IllegalArgumentException("expected a call index >= 0 in " + ref + ", received " + call);
            }
            if (inputs.containsKey(producer)) {
                args.add(inputs.get(producer));
            } else if (call < outputs.get(producer).size()) {
                args.add(outputs.get(producer).get(call));
            } else {
                missing[0] = producer;
                return null;
            }
        }
        return args;
    }

    private static SymbolicTensor resolve(List<?> ref, Map<String, Input> inputs, Map<String, List<SymbolicTensor>> made,
                                          String where) {
        String name = (String) ref.get(0);
        int call = ((Number) ref.get(1)).intValue();
        if (inputs.containsKey(name)) {
            return inputs.get(name);
        }
        List<SymbolicTensor> outs = made.get(name);
        if (outs == null || call < 0 || call >= outs.size()) {
            throw new IllegalArgumentException(where + " names '" + name + "' call " + call + ", which the file "
                    + "doesn't define");
        }
        return outs.get(call);
    }

    /** A Sequential: one input, each layer called once on the one before. */
    private static Model sequential(Map<String, Input> inputs, Map<String, Layer> layers, Map<String, List<?>> calls) {
        if (inputs.size() != 1) {
            throw new IllegalArgumentException("a Sequential model has one InputLayer, received " + inputs.size());
        }
        Input input = inputs.values().iterator().next();
        String previous = input.name();
        Sequential model = new Sequential();
        for (Map.Entry<String, Layer> e : layers.entrySet()) {
            List<?> layerCalls = calls.get(e.getKey());
            if (layerCalls == null || layerCalls.size() != 1 || ((List<?>) layerCalls.get(0)).size() != 1
                    || !previous.equals(((List<?>) ((List<?>) layerCalls.get(0)).get(0)).get(0))) {
                throw new IllegalArgumentException("Sequential layer '" + e.getKey() + "': expected one call on '"
                        + previous + "', received " + layerCalls);
            }
            model.add(e.getValue());
            previous = e.getKey();
        }
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("a Sequential model has at least one layer, received none");
        }
        layers.values().iterator().next().inputShape(input.shape().dims()); // built later, on the chosen device
        return model;
    }
}
