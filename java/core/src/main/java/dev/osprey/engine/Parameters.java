package dev.osprey.engine;

import dev.osprey.Layer;
import dev.osprey.NDArray;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A model's weights on one backend, in two contiguous arenas: the trainable parameters (with a gradient arena beside
 * them, so an optimizer step is one call over each), and the state that training updates without gradients
 * (BatchNormalization's moving statistics, frozen layers' weights). Owns its memory. Every change of the weights bumps
 * {@link #version()}, so plans that derive tensors from weights (folded inference kernels) know to refresh them.
 */
public final class Parameters implements AutoCloseable {
    private static final int ALIGN_FLOATS = 16; // 64 bytes: every parameter starts on a cache line

    /** One weight: its spec, the layer that owns it, its tensor, and its gradient (null when not trained). */
    public record Slot(Layer layer, ParamSpec spec, Tensor value, Tensor gradient) {
        /** "conv2d/kernel": the weight's name in model files. */
        public String path() {
            return layer.name() + "/" + spec.name();
        }
    }

    private final Backend backend;
    private final Memory memory;
    private final List<Slot> slots = new ArrayList<>();
    /** Per slot (same order), where it starts in its arena. */
    private final List<Long> arenaOffsets = new ArrayList<>();
    private final Map<Layer, List<Slot>> byLayer = new IdentityHashMap<>();
    private final Tensor trainable;    // (arena floats)
    private final Tensor gradients;    // (arena floats)
    private final Tensor state;        // (state arena floats)
    private final long trainableCount;
    private final long stateCount;
    private long version;

    /**
     * Allocates every weight of the graph's layers on backend (left uninitialized: see {@link #initialize}); a weight
     * goes to the trainable arena when both it and its layer are trainable, else to the state arena. Throws
     * IllegalArgumentException when an arena would hold more than Integer.MAX_VALUE floats.
     */
    public Parameters(Graph graph, Backend backend) {
        this.backend = backend;
        long trainableFloats = 0;
        long stateFloats = 0;
        long trainableValues = 0;
        long stateValues = 0;
        List<long[]> offsets = new ArrayList<>(); // {arena 0|1, offset}
        List<ParamSpec> specs = new ArrayList<>();
        List<Layer> owners = new ArrayList<>();
        for (Layer layer : graph.layers()) {
            for (ParamSpec p : layer.parameters(layer.weightInputShapes())) {
                boolean trained = p.trainable() && layer.trainable();
                long aligned = (p.size() + ALIGN_FLOATS - 1L) / ALIGN_FLOATS * ALIGN_FLOATS;
                if (trained) {
                    offsets.add(new long[] {0, trainableFloats});
                    trainableFloats += aligned;
                    trainableValues += p.size();
                } else {
                    offsets.add(new long[] {1, stateFloats});
                    stateFloats += aligned;
                    stateValues += p.size();
                }
                specs.add(p);
                owners.add(layer);
            }
        }
        if (Math.max(trainableFloats, stateFloats) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Model: expected at most " + Integer.MAX_VALUE + " parameters per "
                    + "arena, received " + Math.max(trainableFloats, stateFloats));
        }
        this.trainableCount = trainableValues;
        this.stateCount = stateValues;
        this.memory = backend.newMemory();
        try {
            trainable = memory.allocate((int) Math.max(trainableFloats, 1));
            gradients = memory.allocate((int) Math.max(trainableFloats, 1));
            state = memory.allocate((int) Math.max(stateFloats, 1));
            for (int i = 0; i < specs.size(); i++) {
                ParamSpec p = specs.get(i);
                long[] at = offsets.get(i);
                boolean trained = at[0] == 0;
                Tensor value = backend.view(trained ? trainable : state, at[1], p.shape());
                Tensor gradient = trained ? backend.view(gradients, at[1], p.shape()) : null;
                Slot slot = new Slot(owners.get(i), p, value, gradient);
                slots.add(slot);
                arenaOffsets.add(at[1]);
                byLayer.computeIfAbsent(owners.get(i), k -> new ArrayList<>()).add(slot);
            }
        } catch (RuntimeException e) {
            memory.close();
            throw e;
        }
    }

    /** The paths ("conv2d/kernel") of a graph's weights, in {@link #slots()} order, without allocating any. */
    public static List<String> paths(Graph graph) {
        List<String> out = new ArrayList<>();
        for (Layer layer : graph.layers()) {
            for (ParamSpec p : layer.parameters(layer.weightInputShapes())) {
                out.add(layer.name() + "/" + p.name());
            }
        }
        return out;
    }

    /** Every weight, in Keras' order: layer by layer in the order of first call, each layer's in its own order. */
    public List<Slot> slots() {
        return Collections.unmodifiableList(slots);
    }

    /** A layer's weights, in its order (empty for a layer without any). */
    public List<Slot> of(Layer layer) {
        return byLayer.getOrDefault(layer, List.of());
    }

    /**
     * The first layer whose trainable flag no longer matches how these weights were laid out (a layer frozen or
     * unfrozen since), or null. As in Keras, such a change takes effect at the next compile.
     */
    public Layer trainabilityChanged() {
        for (Map.Entry<Layer, List<Slot>> e : byLayer.entrySet()) {
            boolean canTrain = e.getValue().stream().anyMatch(s -> s.spec().trainable());
            boolean trainedHere = e.getValue().stream().anyMatch(s -> s.gradient() != null);
            if (canTrain && trainedHere != e.getKey().trainable()) {
                return e.getKey();
            }
        }
        return null;
    }

    /**
     * A mask over the trainable arena for weight decay, allocated from memory: 1 at the floats of each trainable weight
     * whose path ("dense/kernel") {@code decays} accepts, 0 elsewhere; null when every trainable weight decays (no mask
     * is needed then).
     */
    public Tensor decayMask(Memory memory, java.util.function.Predicate<String> decays) {
        float[] mask = new float[(int) trainable.size()];
        boolean excluded = false;
        for (int i = 0; i < slots.size(); i++) {
            Slot s = slots.get(i);
            if (s.gradient() == null) {
                continue;
            }
            if (decays.test(s.path())) {
                int start = Math.toIntExact(arenaOffsets.get(i));
                java.util.Arrays.fill(mask, start, start + s.spec().size(), 1f);
            } else {
                excluded = true;
            }
        }
        if (!excluded) {
            return null;
        }
        Tensor t = memory.allocate(mask.length);
        backend.copyIn(mask, 0, t);
        return t;
    }

    /** The trainable arena and its gradients: what an optimizer binds to. */
    public Tensor trainableArena() {
        return trainable;
    }

    /**
     * The gradients of {@link #trainableArena()}, laid out as it is: each trainable weight's gradient at its weight's
     * offset.
     */
    public Tensor gradientArena() {
        return gradients;
    }

    /** Where slot's values start in its arena (the trainable one when it has a gradient, else the state one). */
    public long arenaOffset(Slot slot) {
        int i = slots.indexOf(slot);
        if (i < 0) {
            throw new IllegalArgumentException("arenaOffset: " + slot.path() + " is not a weight of these parameters");
        }
        return arenaOffsets.get(i);
    }

    /** The weights without gradients (BatchNorm's moving statistics) and frozen layers' weights, in one tensor. */
    public Tensor stateArena() {
        return state;
    }

    /** Values in trainable weights (alignment padding not counted). */
    public long trainableCount() {
        return trainableCount;
    }

    /** Values in the state arena: weights without gradients and frozen layers' weights. */
    public long nonTrainableCount() {
        return stateCount;
    }

    /** Values in all weights, trainable and not. */
    public long count() {
        return trainableCount + stateCount;
    }

    /** Changes whenever the weights do. */
    public long version() {
        return version;
    }

    /** Marks the weights changed (an optimizer step, a BatchNorm statistics update in training). */
    public void changed() {
        version++;
    }

    /** Every weight from its initializer, drawn in order from one stream: the same seed gives the same weights. */
    public void initialize(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (Slot s : slots) {
            float[] values = new float[s.spec().size()];
            s.spec().initializer().fill(values, s.spec().shape(), random);
            backend.copyIn(values, 0, s.value());
        }
        changed();
    }

    /** Every weight, in {@link #slots()} order. */
    public List<NDArray> get() {
        List<NDArray> out = new ArrayList<>();
        for (Slot s : slots) {
            out.add(read(s));
        }
        return out;
    }

    /** A copy of one weight's values, read from the backend. */
    public NDArray read(Slot s) {
        float[] values = new float[s.spec().size()];
        backend.copyOut(s.value(), values, 0);
        return new NDArray(values, s.spec().shape());
    }

    /**
     * Replaces every weight's values, given in {@link #slots()} order, and bumps {@link #version()}. Nothing is written
     * unless every shape matches: a wrong count of arrays or a wrong shape throws IllegalArgumentException.
     */
    public void set(List<NDArray> weights) {
        if (weights.size() != slots.size()) {
            throw new IllegalArgumentException("setWeights: expected " + slots.size() + " arrays, received "
                    + weights.size());
        }
        for (int i = 0; i < slots.size(); i++) {
            Slot s = slots.get(i);
            NDArray w = weights.get(i);
            if (!Arrays.equals(w.shape(), s.spec().shape())) {
                throw new IllegalArgumentException("setWeights: expected " + s.path() + " of shape "
                        + Tensor.describe(s.spec().shape()) + ", received " + w.shapeString());
            }
        }
        for (int i = 0; i < slots.size(); i++) {
            backend.copyIn(weights.get(i).data(), 0, slots.get(i).value());
        }
        changed();
    }

    /** {trainable, non-trainable} values of a graph's weights, counted without allocating them. */
    public static long[] count(Graph graph) {
        long trainable = 0;
        long state = 0;
        for (Layer layer : graph.layers()) {
            for (ParamSpec p : layer.parameters(layer.weightInputShapes())) {
                if (p.trainable() && layer.trainable()) {
                    trainable = saturatingAdd(trainable, p.elements());
                } else {
                    state = saturatingAdd(state, p.elements());
                }
            }
        }
        return new long[] {trainable, state};
    }

    private static long saturatingAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    @Override
    public void close() {
        memory.close();
    }
}
