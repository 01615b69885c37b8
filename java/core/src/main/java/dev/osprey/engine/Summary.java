package dev.osprey.engine;

import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Keras' model.summary() table: each layer call with its output shape and parameter count; for functional models also
 * the input rows and the "Connected to" column (layer[call][0] of each input), then total, trainable and non-trainable
 * counts. A layer called twice counts its weights once, on its first row.
 */
public final class Summary {
    private Summary() {
    }

    /**
     * The summary table of graph, headed with modelName; sequential leaves out the input rows and the "Connected to"
     * column, as Keras does for Sequential models. Ends with a newline.
     */
    public static String of(String modelName, boolean sequential, Graph graph) {
        List<String[]> rows = new ArrayList<>();
        if (!sequential) {
            for (Input in : graph.inputs()) {
                rows.add(new String[] {in.name() + " (InputLayer)", shape(in.shape()), "0", ""});
            }
        }
        java.util.Set<Layer> counted = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (Node node : graph.nodes()) {
            Layer layer = node.layer();
            long params = 0;
            if (counted.add(layer)) {
                for (ParamSpec p : layer.parameters(layer.weightInputShapes())) {
                    params += p.size();
                }
            }
            List<String> from = new ArrayList<>();
            for (SymbolicTensor t : node.inputs()) {
                from.add(t.node() == null ? ((Input) t).name() + "[0][0]"
                        : t.layer().name() + "[" + t.node().callIndex() + "][0]");
            }
            rows.add(new String[] {layer.name() + " (" + layer.className() + ")", shape(node.output().shape()),
                    String.format(Locale.ROOT, "%,d", params), String.join(", ", from)});
        }
        int[] widths = {33, 26, 12, 0};
        for (String[] r : rows) {
            widths[0] = Math.max(widths[0], r[0].length() + 2);
            widths[1] = Math.max(widths[1], r[1].length() + 2);
            widths[3] = Math.max(widths[3], r[3].length());
        }
        int total = widths[0] + widths[1] + (sequential ? 11 : widths[2] + Math.max(widths[3], 12)) + 1;
        String rule = "_".repeat(total) + "\n";
        String thick = "=".repeat(total) + "\n";
        StringBuilder b = new StringBuilder();
        b.append("Model: \"").append(modelName).append("\"\n").append(rule);
        b.append(row(widths, sequential, "Layer (type)", "Output Shape", "Param #", "Connected to")).append(thick);
        for (int i = 0; i < rows.size(); i++) {
            String[] r = rows.get(i);
            b.append(row(widths, sequential, r[0], r[1], r[2], r[3]));
            b.append(i == rows.size() - 1 ? "" : "\n");
        }
        b.append(thick);
        long[] counts = Parameters.count(graph);
        b.append(String.format(Locale.ROOT, "Total params: %,d%n", counts[0] + counts[1]));
        b.append(String.format(Locale.ROOT, "Trainable params: %,d%n", counts[0]));
        b.append(String.format(Locale.ROOT, "Non-trainable params: %,d%n", counts[1]));
        b.append(rule);
        return b.toString();
    }

    private static String row(int[] widths, boolean sequential, String a, String b, String c, String d) {
        String line = " " + pad(a, widths[0]) + pad(b, widths[1]) + (sequential ? c : pad(c, widths[2]) + d);
        return line.stripTrailing() + "\n";
    }

    private static String pad(String s, int width) {
        return s.length() >= width ? s + " " : s + " ".repeat(width - s.length());
    }

    private static String shape(Shape s) {
        StringBuilder b = new StringBuilder("(None");
        for (int d : s.dims()) {
            b.append(", ").append(d);
        }
        return b.append(")").toString();
    }
}
