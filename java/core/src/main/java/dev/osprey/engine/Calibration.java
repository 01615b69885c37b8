package dev.osprey.engine;

import dev.osprey.NDArray;
import dev.osprey.backend.Backend;
import dev.osprey.backend.InputRange;
import dev.osprey.backend.Tensor;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Post-training calibration for int8 inference: runs fp32 inference over calibration samples and records, for every
 * convolution and dense layer, the smallest and largest value its input took (a layer called twice: over both
 * inputs). int8 plans map each input onto 8 bits by its range ({@link InputRange}).
 */
public final class Calibration {
    private Calibration() {
    }

    /** The input range of every layer with a linear op (Conv2D, DepthwiseConv2D, Dense), by layer name. */
    public static Map<String, InputRange> inputRanges(Network network, NDArray x, int batchSize) {
        if (x.rows() == 0) {
            throw new IllegalArgumentException("quantize: expected calibration samples, received none");
        }
        Graph graph = network.graph();
        Backend backend = network.backend();
        Map<String, float[]> ranges = new HashMap<>();
        ExecutionPlan.Observer observer = (node, inputs) -> {
            if (!(node.layer() instanceof Fusion.LinearOp)) {
                return;
            }
            Tensor t = inputs.get(0);
            float[] values = new float[(int) t.size()];
            backend.copyOut(t, values, 0);
            float[] r = ranges.computeIfAbsent(node.layer().name(),
                    k -> new float[] {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY});
            for (float v : values) {
                r[0] = Math.min(r[0], v);
                r[1] = Math.max(r[1], v);
            }
        };
        int n = x.rows();
        // fp32 plans that keep every call (no folding), so each layer's input is the model's own tensor; made, run and
        // closed where the backend computes (on the CPU its device thread, or the caller); one for full batches, one
        // for the rest
        backend.execute(() -> {
            ExecutionPlan full = null;
            try {
                for (int start = 0; start < n; start += batchSize) {
                    int count = Math.min(batchSize, n - start);
                    if (count == batchSize) {
                        if (full == null) {
                            full = new ExecutionPlan(graph, network.parameters(), backend, count, false, false, false);
                        }
                        observe(full, x, start, backend, observer);
                    } else {
                        try (ExecutionPlan last = new ExecutionPlan(graph, network.parameters(), backend, count, false,
                                false, false)) {
                            observe(last, x, start, backend, observer);
                        }
                    }
                }
            } finally {
                if (full != null) {
                    full.close();
                }
            }
            return null;
        });
        Map<String, InputRange> out = new LinkedHashMap<>();
        for (Node node : graph.nodes()) {
            float[] r = ranges.get(node.layer().name());
            if (r != null && !out.containsKey(node.layer().name())) {
                if (!Float.isFinite(r[0]) || !Float.isFinite(r[1])) {
                    throw new IllegalArgumentException("quantize: expected finite values at the input of "
                            + node.layer().name() + ", received [" + r[0] + ", " + r[1] + "] on the calibration data");
                }
                out.put(node.layer().name(), new InputRange(r[0], r[1]));
            }
        }
        return out;
    }

    private static void observe(ExecutionPlan plan, NDArray x, int first, Backend backend,
                                ExecutionPlan.Observer observer) {
        backend.copyIn(x.data(), first * x.rowSize(), plan.packedInput());
        plan.unpackInputs();
        plan.forward(0, observer);
    }

    /** The layers an int8 plan needs ranges for: every layer with a linear op, in call order. */
    public static List<String> quantizedLayers(Graph graph) {
        return graph.nodes().stream().filter(n -> n.layer() instanceof Fusion.LinearOp).map(n -> n.layer().name())
                .distinct().toList();
    }
}
