package dev.osprey;

import dev.osprey.callbacks.Callback;
import java.util.ArrayList;
import java.util.List;

/** fit's keyword arguments, Keras' names and defaults: epochs 1, batch size 32, shuffle on. */
public final class FitOptions {
    int epochs = 1;
    int batchSize = 32;
    NDArray validationX;
    NDArray validationY;
    double validationSplit;
    boolean shuffle = true;
    Long seed;
    boolean verbose = true;
    boolean keepDataResident = true;
    final List<Callback> callbacks = new ArrayList<>();

    /** New options with the defaults: epochs 1, batch size 32, shuffle on. */
    public static FitOptions defaults() {
        return new FitOptions();
    }

    /** Passes over the training data (default 1). */
    public FitOptions epochs(int epochs) {
        if (epochs <= 0) {
            throw new IllegalArgumentException("fit: expected epochs > 0, received epochs=" + epochs);
        }
        this.epochs = epochs;
        return this;
    }

    /** Samples per training step (default 32). */
    public FitOptions batchSize(int batchSize) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("fit: expected batch size > 0, received batch_size=" + batchSize);
        }
        this.batchSize = batchSize;
        return this;
    }

    /**
     * Data evaluated after every epoch (Keras' {@code validation_data}); takes precedence over {@link
     * #validationSplit}.
     */
    public FitOptions validationData(NDArray x, NDArray y) {
        this.validationX = x;
        this.validationY = y;
        return this;
    }

    /** Holds out the last share of the samples (before shuffling), as Keras does. */
    public FitOptions validationSplit(double split) {
        if (!(split >= 0 && split < 1)) {
            throw new IllegalArgumentException("fit: expected 0 <= validation split < 1, received " + split);
        }
        this.validationSplit = split;
        return this;
    }

    /** Shuffles the training samples before every epoch (default on). */
    public FitOptions shuffle(boolean shuffle) {
        this.shuffle = shuffle;
        return this;
    }

    /** Seed for shuffling and dropout; defaults to the model's seed. */
    public FitOptions seed(long seed) {
        this.seed = seed;
        return this;
    }

    /** Progress on standard output (default on). */
    public FitOptions verbose(boolean verbose) {
        this.verbose = verbose;
        return this;
    }

    /**
     * Hand in-memory training arrays to the backend whole: on a GPU they stay in device memory (as byte codes when
     * they have at most 256 distinct values, as 8-bit images do) and each batch is gathered there. Default on;
     * a GPU without room for them falls back to copying each batch, with a log line.
     */
    public FitOptions keepDataResident(boolean on) {
        this.keepDataResident = on;
        return this;
    }

    /** Adds callbacks that fit calls during training. */
    public FitOptions callbacks(Callback... callbacks) {
        this.callbacks.addAll(List.of(callbacks));
        return this;
    }

    // ---- what the trainer reads ---------------------------------------------------------------------------

    /** The number of epochs. */
    public int epochs() {
        return epochs;
    }

    /** The batch size. */
    public int batchSize() {
        return batchSize;
    }

    /** Whether the samples are shuffled every epoch. */
    public boolean shuffle() {
        return shuffle;
    }

    /** Whether progress is printed. */
    public boolean verbose() {
        return verbose;
    }

    /** Whether in-memory arrays are handed to the backend whole (see {@link #keepDataResident(boolean)}). */
    public boolean keepDataResident() {
        return keepDataResident;
    }

    /** The callbacks, in the order they were added (read-only). */
    public List<Callback> callbacks() {
        return java.util.Collections.unmodifiableList(callbacks);
    }
}
