package dev.osprey.engine.parallel;

import dev.osprey.Layer;
import dev.osprey.engine.Graph;
import dev.osprey.engine.Node;
import dev.osprey.engine.Parameters;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The gradient arena cut into contiguous buckets of at least {@code bucketFloats} values, as PyTorch's DDP cuts its
 * gradients: the last layers' weights first, since backward finishes them first. A bucket can be summed across the
 * replicas as soon as every layer with a weight in it has run backward, while the rest of backward still runs. Every
 * replica launches the buckets in the same order (bucket 0 first), so their collectives always pair up.
 */
final class GradientBuckets {
    /** Arena values [start, end) and the layers whose gradients lie there; atEnd: wait for the whole backward pass. */
    record Bucket(long start, long end, Set<Layer> layers, boolean atEnd) {
        int size() {
            return Math.toIntExact(end - start);
        }
    }

    private final List<Bucket> buckets = new ArrayList<>();
    private final Map<Layer, int[]> bucketsOfLayer = new HashMap<>();
    private final List<Node> nodes;

    GradientBuckets(Graph graph, Parameters parameters, long bucketFloats) {
        this.nodes = graph.nodes();
        Map<Layer, Integer> calls = new HashMap<>();
        for (Node n : nodes) {
            calls.merge(n.layer(), 1, Integer::sum);
        }
        List<Parameters.Slot> trained = new ArrayList<>();
        for (Parameters.Slot s : parameters.slots()) {
            if (s.gradient() != null) {
                trained.add(s);
            }
        }
        trained.sort(Comparator.comparingLong(parameters::arenaOffset));
        long arenaEnd = parameters.gradientArena().size();
        long end = arenaEnd;
        long start = arenaEnd;
        Set<Layer> layers = new LinkedHashSet<>();
        for (int i = trained.size() - 1; i >= 0; i--) {
            Parameters.Slot s = trained.get(i);
            start = parameters.arenaOffset(s);
            layers.add(s.layer());
            if (end - start >= bucketFloats || i == 0) {
                if (i == 0) {
                    start = 0;
                }
                add(start, end, layers, calls);
                end = start;
                layers = new LinkedHashSet<>();
            }
        }
        if (trained.isEmpty() && arenaEnd > 0) {
            add(0, arenaEnd, Set.of(), calls);
        }
    }

    private void add(long start, long end, Set<Layer> layers, Map<Layer, Integer> calls) {
        boolean atEnd = layers.stream().anyMatch(l -> calls.getOrDefault(l, 0) != 1);
        int index = buckets.size();
        buckets.add(new Bucket(start, end, Set.copyOf(layers), atEnd));
        for (Layer l : layers) {
            int[] had = bucketsOfLayer.getOrDefault(l, new int[0]);
            int[] now = java.util.Arrays.copyOf(had, had.length + 1);
            now[had.length] = index;
            bucketsOfLayer.put(l, now);
        }
    }

    List<Bucket> buckets() {
        return buckets;
    }

    /** One backward pass's progress: which buckets are ready, and which were launched. */
    final class Progress {
        private final int[] pending = new int[buckets.size()];
        private final Set<Layer> done = new HashSet<>();
        private int launched;

        Progress() {
            for (int b = 0; b < buckets.size(); b++) {
                pending[b] = buckets.get(b).layers().size();
            }
        }

        /** Marks node's backward as run; returns the indices of the buckets that may now be launched, in order. */
        List<Integer> afterCall(int node) {
            Layer layer = nodes.get(node).layer();
            int[] in = bucketsOfLayer.get(layer);
            if (in != null && done.add(layer)) {
                for (int b : in) {
                    pending[b]--;
                }
            }
            List<Integer> ready = new ArrayList<>();
            while (launched < buckets.size() && pending[launched] == 0 && !buckets.get(launched).atEnd()) {
                ready.add(launched++);
            }
            return ready;
        }

        /** The backward pass is over: every bucket not launched yet, in order. */
        List<Integer> rest() {
            List<Integer> ready = new ArrayList<>();
            while (launched < buckets.size()) {
                ready.add(launched++);
            }
            return ready;
        }
    }
}
