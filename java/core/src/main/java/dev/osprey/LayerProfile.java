package dev.osprey;

import dev.osprey.engine.CallClock;
import dev.osprey.engine.Node;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Where a model's time goes, layer by layer: each layer call's forward and backward milliseconds per training step
 * ({@link Model#profileTraining}) or per predict call ({@link Model#profileInference}), and what the step took in all.
 * Calls the backend runs as one native call (an inference plan's chain of small convolutions) share one row, named by
 * each of them, since their time can't be split. A call that does no work of its own (a BatchNormalization folded into
 * the convolution before it, a ReLU that layer applies, a Flatten, which is a view) has a row of its own marked
 * "(no work)" and shows no time. On a GPU every call is timed alone (the device is waited for before and after it), so
 * the calls no longer overlap and the rows sum to more than an unprofiled step takes.
 */
public final class LayerProfile {
    /**
     * One row: a layer call, or a chain of calls run as one.
     *
     * @param calls      the layer call's name (a shared layer's later calls get "#2", "#3", ...), or each chained call's
     * @param type       the layer's class (Conv2D, ...), or "chain of N" for N calls run as one
     * @param noWork     the call does no work of its own (folded into a call beside it, applied by one, a view): no
     *                   time
     * @param forwardMs  forward milliseconds per step or call
     * @param backwardMs backward milliseconds per step (0 in inference, and for calls that run no backward)
     */
    public record Row(List<String> calls, String type, boolean noWork, double forwardMs, double backwardMs) {
        public Row {
            calls = List.copyOf(calls);
        }

        /** The calls' names joined by " + ": the row's name in the table. */
        public String name() {
            return String.join(" + ", calls);
        }

        /** Forward and backward milliseconds together. */
        public double totalMs() {
            return forwardMs + backwardMs;
        }

        /** The type as the table shows it: " (no work)" after it where the call does none. */
        String shownType() {
            return noWork ? type + " (no work)" : type;
        }
    }

    private final boolean training;
    private final int batch;
    private final int calls;
    private final double wallMs;
    private final String device;
    private final List<Row> rows;

    private LayerProfile(boolean training, int batch, int calls, double wallMs, String device, List<Row> rows) {
        this.training = training;
        this.batch = batch;
        this.calls = calls;
        this.wallMs = wallMs;
        this.device = device;
        this.rows = List.copyOf(rows);
    }

    /** A profile from clock's figures over calls timed calls of the graph whose nodes are given, wallNanos in all. */
    static LayerProfile of(boolean training, int batch, int calls, long wallNanos, String device, List<Node> nodes,
                           CallClock clock) {
        List<Row> rows = new ArrayList<>();
        Map<Integer, CallClock.Chain> chainAt = new HashMap<>(); // by its first call
        Set<Integer> chained = new HashSet<>();
        for (CallClock.Chain chain : clock.chains()) {
            chainAt.put(chain.nodes().get(0), chain);
            chained.addAll(chain.nodes());
        }
        double perCall = 1e6 * calls;
        for (int n = 0; n < nodes.size(); n++) {
            String type = nodes.get(n).layer().getClass().getSimpleName();
            CallClock.Chain chain = chainAt.get(n);
            if (chain != null) {
                List<String> names = new ArrayList<>();
                for (int member : chain.nodes()) {
                    names.add(callName(nodes.get(member)));
                }
                rows.add(new Row(names, names.size() == 1 ? type : "chain of " + names.size(), false,
                        chain.nanos() / perCall, 0));
            }
            if (clock.forwardCalls(n) > 0 || clock.backwardCalls(n) > 0) {
                rows.add(new Row(List.of(callName(nodes.get(n))), type, false, clock.forwardNanos(n) / perCall,
                        clock.backwardNanos(n) / perCall));
            } else if (!chained.contains(n)) { // folded into a call beside it, applied by one, or a view
                rows.add(new Row(List.of(callName(nodes.get(n))), type, true, 0, 0));
            }
        }
        return new LayerProfile(training, batch, calls, wallNanos / perCall, device, rows);
    }

    private static String callName(Node node) {
        return node.layer().name() + (node.callIndex() == 0 ? "" : "#" + (node.callIndex() + 1));
    }

    /** Whether this profiles training steps (forward, loss, backward and the optimizer's update) or predict calls. */
    public boolean training() {
        return training;
    }

    /** Samples per step or call. */
    public int batch() {
        return batch;
    }

    /** Steps or calls timed (after one untimed warm-up). */
    public int calls() {
        return calls;
    }

    /** The device, as {@link dev.osprey.backend.Device#toString()} names it. */
    public String device() {
        return device;
    }

    /** Every timed layer call or chain, in the model's order. */
    public List<Row> rows() {
        return rows;
    }

    /** Milliseconds per step or call in all, start to end, profiled. */
    public double wallMs() {
        return wallMs;
    }

    /** The rows' milliseconds per step or call, summed. */
    public double layersMs() {
        return rows.stream().mapToDouble(Row::totalMs).sum();
    }

    /**
     * Milliseconds per step or call outside the layers: the loss, the optimizer's update, copying the batch in and the
     * results out, and the checks on the input.
     */
    public double otherMs() {
        return Math.max(0, wallMs - layersMs());
    }

    /**
     * The rows as a table, slowest first (at most limit rows; the rest summed in one line), then the other time and
     * the whole step's.
     */
    public String table(int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("expected a row limit >= 1, received " + limit);
        }
        List<Row> sorted = new ArrayList<>(rows);
        sorted.sort(Comparator.comparingDouble(Row::totalMs).reversed());
        int width = Math.max(28, sorted.stream().limit(limit).mapToInt(r -> r.name().length()).max().orElse(0));
        width = Math.min(width, 72);
        int typeWidth = Math.max(20, sorted.stream().limit(limit).mapToInt(r -> r.shownType().length()).max().orElse(0));
        String format = "%-" + width + "s %-" + typeWidth + "s %10s %11s %10s %7s%n";
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%s, batch %d, %s: %.3f ms per %s, mean of %d%n",
                training ? "training step" : "inference", batch, device, wallMs, training ? "step" : "call", calls));
        out.append(String.format(Locale.ROOT, format, "layer", "type", "forward ms", "backward ms", "total ms",
                "share"));
        double shown = 0;
        for (int i = 0; i < Math.min(limit, sorted.size()); i++) {
            Row r = sorted.get(i);
            shown += r.totalMs();
            out.append(String.format(Locale.ROOT, format, clip(r.name(), width), r.shownType(), ms(r.forwardMs()),
                    training ? ms(r.backwardMs()) : "-", ms(r.totalMs()), share(r.totalMs())));
        }
        if (sorted.size() > limit) {
            double rest = Math.max(0, layersMs() - shown); // no -0.000 from rounding
            out.append(String.format(Locale.ROOT, format, (sorted.size() - limit) + " more layers", "", "", "",
                    ms(rest), share(rest)));
        }
        out.append(String.format(Locale.ROOT, format, training ? "loss, optimizer, copies" : "copies, checks", "", "",
                "", ms(otherMs()), share(otherMs())));
        return out.toString();
    }

    private static String clip(String s, int width) {
        return s.length() <= width ? s : s.substring(0, width - 3) + "...";
    }

    private static String ms(double ms) {
        return String.format(Locale.ROOT, "%.3f", ms);
    }

    private String share(double ms) {
        return wallMs > 0 ? String.format(Locale.ROOT, "%.1f%%", 100 * ms / wallMs) : "-";
    }

    /** The profile under snake_case keys, for JSON reports. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", training ? "training" : "inference");
        m.put("device", device);
        m.put("batch", batch);
        m.put("calls", calls);
        m.put("wall_ms", wallMs);
        m.put("layers_ms", layersMs());
        m.put("other_ms", otherMs());
        List<Map<String, Object>> list = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("calls", r.calls());
            row.put("type", r.type());
            row.put("no_work", r.noWork());
            row.put("forward_ms", r.forwardMs());
            row.put("backward_ms", r.backwardMs());
            list.add(row);
        }
        m.put("rows", list);
        return m;
    }

    @Override
    public String toString() {
        return table(Integer.MAX_VALUE);
    }
}
