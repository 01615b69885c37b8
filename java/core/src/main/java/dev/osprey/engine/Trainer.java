package dev.osprey.engine;

import dev.osprey.ArrayBatchSource;
import dev.osprey.BatchSource;
import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.TrainingDivergedException;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.ResidentData;
import dev.osprey.backend.Tensor;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.ProgressBar;
import dev.osprey.callbacks.Training;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Optimizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One fit call: epochs of shuffled batches through forward, the fused loss op, backward and one optimizer
 * step. Loss and accuracy accumulate on the backend and are read only when someone looks.
 */
public final class Trainer implements Training {
    /** Even without a progress display, the running loss is checked this often for NaN. */
    private static final int NAN_CHECK_INTERVAL = 50;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Trainer.class);

    private final Model model;
    private final Network network;
    private final Backend backend;
    private final ModelLoss loss;
    private final Optimizer optimizer;
    private final Optimizer.Updater updater;
    private final FitOptions options;
    private final boolean reportsAccuracy;
    private final List<Metric> counted; // metrics read from the classification counts, once per epoch
    private final Tensor[] counts;      // with counted metrics: per output, the counts its loss adds to
    private final List<Callback> callbacks = new ArrayList<>();
    private final float[] stats;
    private int stepsPerEpoch;
    private int seenThisEpoch;
    private long epochStart;
    private double epochDataWait;
    private boolean stopRequested;
    private final TargetRows targetRows; // labels to the loss op's target rows, weighted or not
    private final int[] targetParts;     // per output, the values of its part of a target row
    private final dev.osprey.engine.parallel.DataParallel parallel; // null: one device
    private ExecutionPlan current; // single device: the plan holding the batch loaded last

    /**
     * A trainer for one fit: updater steps the network's trainable weights; each metric adds its Keras name (and
     * "val_" + name) to the logs. With verbose options a progress bar on standard output runs before their callbacks.
     */
    public Trainer(Model model, Network network, ModelLoss loss, Optimizer optimizer, Optimizer.Updater updater,
                   FitOptions options, java.util.Set<Metric> metrics) {
        this(model, network, loss, optimizer, updater, options, metrics, null);
    }

    /**
     * A trainer whose steps run data-parallel on parallel's replicas (replica 0 being network), or on network alone
     * when parallel is null. Batches are then always copied in from the host, split across the replicas.
     */
    public Trainer(Model model, Network network, ModelLoss loss, Optimizer optimizer, Optimizer.Updater updater,
                   FitOptions options, java.util.Set<Metric> metrics,
                   dev.osprey.engine.parallel.DataParallel parallel) {
        this.model = model;
        this.parallel = parallel;
        this.network = network;
        this.backend = network.backend();
        this.reportsAccuracy = metrics.contains(Metric.ACCURACY);
        this.counted = metrics.stream().filter(Metric::fromCounts).sorted().toList();
        this.stats = new float[Network.statsSize(loss.outputs())];
        this.counts = counted.isEmpty() ? null : network.countsOf(true, loss);
        this.loss = loss;
        this.optimizer = optimizer;
        this.updater = updater;
        this.options = options;
        this.targetRows = loss.targetRows(options.sampleWeightColumns(), options.classWeight());
        this.targetParts = targetRows.partWidths();
        network.trainWith(loss);
        if (options.verbose()) {
            callbacks.add(ProgressBar.toStandardOutput());
        }
        callbacks.addAll(options.callbacks());
        // a backup holds what the other callbacks changed at an epoch's end (a rate ReduceLROnPlateau lowered)
        List<Callback> backups = callbacks.stream()
                .filter(c -> c instanceof dev.osprey.callbacks.BackupAndRestore).toList();
        callbacks.removeAll(backups);
        callbacks.addAll(backups);
    }

    /**
     * Trains for the options' epochs, or until a callback stops it, evaluating validation (when not null) after each
     * epoch; seed drives shuffling and dropout. Returns the logs of every epoch run. Throws TrainingDivergedException
     * when the running loss becomes NaN or infinite (checked every 50 steps and at each epoch's end).
     */
    public History fit(BatchSource train, BatchSource validation, long seed) {
        return fit(train, validation, seed, options.initialEpoch(), 0);
    }

    /**
     * {@link #fit(BatchSource, BatchSource, long)} from epoch initialEpoch (counted from 0) to the options' epochs - 1,
     * each epoch shuffled and seeded as in a run from 0, the first epoch's first initialBatches batches skipped
     * ({@link BatchSource#skip}): a run that stopped goes on exactly, its weights and optimizer state restored. The
     * first epoch's loss and training metrics are those of the batches it trains.
     */
    public History fit(BatchSource train, BatchSource validation, long seed, int initialEpoch, int initialBatches) {
        try (Feed feed = feed(train)) {
            return fitWith(feed, train.size(), validation, seed, initialEpoch, initialBatches);
        }
    }

    private History fitWith(Feed feed, int n, BatchSource validation, long seed, int initialEpoch,
                            int initialBatches) {
        int batch = Math.min(options.batchSize(), n);
        stepsPerEpoch = (n + batch - 1) / batch;
        if (initialBatches < 0 || initialBatches >= stepsPerEpoch) {
            throw new IllegalArgumentException("fit: expected to skip 0 to " + (stepsPerEpoch - 1) + " batches of the "
                    + "first epoch (" + stepsPerEpoch + " batches an epoch), received " + initialBatches);
        }
        History history = new History();
        callbacks.forEach(c -> c.onTrainBegin(this));
        try {
            for (int epoch = initialEpoch; epoch < options.epochs() && !stopRequested; epoch++) {
                feed.startEpoch(epoch, batch, seed);
                resetStats();
                seenThisEpoch = 0;
                epochStart = System.nanoTime();
                for (Callback c : callbacks) {
                    c.onEpochBegin(epoch, this);
                }
                int step = 0;
                // resumed part way: batches as the whole run has them
                if (epoch == initialEpoch && initialBatches > 0) {
                    feed.skip(initialBatches);
                    step = initialBatches;
                    epochStart = System.nanoTime(); // the epoch's time is that of the batches it trains
                }
                for (int rows = feed.next(); rows > 0; rows = feed.next(), step++) {
                    long stepSeed = seed ^ stepNumber() * 0x9E3779B97F4A7C15L;
                    if (parallel != null) {
                        parallel.step(stepSeed);
                    } else {
                        trainStep(current, stepSeed, null);
                    }
                    seenThisEpoch += rows;
                    if ((step + 1) % NAN_CHECK_INTERVAL == 0) {
                        checkFinite(loss(), epoch, step);
                    }
                    for (Callback c : callbacks) {
                        c.onBatchEnd(step, this);
                    }
                    if (stopRequested) { // a callback stopped training within the epoch: it ends with these batches
                        break;
                    }
                }
                epochDataWait = feed.waitSeconds();
                Map<String, Double> logs = new LinkedHashMap<>();
                loss.putLogs(means(), reportsAccuracy, "", logs);
                checkFinite(logs.get("loss"), epoch, stepsPerEpoch - 1);
                putCounted(logs);
                if (validation != null) {
                    float[][] counts = counted.isEmpty() ? null : loss.newCounts();
                    double[] val = network.evaluate(validation, batch, loss, loss.unweightedRows(), counts);
                    loss.putLogs(val, reportsAccuracy, "val_", logs);
                    putCounted(counts, "val_", logs);
                }
                logs.put("learning_rate", updater.learningRate());
                history.record(epoch, logs);
                for (Callback c : callbacks) {
                    c.onEpochEnd(epoch, logs, this);
                }
            }
        } catch (TrainingDivergedException e) { // the callbacks hear of it (EarlyStopping puts its best weights back)
            for (Callback c : callbacks) {
                try {
                    c.onTrainDiverged(this, e);
                } catch (RuntimeException also) {
                    e.addSuppressed(also);
                }
            }
            throw e;
        }
        // a moving average of the weights takes their place (Keras' finalize), also where a backup had finished every
        // epoch (the run it resumes stopped before this)
        backend.execute(() -> {
            updater.finishTraining();
            return null;
        });
        network.parameters().changed();
        callbacks.forEach(c -> c.onTrainEnd(this));
        return history;
    }

    /**
     * One optimizer step on one batch (Keras' train_on_batch): no epochs, shuffling, callbacks or History; the plan
     * for the batch size is the network's cached one. Returns the batch's loss (and accuracy), read back once.
     * x holds rows samples; labels their targets as {@link dev.osprey.loss.Loss#targets} takes them.
     */
    public Map<String, Double> trainOnBatch(dev.osprey.NDArray x, float[] labels, long seed) {
        return trainOnBatch(x, labels, seed, null);
    }

    /** {@link #trainOnBatch(dev.osprey.NDArray, float[], long)}, timing each layer call on clock (null: untimed). */
    public Map<String, Double> trainOnBatch(dev.osprey.NDArray x, float[] labels, long seed, CallClock clock) {
        int rows = x.rows();
        ExecutionPlan plan = network.trainingPlan(rows);
        backend.copyIn(x.data(), 0, plan.packedInput());
        float[] targets = new float[rows * targetRows.width()];
        targetRows.write(labels, rows, targets);
        backend.copyIn(targets, 0, plan.targets(targetRows.width()));
        backend.fill(network.trainStats(), 0f);
        fillCounts();
        seenThisEpoch = 0; // the batch's rows count from 0 (its counts were just zeroed)
        trainStep(plan, seed ^ stepNumber() * 0x9E3779B97F4A7C15L, clock);
        seenThisEpoch = rows;
        Map<String, Double> logs = new LinkedHashMap<>();
        loss.putLogs(means(), reportsAccuracy, "", logs);
        putCounted(logs);
        return logs;
    }

    /** One step on the batch already in the plan's input and target tensors, its calls timed on clock if not null. */
    private void trainStep(ExecutionPlan plan, long seed, CallClock clock) {
        backend.execute(() -> {
            plan.unpackInputs();
            plan.forward(seed, clock);
            loss.train(backend, plan, targetParts, network.outputStats(true), updater.lossScale(),
                    counts, seenThisEpoch);
            plan.backward(null, clock);
            boolean finite = updater.unscaleGradients();
            network.addPenalties(plan.batch(), network.penaltyStats(true), true);
            if (finite) { // else dynamic loss scaling skips this step
                updater.step();
            }
            return null;
        });
        network.parameters().changed();
    }

    /**
     * The number that seeds the next step's dropout: the optimizer's steps, and the steps loss scaling skipped (a
     * skipped step leaves the optimizer's count as it was; the next batch still gets masks of its own).
     */
    private long stepNumber() {
        return updater.iterations() + (updater instanceof LossScaler scaler ? scaler.skippedSteps() : 0);
    }

    // ---- where batches come from -------------------------------------------------------------------------

    /** Fills each batch's plan with inputs and targets. */
    private interface Feed extends AutoCloseable {
        void startEpoch(int epoch, int batch, long seed);

        /** Loads the next batch (into {@link #current}, or split across the replicas); its rows, 0 at the epoch's end. */
        int next();

        /** Passes over the epoch's next batches as next would give them, loading none into a plan. */
        void skip(int batches);

        double waitSeconds();

        @Override
        void close();
    }

    /**
     * In-memory arrays are handed to the backend whole (a GPU keeps them in device memory and gathers each batch
     * there); any other source is read batch by batch and copied in.
     */
    private Feed feed(BatchSource train) {
        if (parallel == null && options.keepDataResident() && train instanceof ArrayBatchSource arrays) {
            try {
                return new ResidentFeed(arrays);
            } catch (BackendException e) { // e.g. device memory ran out after all: copying batches in still works
                LOG.warn("the training set could not be kept on the device, so batches are copied in: {}", e.getMessage());
            }
        }
        return new SourceFeed(train);
    }

    private final class SourceFeed implements Feed {
        private final BatchSource source;
        private float[] hostTargets = new float[0];

        SourceFeed(BatchSource source) {
            this.source = source;
        }

        @Override
        public void startEpoch(int epoch, int batch, long seed) {
            source.startEpoch(epoch, batch, options.shuffle(), seed);
        }

        @Override
        public int next() {
            BatchSource.Batch b = source.next();
            if (b == null) {
                return 0;
            }
            int width = targetRows.width();
            if (hostTargets.length < b.count() * width) {
                hostTargets = new float[b.count() * width];
            }
            targetRows.write(b.labels(), b.count(), hostTargets);
            if (parallel != null) {
                parallel.load(b.x(), hostTargets, targetParts, b.count());
                return b.count();
            }
            ExecutionPlan plan = network.trainingPlan(b.count());
            backend.copyIn(b.x(), 0, plan.packedInput());
            backend.copyIn(hostTargets, 0, plan.targets(width));
            current = plan;
            return b.count();
        }

        @Override
        public void skip(int batches) {
            source.skip(batches);
        }

        @Override
        public double waitSeconds() {
            return source.waitSeconds();
        }

        @Override
        public void close() {
        }
    }

    /** Batches in the same order as ArrayBatchSource gives them, gathered by the backend. */
    private final class ResidentFeed implements Feed {
        private final ResidentData data;
        private final int samples;
        private int batch;
        private int position;

        ResidentFeed(ArrayBatchSource arrays) {
            NDArray y = arrays.labels();
            int width = targetRows.width();
            samples = arrays.size();
            float[] targets = new float[samples * width];
            targetRows.write(y.data(), samples, targets);
            data = backend.keepResident(arrays.samples().data(), arrays.samples().rowSize(), targets, width);
        }

        @Override
        public void startEpoch(int epoch, int batch, long seed) {
            this.batch = batch;
            this.position = 0;
            data.startEpoch(BatchSource.epochOrder(samples, options.shuffle(), seed, epoch));
        }

        @Override
        public int next() {
            if (position >= samples) {
                return 0;
            }
            int count = Math.min(batch, samples - position);
            ExecutionPlan plan = network.trainingPlan(count);
            data.gather(position, count, plan.packedInput(), plan.targets(targetRows.width()));
            position += count;
            current = plan;
            return count;
        }

        @Override
        public void skip(int batches) {
            position = (int) Math.min(samples, position + (long) batches * batch);
        }

        @Override
        public double waitSeconds() {
            return 0;
        }

        @Override
        public void close() {
            data.close();
        }
    }

    /**
     * Reads the training counts once and puts each counted metric in the logs; without such metrics the counts are
     * never made (a classifier of many thousand classes would need a large tensor for them).
     */
    private void putCounted(Map<String, Double> logs) {
        if (counted.isEmpty()) {
            return;
        }
        float[][] counts = loss.newCounts();
        for (int o = 0; o < counts.length; o++) {
            if (parallel != null) {
                parallel.readCounts(o, counts[o]);
            } else {
                backend.copyOut(this.counts[o], counts[o], 0);
            }
        }
        putCounted(counts, "", logs);
    }

    private void putCounted(float[][] counts, String prefix, Map<String, Double> logs) {
        if (counts != null) {
            loss.putCounted(counts, counted, prefix, logs);
        }
    }

    /** Zeroes the training counts of every output, when counted. */
    private void fillCounts() {
        if (counted.isEmpty()) {
            return;
        }
        for (Tensor t : counts) {
            backend.fill(t, 0f);
        }
    }

    private void checkFinite(double value, int epoch, int step) {
        if (!Double.isFinite(value)) {
            stopRequested = true;
            throw new TrainingDivergedException(String.format(Locale.ROOT,
                    "training stopped: the loss became %s in epoch %d by batch %d (optimizer %s %s). Lower the "
                            + "learning rate, or check the inputs for NaN or infinite values.",
                    Double.isNaN(value) ? "NaN" : "infinite", epoch + 1, step + 1, optimizer.name(), optimizer.config()));
        }
    }

    // ---- Training ----------------------------------------------------------------------------------------

    @Override
    public Model model() {
        return model;
    }

    @Override
    public int epochs() {
        return options.epochs();
    }

    @Override
    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    @Override
    public void stopTraining() {
        stopRequested = true;
    }

    @Override
    public double loss() {
        return loss.total(means());
    }

    /** The accuracy so far this epoch; for several outputs, the first classifying output's that reports it. */
    @Override
    public double accuracy() {
        return loss.accuracy(means());
    }

    @Override
    public String accuracyName() {
        return reportsAccuracy ? loss.accuracyName() : null;
    }

    /** The epoch's statistics so far, each divided by the samples seen (all 0 before the first step). */
    private double[] means() {
        readStats();
        double[] means = new double[stats.length];
        for (int i = 0; seenThisEpoch > 0 && i < stats.length; i++) {
            means[i] = stats[i] / seenThisEpoch; // in float, as the figures always were
        }
        return means;
    }

    private void readStats() {
        if (parallel != null) {
            parallel.readStats(stats);
        } else {
            backend.copyOut(network.trainStats(), stats, 0);
        }
    }

    private void resetStats() {
        if (parallel != null) {
            parallel.resetStats();
            return;
        }
        backend.fill(network.trainStats(), 0f);
        fillCounts();
    }

    @Override
    public double dataWaitShare() {
        double seconds = epochSeconds();
        return seconds <= 0 ? 0 : Math.min(1, epochDataWait / seconds);
    }

    @Override
    public double learningRate() {
        return updater.learningRate();
    }

    @Override
    public void learningRate(double rate) {
        updater.learningRate(rate);
    }

    @Override
    public String learningRateSchedule() {
        if (!updater.followsSchedule()) {
            return null;
        }
        return optimizer.schedule() == null ? "of its optimizer" : optimizer.schedule().className();
    }

    @Override
    public double epochSeconds() {
        return (System.nanoTime() - epochStart) / 1e9;
    }
}
