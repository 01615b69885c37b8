package dev.osprey.callbacks;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Keras' BackupAndRestore: training that is interrupted (a crash, a killed process, a preempted machine) goes on where
 * it stopped when the same fit is run again. After each epoch (and, with a save frequency, every that many batches
 * within an epoch) the model, with its optimizer state, is saved in the backup folder; a fit that finds a backup there
 * first restores the weights and optimizer state (steps taken, moments, the rate a schedule reached) and starts where
 * the backup was taken: at the next epoch, or within an epoch after the batches it had trained (skipped), each
 * epoch shuffled and seeded as in the uninterrupted run, so that with a fixed {@code FitOptions.seed} the resumed run
 * ends with the same weights. When fit ends normally (also by early stopping) the backup is deleted, so the next fit
 * starts afresh.
 *
 * <p>An epoch resumed part way logs the loss and training metrics of the batches it trained after the resume (its
 * validation figures are whole). A backup taken within an epoch needs the same data and batch size to be resumed.
 *
 * <p>fit runs this callback's epoch end after every other callback's, so the backup holds what they changed (a rate
 * ReduceLROnPlateau lowered). What is not restored, as in Keras: other callbacks' own state (EarlyStopping's patience,
 * ReduceLROnPlateau's wait, ModelCheckpoint's best figure, so a best-only checkpoint may be overwritten by the first
 * resumed epoch) and the History of the epochs before the interruption. Saves are atomic (a file is complete or
 * absent), and the previous epoch's file is deleted only once the new one is in place. In distributed training every
 * process restores from and saves to its own view of the folder: give them one shared folder.
 */
public final class BackupAndRestore implements Callback {
    /**
     * epoch-E.osprey: E epochs done; epoch-E-batch-B-of-S.osprey: E epochs and B batches of the next, of S batches an
     * epoch, done. Numbers take 5 and 7 digits, more when they grow past them.
     */
    private static final Pattern FILE = Pattern.compile("epoch-(\\d{5,})(?:-batch-(\\d{7,})-of-(\\d{7,}))?\\.osprey");
    private static final Pattern TEMPORARY = Pattern.compile(
            "\\.epoch-\\d{5,}(?:-batch-\\d{7,}-of-\\d{7,})?\\.osprey\\..+");

    private final Path folder;
    private final boolean deleteOnEnd;
    private final int saveFrequency; // batches between backups within an epoch; 0: at epochs' ends only
    private int epoch;               // the epoch running (onEpochBegin)

    /**
     * Where a backup leaves training: epochs finished, and batches of the next epoch trained, of batchesPerEpoch (both
     * 0 for a backup taken at an epoch's end).
     */
    public record Progress(int epochs, int batches, int batchesPerEpoch) {
        /** At the end of this many epochs. */
        public static Progress afterEpochs(int epochs) {
            return new Progress(epochs, 0, 0);
        }

        /** "after epoch 2" or "after batch 30 of epoch 3" (epochs counted from 1). */
        @Override
        public String toString() {
            return batches == 0 ? "after epoch " + epochs : "after batch " + batches + " of epoch " + (epochs + 1);
        }
    }

    /** Backs up into folder (made when missing), deleting the backup when fit ends normally. */
    public BackupAndRestore(Path folder) {
        this(folder, true);
    }

    /**
     * Backs up into folder (made when missing); deleteCheckpoint (Keras' delete_checkpoint) false keeps the last epoch's
     * backup when fit ends.
     */
    public BackupAndRestore(Path folder, boolean deleteCheckpoint) {
        this(folder, 0, deleteCheckpoint);
    }

    /**
     * Backs up into folder (made when missing) after each epoch and, with saveFrequency above 0 (Keras' integer
     * save_freq), also after every saveFrequency batches of an epoch. Unlike Keras', which counts batches across
     * epochs, the count starts again with each epoch, whose last batch is backed up as the epoch's end. A backup within
     * an epoch is left out while the epoch's loss is NaN or infinite, so a run that diverges keeps its last good backup
     * (the loss, not the weights, is checked: an update that spoils the weights shows in the next batch's loss; in
     * multi-process training each process checks the loss of its own share).
     * Each backup writes the whole model with its optimizer state: take a frequency whose batches take much longer than
     * that. deleteCheckpoint false keeps the last backup when fit ends.
     */
    public BackupAndRestore(Path folder, int saveFrequency, boolean deleteCheckpoint) {
        if (saveFrequency < 0) {
            throw new IllegalArgumentException("BackupAndRestore: expected a save frequency of 1 batch or more, or 0 "
                    + "for each epoch's end only, received " + saveFrequency);
        }
        if (folder == null) {
            throw new IllegalArgumentException("BackupAndRestore: expected a backup folder, received null");
        }
        if (Files.exists(folder) && !Files.isDirectory(folder)) {
            throw new IllegalArgumentException("BackupAndRestore: expected a folder for the backup, received the file "
                    + folder);
        }
        this.folder = folder;
        this.deleteOnEnd = deleteCheckpoint;
        this.saveFrequency = saveFrequency;
    }

    /** The backup folder. */
    public Path folder() {
        return folder;
    }

    /** Batches between backups within an epoch; 0 where it backs up at epochs' ends only. */
    public int saveFrequency() {
        return saveFrequency;
    }

    /** The epochs the folder's backup had completed, or -1 where it holds none. */
    public int backedUpEpochs() {
        Progress p = backedUp();
        return p == null ? -1 : p.epochs();
    }

    /** Where the folder's backup leaves training, or null where it holds none. */
    public Progress backedUp() {
        Path latest = latest();
        return latest == null ? null : progressOf(latest);
    }

    /**
     * Called by fit before it trains (not a callback method): where the folder holds a backup, puts its weights and
     * optimizer state into model and returns where it leaves training, which fit starts at; null where there is none.
     * Throws IllegalArgumentException when the backup is of another model or optimizer, naming what differs.
     */
    public Progress restore(Model model) {
        deleteTemporaries();
        Path latest = latest();
        if (latest == null) {
            return null;
        }
        Model saved;
        try {
            saved = Model.load(latest, Device.cpu());
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("BackupAndRestore: could not read the backup " + latest + ": " + e
                    + " (delete it to start afresh)", e);
        }
        try (saved) {
            List<NDArray> weights = saved.getWeights();
            Model.OptimizerState state = saved.optimizerState();
            requireSameModel(model, saved, weights, state, latest);
            model.setWeights(weights);
            if (state != null) {
                model.restoreOptimizerState(state);
            }
        }
        return progressOf(latest);
    }

    /**
     * Refuses, before anything of model changes, a backup of other weights (names or shapes) or of another optimizer
     * (name or state).
     */
    private static void requireSameModel(Model model, Model saved, List<NDArray> weights, Model.OptimizerState state,
                                         Path file) {
        List<String> expected = model.weightPaths();
        List<String> shapes = new ArrayList<>();
        List<String> savedShapes = new ArrayList<>();
        List<NDArray> current = model.getWeights();
        for (int i = 0; i < current.size(); i++) {
            shapes.add(expected.get(i) + java.util.Arrays.toString(current.get(i).shape()));
        }
        for (int i = 0; i < weights.size(); i++) {
            savedShapes.add(saved.weightPaths().get(i) + java.util.Arrays.toString(weights.get(i).shape()));
        }
        if (!shapes.equals(savedShapes)) {
            throw new IllegalArgumentException("BackupAndRestore: the backup " + file + " is of another model: expected "
                    + "the weights " + shapes + ", received " + savedShapes + " (delete the folder's backup to start "
                    + "afresh)");
        }
        int steps = model.optimizer() == null ? 1 : model.optimizer().gradientAccumulationSteps();
        int savedSteps = saved.optimizer() == null ? 1 : saved.optimizer().gradientAccumulationSteps();
        if (steps != savedSteps) { // its step counts and pending gradient sum mean another grouping
            throw new IllegalArgumentException("BackupAndRestore: the backup " + file + " accumulated gradients over "
                    + savedSteps + " batches per update; expected " + steps + " as this model's optimizer does "
                    + "(delete the folder's backup to start afresh)");
        }
        String optimizer = model.optimizer() == null ? null : model.optimizer().name();
        String savedOptimizer = saved.optimizer() == null ? null : saved.optimizer().name();
        java.util.Set<String> slots = model.optimizerSlotNames();
        if (!java.util.Objects.equals(optimizer, savedOptimizer)
                || state != null && !state.slots().keySet().equals(slots)) {
            throw new IllegalArgumentException("BackupAndRestore: the backup " + file + " was trained with another "
                    + "optimizer: expected " + optimizer + " with the state " + slots + ", received " + savedOptimizer
                    + (state == null ? "" : " with the state " + state.slots().keySet()) + " (delete the folder's "
                    + "backup to start afresh)");
        }
    }

    /** Deletes what an interrupted save left (the atomic writes' hidden temporary files). */
    private void deleteTemporaries() {
        if (!Files.isDirectory(folder)) {
            return;
        }
        try (Stream<Path> files = Files.list(folder)) {
            for (Path p : files.toList()) {
                if (TEMPORARY.matcher(p.getFileName().toString()).matches()) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("BackupAndRestore: could not clean the backup folder " + folder, e);
        }
    }

    @Override
    public void onEpochBegin(int epoch, Training training) {
        this.epoch = epoch;
    }

    @Override
    public void onBatchEnd(int batch, Training training) {
        int done = batch + 1;
        if (saveFrequency > 0 && done % saveFrequency == 0 && done < training.stepsPerEpoch()) {
            if (!Double.isFinite(training.loss())) { // diverged: keep the last good backup (fit stops soon)
                return;
            }
            save(new Progress(epoch, done, training.stepsPerEpoch()), training);
        }
    }

    @Override
    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
        save(Progress.afterEpochs(epoch + 1), training);
    }

    /** Saves the model as the backup of progress, then deletes the older backups. */
    private void save(Progress progress, Training training) {
        String name = progress.batches() == 0
                ? String.format(java.util.Locale.ROOT, "epoch-%05d.osprey", progress.epochs())
                : String.format(java.util.Locale.ROOT, "epoch-%05d-batch-%07d-of-%07d.osprey", progress.epochs(),
                        progress.batches(), progress.batchesPerEpoch());
        Path file = folder.resolve(name);
        try {
            Files.createDirectories(folder);
            training.model().save(file);
            for (Path old : backups()) {
                if (!old.equals(file)) {
                    Files.deleteIfExists(old);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("BackupAndRestore: could not back up " + progress + " to " + file, e);
        }
    }

    @Override
    public void onTrainEnd(Training training) {
        if (!deleteOnEnd) {
            return;
        }
        try {
            for (Path old : backups()) {
                Files.deleteIfExists(old);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("BackupAndRestore: could not delete the backup in " + folder, e);
        }
    }

    /** The backup of the most progress in the folder, or null. */
    private Path latest() {
        java.util.Comparator<Progress> order = java.util.Comparator.comparingInt(Progress::epochs)
                .thenComparingInt(Progress::batches);
        Path best = null;
        for (Path p : backups()) {
            if (best == null || order.compare(progressOf(p), progressOf(best)) > 0) {
                best = p;
            }
        }
        return best;
    }

    private List<Path> backups() {
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(folder)) {
            List<Path> found = new ArrayList<>();
            files.filter(p -> FILE.matcher(p.getFileName().toString()).matches() && fitsInt(p)).forEach(found::add);
            return found;
        } catch (IOException e) {
            throw new UncheckedIOException("BackupAndRestore: could not list the backup folder " + folder, e);
        }
    }

    /** Whether the numbers of a file that FILE matches fit an int (longer ones are no backup of ours). */
    private static boolean fitsInt(Path file) {
        Matcher m = FILE.matcher(file.getFileName().toString());
        m.matches();
        for (int g = 1; g <= m.groupCount(); g++) {
            if (m.group(g) != null && m.group(g).length() > 9) {
                return false;
            }
        }
        return true;
    }

    private static Progress progressOf(Path file) {
        Matcher m = FILE.matcher(file.getFileName().toString());
        if (!m.matches()) {
            throw new IllegalStateException("not a backup file: " + file);
        }
        return m.group(2) == null ? Progress.afterEpochs(Integer.parseInt(m.group(1)))
                : new Progress(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
    }
}
