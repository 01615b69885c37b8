package dev.osprey.spark;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageDecoder;
import dev.osprey.data.images.Preprocessing;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Supplier;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/** Scores one partition's rows, batch by batch, on the executor's shared model; see {@link OspreyPredictor}. */
final class PartitionScorer implements Iterator<Row> {
    /** What the driver decided: where the input is, its kind, and the batch and top-k sizes. */
    record Settings(int column, int pathColumn, boolean images, int batchSize, int topK) implements Serializable {
    }

    private final Iterator<Row> rows;
    private final ExecutorModels.Lease lease;
    private final Settings settings;
    private final Preprocessing preprocessing;
    private final int sampleSize;
    private final int[] batchShape;
    private final List<String> classes;
    private final ImageDecoder decoder;
    private final float[] batch;
    private final List<Row> ready = new ArrayList<>();
    private int next;
    private long seen;

    private PartitionScorer(Iterator<Row> rows, ExecutorModels.Lease lease, Settings settings) {
        this.rows = rows;
        this.lease = lease;
        this.settings = settings;
        Model model = lease.model();
        Shape input = model.inputShape();
        this.sampleSize = input.size();
        this.batchShape = new int[input.rank() + 1];
        batchShape[0] = settings.batchSize();
        System.arraycopy(input.dims(), 0, batchShape, 1, input.rank());
        this.classes = labels(model);
        this.preprocessing = settings.images() ? preprocessingOf(model, input) : null;
        this.decoder = settings.images() ? new ImageDecoder() : null;
        this.batch = new float[Math.multiplyExact(settings.batchSize(), sampleSize)];
    }

    /** The scored rows of one partition; the model lease ends with the task. */
    static Iterator<Row> score(Iterator<Row> rows, String modelId, Supplier<byte[]> modelBytes, Settings settings) {
        if (!rows.hasNext()) {
            return java.util.Collections.emptyIterator(); // an empty partition: no model needed
        }
        TaskContext task = TaskContext.get();
        ExecutorModels.Lease lease = ExecutorModels.acquire(modelId, TaskDevices.of(task), modelBytes);
        if (task != null) { // also when the task fails or is killed
            task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) context -> lease.close());
        }
        try {
            return new PartitionScorer(rows, lease, settings);
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
    }

    /** The model's class names, or "class N" for a model saved without them (as `osprey predict` prints). */
    private static List<String> labels(Model model) {
        int n = model.outputShape().size();
        List<String> names = model.classNames();
        List<String> out = new ArrayList<>(n);
        for (int c = 0; c < n; c++) {
            out.add(c < names.size() ? names.get(c) : "class " + c);
        }
        return out;
    }

    /** The model's saved preprocessing, else plain scaling to its input (what `osprey predict` does). */
    private static Preprocessing preprocessingOf(Model model, Shape input) {
        Preprocessing p = model.preprocessing();
        if (p != null) {
            return p;
        }
        if (input.rank() != 3 || (input.dim(2) != 1 && input.dim(2) != 3)) {
            throw new IllegalArgumentException("osprey-spark: images need a model of input (height, width, 1 or 3), "
                    + "this one takes " + input);
        }
        return Preprocessing.scaled(input.dim(0), input.dim(1),
                input.dim(2) == 3 ? Preprocessing.ColorMode.RGB : Preprocessing.ColorMode.GRAYSCALE);
    }

    @Override
    public boolean hasNext() {
        if (next < ready.size()) {
            return true;
        }
        ready.clear();
        next = 0;
        if (!rows.hasNext()) {
            lease.close(); // the rows are done (the task's own listener closes it too; closing twice is harmless)
            return false;
        }
        scoreNextBatch();
        return !ready.isEmpty();
    }

    @Override
    public Row next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        return ready.get(next++);
    }

    /** Reads up to a batch of rows, predicts the good ones in one full-size batch, and queues every row's result. */
    private void scoreNextBatch() {
        List<Row> inputs = new ArrayList<>();
        String[] errors = new String[settings.batchSize()];
        int[] slot = new int[settings.batchSize()];
        int filled = 0;
        java.util.Arrays.fill(batch, 0f);
        while (inputs.size() < settings.batchSize() && rows.hasNext()) {
            Row row = rows.next();
            int i = inputs.size();
            inputs.add(row);
            seen++;
            try {
                read(row, batch, filled * sampleSize);
                slot[i] = filled++;
            } catch (Exception e) {
                slot[i] = -1;
                errors[i] = e.getMessage() == null ? e.toString() : e.getMessage();
            }
        }
        float[] probabilities = filled == 0 ? new float[0]
                : lease.model().predict(new NDArray(batch, batchShape), settings.batchSize()).data();
        if (filled > 0 && lease.model().outputsLogits()) { // probabilities, as predict and serve give them
            dev.osprey.Model.softmaxRows(probabilities, classes.size());
        }
        int width = classes.size();
        for (int i = 0; i < inputs.size(); i++) {
            Row row = inputs.get(i);
            if (slot[i] < 0) {
                ready.add(output(row, null, null, null, errors[i]));
                continue;
            }
            int offset = slot[i] * width;
            int[] order = topIndices(probabilities, offset, width, Math.min(settings.topK(), width));
            List<Row> top = new ArrayList<>(order.length);
            for (int c : order) {
                top.add(RowFactory.create(classes.get(c), probabilities[offset + c]));
            }
            ready.add(output(row, classes.get(order[0]), probabilities[offset + order[0]], top, null));
        }
    }

    private void read(Row row, float[] out, int offset) throws Exception {
        Object value = row.get(settings.column());
        if (value == null) {
            throw new IllegalArgumentException("no input: the column is null");
        }
        if (settings.images()) {
            String name = settings.pathColumn() >= 0 ? String.valueOf(row.get(settings.pathColumn())) : "row " + seen;
            decoder.decode((byte[]) value, name, preprocessing, Augmentation.Params.IDENTITY,
                    Augmentation.FillMode.CONSTANT, out, offset);
            return;
        }
        List<Object> values = row.getList(settings.column());
        if (values.size() != sampleSize) {
            throw new IllegalArgumentException("expected " + sampleSize + " values (a sample of the model's input), "
                    + "received " + values.size());
        }
        for (int j = 0; j < sampleSize; j++) {
            Object v = values.get(j);
            if (v == null) {
                throw new IllegalArgumentException("value " + j + " is null");
            }
            float f = ((Number) v).floatValue();
            if (!Float.isFinite(f)) {
                throw new IllegalArgumentException("value " + j + " is " + f + ": expected finite numbers");
            }
            out[offset + j] = f;
        }
    }

    private Row output(Row in, String label, Float probability, List<Row> top, String error) {
        int keep = in.size() - 1;
        Object[] values = new Object[keep + 4];
        int k = 0;
        for (int i = 0; i < in.size(); i++) {
            if (i != settings.column()) {
                values[k++] = in.get(i);
            }
        }
        values[k++] = label;
        values[k++] = probability;
        values[k++] = top == null ? null : scala.jdk.javaapi.CollectionConverters.asScala(top); // a Seq, as Spark reads arrays
        values[k] = error;
        return RowFactory.create(values);
    }

    /** Indices of the k largest of p[offset, offset + n), largest first (the lower index first among equals). */
    private static int[] topIndices(float[] p, int offset, int n, int k) {
        int[] best = new int[k];
        boolean[] taken = new boolean[n];
        for (int j = 0; j < k; j++) {
            int arg = -1;
            for (int c = 0; c < n; c++) {
                if (!taken[c] && (arg < 0 || p[offset + c] > p[offset + arg])) {
                    arg = c;
                }
            }
            taken[arg] = true;
            best[j] = arg;
        }
        return best;
    }
}
