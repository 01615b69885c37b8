package dev.osprey.cli;


import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.List;

/** Evaluating a model file that may have been saved without a loss: a classifier imported from ONNX, say. */
final class Evaluation {
    private Evaluation() {
    }

    /**
     * model, compiled for evaluation where it was saved without a loss (an imported classifier): with the sparse
     * categorical cross-entropy (from logits where the last layer is linear, as PyTorch's classifiers end) and
     * accuracy. The optimizer is never used.
     */
    static Model compiled(Model model, String command) {
        if (model.loss() != null) {
            return model;
        }
        boolean linear = model.outputs().size() == 1 && model.outputs().get(0).layer() != null
                && model.outputs().get(0).layer().activation().kind() == dev.osprey.Activation.Kind.LINEAR;
        try {
            return model.compile(new Adam(), Loss.sparseCategoricalCrossentropy().fromLogits(linear), Metric.ACCURACY);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(command + ": the model file holds no loss (an imported model, say), so "
                    + "it is evaluated as a classifier of softmax probabilities or logits, which it is not: "
                    + e.getMessage(), e);
        }
    }

    /**
     * Throws IllegalArgumentException, naming the data set, where its images are not of the model's input shape (a
     * model trained on a folder of 64x64 RGB images, evaluated on the default Fashion-MNIST sample, say), or where the
     * model is not a classifier of one output.
     */
    /**
     * The commands that feed a data set's images to a classifier take a model of one input and one output; others are
     * evaluated from Java, by name.
     */
    static void requireOneInputAndOutput(Model model, String command) {
        List<String> inputs = model.inputs().stream().map(dev.osprey.Input::name).toList();
        List<String> outputs = model.outputNames();
        if (inputs.size() != 1 || outputs.size() != 1) {
            throw new IllegalArgumentException(command + ": expected a classifier of one input and one output, "
                    + "received a model of " + inputs.size() + " input" + (inputs.size() == 1 ? " " : "s ") + inputs
                    + " and " + outputs.size() + " output" + (outputs.size() == 1 ? " " : "s ") + outputs
                    + " (evaluate it from Java, by name: model.evaluate(Map.of(\"" + inputs.get(0) + "\", x, ...), "
                    + "Map.of(\"" + outputs.get(0) + "\", y, ...), batchSize))");
        }
    }

    static void requireInputShape(Model model, dev.osprey.data.LabeledData data, String command) {
        requireOneInputAndOutput(model, command);
        dev.osprey.Shape takes = model.inputShape();
        dev.osprey.Shape has = data.testX().sampleShape();
        boolean same = has.equals(takes) || takes.rank() == 3 && takes.dim(2) == 1 && has.rank() == 2
                && has.dim(0) == takes.dim(0) && has.dim(1) == takes.dim(1);
        if (!same) {
            throw new IllegalArgumentException(command + ": the model takes images of shape " + takes + ", and "
                    + data.source() + " has " + has + " ones; name a data set of the model's shape (--dataset, "
                    + "--data-dir or the IDX file options; " + command + " does not read image folders)");
        }
    }

    /**
     * The share of x's images whose most likely class is their label in y (class indices), predicted in batches of
     * 256, in the model's inference precision: accuracy without compiling the model.
     */
    static double accuracy(Model model, NDArray x, NDArray y) {
        int classes = model.outputShape().size();
        if (classes < 2) {
            throw new IllegalArgumentException("accuracy: expected a classifier of 2 or more classes, received an "
                    + "output of " + classes);
        }
        long right = 0;
        for (int from = 0; from < x.rows(); from += 256) {
            int n = Math.min(256, x.rows() - from);
            float[] p = model.predict(x.slice(from, from + n), 256).data();
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (int c = 1; c < classes; c++) {
                    if (p[i * classes + c] > p[i * classes + best]) {
                        best = c;
                    }
                }
                if (best == (int) y.data()[from + i]) {
                    right++;
                }
            }
        }
        return x.rows() == 0 ? Double.NaN : (double) right / x.rows();
    }
}
