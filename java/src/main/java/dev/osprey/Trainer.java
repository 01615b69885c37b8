package dev.osprey;

import dev.osprey.backend.Backend;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.ProgressBar;
import dev.osprey.callbacks.Training;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Optimizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One fit call: epochs of shuffled batches through forward, fused softmax cross-entropy, backward and one
 * optimizer step. Loss and accuracy accumulate on the backend and are read only when someone looks.
 */
final class Trainer implements Training {
    /** Even without a progress display, the running loss is checked this often for NaN. */
    private static final int NAN_CHECK_INTERVAL = 50;

    private final Sequential model;
    private final Network network;
    private final Backend backend;
    private final Loss loss;
    private final Optimizer optimizer;
    private final Optimizer.Updater updater;
    private final FitOptions options;
    private final List<Callback> callbacks = new ArrayList<>();
    private final float[] stats = new float[2];
    private int stepsPerEpoch;
    private int seenThisEpoch;
    private long epochStart;
    private double epochDataWait;
    private boolean stopRequested;

    Trainer(Sequential model, Network network, Loss loss, Optimizer optimizer, Optimizer.Updater updater,
            FitOptions options) {
        this.model = model;
        this.network = network;
        this.backend = network.backend;
        this.loss = loss;
        this.optimizer = optimizer;
        this.updater = updater;
        this.options = options;
        if (options.verbose) {
            callbacks.add(ProgressBar.toStandardOutput());
        }
        callbacks.addAll(options.callbacks);
    }

    History fit(BatchSource train, BatchSource validation, long seed) {
        int n = train.size();
        int batch = Math.min(options.batchSize, n);
        stepsPerEpoch = (n + batch - 1) / batch;
        History history = new History();
        callbacks.forEach(c -> c.onTrainBegin(this));
        for (int epoch = 0; epoch < options.epochs && !stopRequested; epoch++) {
            train.startEpoch(epoch, batch, options.shuffle, seed);
            backend.fill(network.trainStats, 0f);
            seenThisEpoch = 0;
            epochStart = System.nanoTime();
            for (Callback c : callbacks) {
                c.onEpochBegin(epoch, this);
            }
            int step = 0;
            for (BatchSource.Batch b = train.next(); b != null; b = train.next(), step++) {
                trainStep(network.plan(b.count()), b, seed ^ updater.iterations() * 0x9E3779B97F4A7C15L);
                seenThisEpoch += b.count();
                if ((step + 1) % NAN_CHECK_INTERVAL == 0) {
                    checkFinite(loss(), epoch, step);
                }
                for (Callback c : callbacks) {
                    c.onBatchEnd(step, this);
                }
            }
            epochDataWait = train.waitSeconds();
            Map<String, Double> logs = new LinkedHashMap<>();
            logs.put("loss", loss());
            checkFinite(logs.get("loss"), epoch, stepsPerEpoch - 1);
            if (model.reportsAccuracy()) {
                logs.put("accuracy", accuracy());
            }
            if (validation != null) {
                double[] val = model.evaluateOn(network, validation, batch);
                logs.put("val_loss", val[0]);
                if (model.reportsAccuracy()) {
                    logs.put("val_accuracy", val[1]);
                }
            }
            history.record(logs);
            for (Callback c : callbacks) {
                c.onEpochEnd(epoch, logs, this);
            }
        }
        callbacks.forEach(c -> c.onTrainEnd(this));
        return history;
    }

    private void trainStep(BatchPlan plan, BatchSource.Batch b, long seed) {
        plan.loadInput(b.x(), 0);
        loss.targets(b.labels(), b.count(), network.outputShape().size(), plan.hostTargets);
        backend.copyIn(plan.hostTargets, 0, plan.targets);
        plan.forward(true, seed);
        backend.softmaxCrossEntropy(plan.logits(), plan.targets, plan.dLogits, network.trainStats);
        plan.backward();
        updater.step();
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
    public Sequential model() {
        return model;
    }

    @Override
    public int epochs() {
        return options.epochs;
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
        backend.copyOut(network.trainStats, stats, 0);
        return seenThisEpoch == 0 ? 0 : stats[0] / seenThisEpoch;
    }

    @Override
    public double accuracy() {
        backend.copyOut(network.trainStats, stats, 0);
        return seenThisEpoch == 0 ? 0 : stats[1] / seenThisEpoch;
    }

    @Override
    public double dataWaitShare() {
        double seconds = epochSeconds();
        return seconds <= 0 ? 0 : Math.min(1, epochDataWait / seconds);
    }

    @Override
    public double epochSeconds() {
        return (System.nanoTime() - epochStart) / 1e9;
    }
}
