package dev.osprey.engine;

import dev.osprey.Activation;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a model trains to minimize: one {@link Loss} per output, each weighted (Keras' {@code loss_weights}); the total
 * is the weighted sum of the outputs' mean losses, plus the weight penalties. A model of one output has one loss of
 * weight 1, and its steps run exactly the ops they ran before models of several outputs could train.
 *
 * <p>Each output's loss op writes that output's gradient and adds to that output's statistics; a weight other than 1
 * scales the output's gradient (one op), and the totals are weighted on the host when read, so nothing is read back
 * per step.
 */
public final class ModelLoss {
    private final List<Loss> losses;
    private final double[] weights;
    private final int[] widths;
    private final List<String> names;
    private final boolean countsClasses; // classification metrics are compiled: outputs classified keep full counts
    private final List<Set<Metric>> outputMetrics; // per output, the metrics it reports; null: all it can

    private ModelLoss(List<Loss> losses, double[] weights, int[] widths, List<String> names, boolean countsClasses,
                      List<Set<Metric>> outputMetrics) {
        this.losses = List.copyOf(losses);
        this.weights = weights;
        this.widths = widths;
        this.names = List.copyOf(names);
        this.countsClasses = countsClasses;
        this.outputMetrics = outputMetrics == null ? null : List.copyOf(outputMetrics);
    }

    /**
     * These losses for a model whose compiled metrics include classification metrics (precision, recall, AUC...:
     * true, the default) or only errors (false), which needs no classification counts: then every output keeps its
     * {@link dev.osprey.metrics.ErrorSums} alone, whatever its width.
     */
    public ModelLoss countingClasses(boolean classes) {
        return new ModelLoss(losses, weights, widths, names, classes, outputMetrics);
    }

    /**
     * These losses for a model compiled with metrics by output (Keras' {@code metrics={"kind": [...]}}): output o
     * reports perOutput.get(o) alone (accuracy and the counted metrics), one set per output in output order. Without
     * it, every output reports every compiled metric it can.
     */
    public ModelLoss withOutputMetrics(List<Set<Metric>> perOutput) {
        if (perOutput != null && perOutput.size() != losses.size()) {
            throw new IllegalArgumentException("expected metrics for each of the " + losses.size() + " outputs, "
                    + "received " + perOutput.size() + " sets");
        }
        return new ModelLoss(losses, weights, widths, names, countsClasses, perOutput);
    }

    /** Whether output o reports metric m: with metrics by output, when its set holds m; else always. */
    private boolean reports(int o, Metric m) {
        return outputMetrics == null || outputMetrics.get(o).contains(m);
    }

    /** The loss of a model of one output. */
    public static ModelLoss of(Graph graph, Loss loss) {
        return of(graph, List.of(loss), new double[] {1});
    }

    /**
     * One loss per output of graph, in its output order, each with its weight (finite, >= 0). An output that layers of
     * the model read trains on the sum of its loss's gradient and theirs (feature distillation: a hidden layer matched
     * to a teacher's); its loss must take the output as the readers see it, so a cross-entropy that applies the
     * output's softmax or sigmoid itself is refused there.
     */
    public static ModelLoss of(Graph graph, List<Loss> losses, double[] weights) {
        List<SymbolicTensor> outputs = graph.outputs();
        if (losses == null || losses.size() != outputs.size() || losses.stream().anyMatch(java.util.Objects::isNull)) {
            throw new IllegalArgumentException("expected one loss for each of the model's " + outputs.size()
                    + " outputs, received " + losses);
        }
        if (weights == null || weights.length != outputs.size()) {
            throw new IllegalArgumentException("expected one loss weight for each of the model's "
                    + outputs.size() + " outputs, received " + (weights == null ? "none" : weights.length));
        }
        double[] w = weights.clone();
        int[] widths = new int[outputs.size()];
        List<String> names = outputNames(graph);
        for (int o = 0; o < outputs.size(); o++) {
            if (!(weights[o] >= 0) || Double.isInfinite(weights[o])) {
                throw new IllegalArgumentException("expected finite loss weights >= 0, received " + weights[o]
                        + " for output " + (o + 1));
            }
            SymbolicTensor out = outputs.get(o);
            widths[o] = out.shape().size();
            String name = names.get(o);
            if (outputs.size() > 1) {
                if (outputs.indexOf(out) != o) {
                    throw new IllegalArgumentException("expected each output once for training, received output "
                            + (o + 1) + " (" + name + ") the same tensor as output " + (outputs.indexOf(out) + 1));
                }
                Activation.Kind fused = losses.get(o).fusedActivation();
                if (fused != null && !graph.consumers(out).isEmpty()) {
                    String activation = fused.name().toLowerCase(java.util.Locale.ROOT);
                    throw new IllegalArgumentException("expected an output that other layers read to keep its "
                            + "activation in training, received output " + (o + 1) + " (" + name + ") read by "
                            + graph.consumers(out).stream().map(n -> n.layer().name()).distinct().toList()
                            + " with " + losses.get(o).name() + ", which applies the " + activation + " itself: give "
                            + "the readers an Activation(\"" + activation + "\") layer of their own, or end the "
                            + "output linear and train it from logits");
                }
            }
        }
        return new ModelLoss(losses, w, widths, names, true, null);
    }

    /**
     * Each output's name in the logs and in compile's losses by name: its layer's name, or for a later output of the
     * same layer (a layer called twice) that name with the output's number ("head_2"); "output_1"... for an input
     * that is an output.
     */
    public static List<String> outputNames(Graph graph) {
        List<String> names = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        List<SymbolicTensor> outputs = graph.outputs();
        for (int o = 0; o < outputs.size(); o++) {
            String name = outputs.get(o).layer() == null ? "output_" + (o + 1) : outputs.get(o).layer().name();
            String unique = name;
            for (int k = o + 1; !seen.add(unique); k++) {
                unique = name + "_" + k;
            }
            names.add(unique);
        }
        return names;
    }

    /** The number of outputs, one loss each. */
    public int outputs() {
        return losses.size();
    }

    /** Output o's loss. */
    public Loss loss(int o) {
        return losses.get(o);
    }

    /** Output o's weight in the total. */
    public double weight(int o) {
        return weights[o];
    }

    /** Output o's name in the logs: its layer's name (Keras' "name_loss", "name_accuracy"). */
    public String name(int o) {
        return names.get(o);
    }

    /** Per output, the last activation its loss applies itself, which training plans leave out (null: none). */
    public Activation.Kind[] fusedActivations() {
        Activation.Kind[] kinds = new Activation.Kind[losses.size()];
        for (int o = 0; o < kinds.length; o++) {
            kinds[o] = losses.get(o).fusedActivation();
        }
        return kinds;
    }

    /** Values per label row, all outputs' labels side by side (no sample weight). */
    public int labelWidth() {
        int width = 0;
        for (int o = 0; o < losses.size(); o++) {
            width += losses.get(o).labelWidth(widths[o]);
        }
        return width;
    }

    /** Output o's width: the values of one sample of it. */
    public int width(int o) {
        return widths[o];
    }

    /**
     * The target rows of these losses, label rows ending in weightColumns sample weights (0, 1 for every output, or
     * one per output); class weights take a model of one output.
     */
    public TargetRows targetRows(int weightColumns, double[] classWeights) {
        return new TargetRows(losses, widths, weightColumns, classWeights);
    }

    /** Unweighted target rows of these losses (evaluation and validation). */
    public TargetRows unweightedRows() {
        return targetRows(0, null);
    }

    /**
     * A training step's losses, on the backend's thread after the forward pass: each output's loss op against its
     * target rows (filled into plan.targets(width), width the sum of parts: per output, the values of its target rows;
     * see {@link TargetRows#partWidths}), writing its gradient, times its weight and the
     * loss scale, and adding to its statistics (stats: per output). With counts (not null), adds to each output's
     * classification counts, the batch's rows being rows firstRow... of the epoch.
     */
    public void train(Backend backend, ExecutionPlan plan, int[] parts, Tensor[] stats, float lossScale,
                      Tensor[] counts, long firstRow) {
        if (losses.size() == 1) {
            Tensor targets = plan.targets(parts[0]);
            backend.loss(losses.get(0).kind(), plan.output(0), targets, plan.outputGradient(0), stats[0]);
            scale(backend, plan.outputGradient(0), (float) weights[0] * lossScale);
            if (counts != null) {
                count(backend, 0, plan.output(0), losses.get(0).appliedActivation(), targets, counts[0], firstRow);
            }
            return;
        }
        List<Tensor> targets = plan.targetParts(parts);
        for (int o = 0; o < losses.size(); o++) {
            backend.loss(losses.get(o).kind(), plan.output(o), targets.get(o), plan.outputGradient(o), stats[o]);
            scale(backend, plan.outputGradient(o), (float) weights[o] * lossScale);
            if (counts != null) {
                count(backend, o, plan.output(o), losses.get(o).appliedActivation(), targets.get(o), counts[o],
                        firstRow);
            }
        }
    }

    /**
     * evaluate's losses, on the backend's thread after an inference plan's forward pass (targets as for
     * {@link #train}): each output's loss op on outputs[o] (the plan's output, or where apply[o], not null, was
     * applied to it) into its statistics. With counts (not null), adds to each output's classification counts, the
     * batch's rows being rows firstRow... of the evaluation.
     */
    public void evaluate(Backend backend, ExecutionPlan plan, int[] parts, Tensor[] outputs, Activation[] apply,
                         Tensor[] stats, Tensor[] counts, long firstRow) {
        List<Tensor> targets = losses.size() == 1 ? List.of(plan.targets(parts[0])) : plan.targetParts(parts);
        for (int o = 0; o < losses.size(); o++) {
            backend.loss(losses.get(o).kind(), outputs[o], targets.get(o), null, stats[o]);
            if (counts != null) {
                count(backend, o, outputs[o], apply[o] != null ? null : losses.get(o).appliedActivation(),
                        targets.get(o), counts[o], firstRow);
            }
        }
    }

    /** Adds a batch of output o to its counts: all of them ({@link #countsClassesOf}), or its error sums alone. */
    private void count(Backend backend, int o, Tensor outputs, Activation.Kind scores, Tensor targets, Tensor counts,
                       long firstRow) {
        if (countsClassesOf(o)) {
            backend.classificationCounts(outputs, scores, targets, Metric.TOP_K, counts, firstRow);
        } else {
            backend.errorSums(outputs, scores, targets, counts, firstRow);
        }
    }

    private static void scale(Backend backend, Tensor gradient, float factor) {
        if (factor != 1f) {
            backend.scale(gradient, factor, 0f, gradient);
        }
    }

    /**
     * The loss of a network's statistics, each already divided by the samples (laid out as Network.statsSize says):
     * for one output its loss, for several the weighted sum of theirs plus the penalties.
     */
    public double total(double[] means) {
        if (losses.size() == 1) {
            return means[0];
        }
        double total = means[2 * losses.size()];
        for (int o = 0; o < losses.size(); o++) {
            total += weights[o] * means[2 * o];
        }
        return total;
    }

    /**
     * The accuracy of the statistics: the output's for one output; for several, the first output's whose loss
     * classifies and that reports accuracy (NaN when none does).
     */
    public double accuracy(double[] means) {
        if (losses.size() == 1) {
            return means[1];
        }
        for (int o = 0; o < losses.size(); o++) {
            if (showsAccuracy(o)) {
                return means[2 * o + 1];
            }
        }
        return Double.NaN;
    }

    /** Whether output o of several shows its accuracy (when accuracy is compiled): its loss classifies, and it asks. */
    private boolean showsAccuracy(int o) {
        return classifies(o) && reports(o, Metric.ACCURACY);
    }

    /** The name of {@link #accuracy}'s figure in the logs: "accuracy", or the classifying output's ("kind_accuracy"). */
    public String accuracyName() {
        if (losses.size() == 1) {
            return "accuracy";
        }
        for (int o = 0; o < losses.size(); o++) {
            if (showsAccuracy(o)) {
                return names.get(o) + "_accuracy";
            }
        }
        return "accuracy";
    }

    /** Whether output o's loss counts correct predictions: a cross-entropy's does, an error's does not. */
    public boolean classifies(int o) {
        return losses.get(o).appliedActivation() != null;
    }

    /**
     * Whether the metrics counted per class (precision, recall, AUC...; {@link Metric#classifies}) are reported for
     * output o: a model of one output's always; for several, those of outputs whose loss classifies. The errors (mae,
     * mse) are reported for every output (with metrics by output, each output reports only those it asked for).
     */
    public boolean classified(int o) {
        return losses.size() == 1 || classifies(o);
    }

    /**
     * Whether output o keeps the whole classification counts (classification metrics compiled, and the output
     * {@link #classified}), which end with its error sums; else it keeps its error sums alone.
     */
    public boolean countsClassesOf(int o) {
        return countsClasses && classified(o) && (outputMetrics == null
                || outputMetrics.get(o).stream().anyMatch(m -> m.fromCounts() && m.classifies()));
    }

    /** Floats of output o's counts: ClassificationCounts.size of its width, or ErrorSums.SIZE (errors alone). */
    public int countsSize(int o) {
        return countsClassesOf(o) ? dev.osprey.metrics.ClassificationCounts.size(widths[o])
                : dev.osprey.metrics.ErrorSums.SIZE;
    }

    /** Per output, an array for its counts ({@link #countsSize}). */
    public float[][] newCounts() {
        float[][] counts = new float[losses.size()][];
        for (int o = 0; o < counts.length; o++) {
            counts[o] = new float[countsSize(o)];
        }
        return counts;
    }

    /**
     * Each metric of each output from its counts, under Keras' names: "precision" for a model of one output,
     * "name_precision" per output for several (the classification metrics only for the outputs
     * {@link #countsClassesOf}, the errors for all; with metrics by output, each output's own alone); prefixed
     * (validation: "val_").
     */
    public void putCounted(float[][] counts, List<Metric> metrics, String prefix, Map<String, Double> logs) {
        for (int o = 0; o < counts.length; o++) {
            String name = prefix + (losses.size() == 1 ? "" : names.get(o) + "_");
            int output = o;
            if (countsClassesOf(o)) {
                dev.osprey.metrics.ClassificationCounts c = new dev.osprey.metrics.ClassificationCounts(counts[o],
                        widths[o]);
                metrics.stream().filter(m -> reports(output, m))
                        .forEach(m -> logs.put(name + m.kerasName(), c.value(m)));
            } else {
                dev.osprey.metrics.ErrorSums e = dev.osprey.metrics.ErrorSums.read(counts[o], 0);
                int width = widths[o];
                metrics.stream().filter(m -> !m.classifies() && reports(output, m))
                        .forEach(m -> logs.put(name + m.kerasName(), e.value(m, width)));
            }
        }
    }

    /**
     * Puts the statistics in the logs under Keras' names, each prefixed (fit's validation: "val_"): "loss" (the total),
     * and with accuracy "accuracy"; for several outputs also each output's "name_loss" and, with accuracy, each
     * classifying output's "name_accuracy" that reports accuracy (then there is no plain "accuracy", as in Keras).
     */
    public void putLogs(double[] means, boolean accuracy, String prefix, Map<String, Double> logs) {
        logs.put(prefix + "loss", total(means));
        if (losses.size() == 1) {
            if (accuracy) {
                logs.put(prefix + "accuracy", means[1]);
            }
            return;
        }
        for (int o = 0; o < losses.size(); o++) {
            logs.put(prefix + names.get(o) + "_loss", means[2 * o]);
        }
        if (accuracy) {
            for (int o = 0; o < losses.size(); o++) {
                if (showsAccuracy(o)) {
                    logs.put(prefix + names.get(o) + "_accuracy", means[2 * o + 1]);
                }
            }
        }
    }
}
