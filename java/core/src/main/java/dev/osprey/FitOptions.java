package dev.osprey;

import dev.osprey.callbacks.Callback;
import java.util.ArrayList;
import java.util.List;

/** fit's keyword arguments, Keras' names and defaults: epochs 1, batch size 32, shuffle on. */
public final class FitOptions {
    int epochs = 1;
    int batchSize = 32;
    NDArray validationX;
    java.util.List<NDArray> validationInputs; // validation data of a model of several inputs, one array each
    NDArray validationY;
    java.util.List<NDArray> validationLabels; // validation labels of a model of several outputs, one array each
    java.util.Map<String, NDArray> validationInputsByName; // or each input's validation array by its name
    java.util.Map<String, NDArray> validationLabelsByName; // and each output's labels by its name
    double validationSplit;
    boolean shuffle = true;
    Long seed;
    boolean verbose = true;
    private int initialEpoch;
    boolean keepDataResident = true;
    final List<Callback> callbacks = new ArrayList<>();
    private double[] classWeight;
    private float[] sampleWeight;
    private float[][] sampleWeights; // per output (Keras' sample_weight as a list)
    private List<String> devices = List.of();
    private dev.osprey.engine.parallel.Communicator communicator;
    private int rank;

    /** {@link #devices(String...)}'s name for every GPU here. */
    public static final String ALL_DEVICES = "all";

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

    /**
     * Keras' initial_epoch: the epoch (counted from 0) at which to start, to go on with a run that stopped; fit then
     * runs epochs initialEpoch to epochs - 1 (so {@link #epochs} stays the run's total), shuffling and seeding each as
     * the whole run would. The model's weights and optimizer state must be where that run left them: a model saved by
     * {@link dev.osprey.callbacks.ModelCheckpoint}, or see {@link dev.osprey.callbacks.BackupAndRestore}, which does
     * all of it. Default 0.
     */
    public FitOptions initialEpoch(int epoch) {
        if (epoch < 0) {
            throw new IllegalArgumentException("fit: expected initialEpoch >= 0, received " + epoch);
        }
        this.initialEpoch = epoch;
        return this;
    }

    /** The epoch fit starts at (see {@link #initialEpoch(int)}). */
    public int initialEpoch() {
        return initialEpoch;
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
        if ((x == null) != (y == null)) {
            throw new IllegalArgumentException("fit: expected validation samples and their labels, received "
                    + (x == null ? "labels without samples" : "samples without labels"));
        }
        this.validationX = x;
        this.validationInputs = null;
        this.validationY = y;
        this.validationLabels = null;
        this.validationInputsByName = null;
        this.validationLabelsByName = null;
        return this;
    }

    /**
     * {@link #validationData(NDArray, NDArray)} for a model of several inputs ({@code validation_data=([xa, xb], y)}):
     * one array per model input, in the model's input order.
     */
    public FitOptions validationData(java.util.List<NDArray> inputs, NDArray y) {
        if (inputs == null) {
            throw new IllegalArgumentException("fit: expected validation input arrays, received null");
        }
        this.validationInputs = java.util.Collections.unmodifiableList(new java.util.ArrayList<>(inputs));
        this.validationX = null;
        this.validationY = y;
        this.validationLabels = null;
        this.validationInputsByName = null;
        this.validationLabelsByName = null;
        return this;
    }

    /**
     * Validation data of a model of several outputs ({@code validation_data=([xa, xb], [ya, yb])}): one array per model
     * input and one label array per output, each in the model's order (a model of one input takes a list of one).
     */
    public FitOptions validationData(java.util.List<NDArray> inputs, java.util.List<NDArray> labels) {
        if (labels == null) {
            throw new IllegalArgumentException("fit: expected validation label arrays, received null");
        }
        validationData(inputs, (NDArray) null);
        this.validationLabels = java.util.Collections.unmodifiableList(new java.util.ArrayList<>(labels));
        return this;
    }

    /**
     * Validation data by name ({@code validation_data=({"image": va, "meta": vb}, {"kind": vy, "box": vz})}): each
     * input's array by the input's name and each output's labels by the output's name, as
     * {@link Model#fit(java.util.Map, java.util.Map, FitOptions)} takes the training data.
     */
    public FitOptions validationData(java.util.Map<String, NDArray> inputs, java.util.Map<String, NDArray> labels) {
        if (inputs == null || labels == null) {
            throw new IllegalArgumentException("fit: expected validation " + (inputs == null ? "inputs" : "labels")
                    + " by name, received null");
        }
        validationData((NDArray) null, (NDArray) null);
        this.validationInputsByName = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(inputs));
        this.validationLabelsByName = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(labels));
        return this;
    }

    /** Whether validation arrays were given (in any of validationData's forms). */
    boolean hasValidationArrays() {
        return validationX != null || validationInputs != null || validationInputsByName != null || validationY != null;
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

    /**
     * Keras' class_weight: each training sample's loss (and gradient) is multiplied by the weight of its class, one
     * weight >= 0 per class of the model's output (null: all 1). Validation figures stay unweighted, as in Keras.
     * {@link #balancedClassWeights} gives the weights that make every class count alike.
     */
    public FitOptions classWeight(double... weights) {
        if (weights != null) {
            for (double w : weights) {
                if (!(w >= 0) || Double.isInfinite(w)) {
                    throw new IllegalArgumentException("classWeight: expected weights >= 0, received "
                            + java.util.Arrays.toString(weights));
                }
            }
        }
        this.classWeight = weights == null ? null : weights.clone();
        return this;
    }

    /**
     * Keras' sample_weight for fit(x, y, options) on arrays: one weight >= 0 per sample of x, multiplying that
     * sample's loss and gradient (and its class weight, when both are given). The batch's loss stays the weighted sum
     * over its samples divided by their count, as Keras reduces. With validationSplit the weights are split like the
     * samples; validation figures stay unweighted.
     */
    public FitOptions sampleWeight(float... weights) {
        if (weights != null) {
            for (int i = 0; i < weights.length; i++) {
                if (!(weights[i] >= 0) || Float.isInfinite(weights[i])) {
                    throw new IllegalArgumentException("sampleWeight: expected finite weights >= 0, received "
                            + weights[i] + " for sample " + i);
                }
            }
        }
        this.sampleWeight = weights == null ? null : weights.clone();
        return this;
    }

    /**
     * Keras' sample_weight as a list, for a model of several outputs trained by fit on arrays: per output, in the
     * model's output order, one weight >= 0 per sample of x, weighting that output's loss alone; a null entry leaves
     * its output unweighted (weights of 1). A weight of 0 leaves a sample out of one output's loss and gradient, as for
     * samples whose label for that output is missing (a placeholder in its label array: a valid class, any finite
     * value); metrics stay unweighted, as Keras' metrics (not weighted_metrics) do, so a placeholder still counts in an
     * output's accuracy. {@link #sampleWeight} weights every output alike instead: fit refuses both at once. With
     * validationSplit the weights are split like the samples; validation figures stay unweighted.
     */
    public FitOptions sampleWeights(List<float[]> perOutput) {
        if (perOutput == null) {
            this.sampleWeights = null;
            return this;
        }
        if (perOutput.isEmpty()) {
            throw new IllegalArgumentException("sampleWeights: expected one weight array (or null) per output, "
                    + "received an empty list");
        }
        float[][] copy = new float[perOutput.size()][];
        for (int o = 0; o < copy.length; o++) {
            float[] weights = perOutput.get(o);
            if (weights == null) {
                continue;
            }
            for (int i = 0; i < weights.length; i++) {
                if (!(weights[i] >= 0) || Float.isInfinite(weights[i])) {
                    throw new IllegalArgumentException("sampleWeights: expected finite weights >= 0, received "
                            + weights[i] + " for sample " + i + " of output " + (o + 1));
                }
            }
            copy[o] = weights.clone();
        }
        this.sampleWeights = copy;
        return this;
    }

    /**
     * scikit-learn's and Keras users' "balanced" weights for labels (class indices, or one-hot rows) of this many
     * classes: samples / (classes * samples of the class); a class with no sample gets 0.
     */
    public static double[] balancedClassWeights(NDArray labels, int classes) {
        long[] counts = new long[classes];
        int rows = labels.rows();
        int[] classOf = labels.rowSize() == 1 ? null : labels.argMax();
        for (int i = 0; i < rows; i++) {
            int c = classOf != null ? classOf[i] : (int) labels.data()[i];
            if (c < 0 || c >= classes) {
                throw new IllegalArgumentException("balancedClassWeights: expected classes in [0, " + classes
                        + "), received " + c + " at " + i);
            }
            counts[c]++;
        }
        double[] w = new double[classes];
        for (int c = 0; c < classes; c++) {
            w[c] = counts[c] == 0 ? 0 : (double) rows / ((double) classes * counts[c]);
        }
        return w;
    }

    /**
     * Trains data-parallel on these devices ("cpu", "cuda:0", "cuda:1", ..., or {@link #ALL_DEVICES} for every GPU
     * here): one replica per device, each step's batch split across them and their gradients summed, with the
     * semantics of one large batch (BatchNorm normalizes per replica, as PyTorch's DDP does). The first device must be
     * the model's own; "cpu" may repeat, giving several replicas on the CPU backend. Default: none, the model's device
     * alone.
     */
    public FitOptions devices(String... names) {
        if (names.length == 0) {
            throw new IllegalArgumentException("fit: expected at least one device, received none");
        }
        for (String n : names) {
            if (n == null || n.isBlank()) {
                throw new IllegalArgumentException("fit: expected device names, received " + java.util.Arrays.toString(names));
            }
        }
        this.devices = List.of(names);
        return this;
    }

    /**
     * Trains as rank {@code rank} of a data-parallel training spread over processes (Spark's barrier tasks, say): this
     * model is one replica, its batches are its part of the global batch (every rank must give batches of the same
     * size, and the same number of them), and gradients are summed through communicator, which the caller keeps. Every
     * rank must start from the same weights. Not together with {@link #devices(String...)}.
     */
    public FitOptions distributed(dev.osprey.engine.parallel.Communicator communicator, int rank) {
        java.util.Objects.requireNonNull(communicator, "communicator");
        if (rank < 0 || rank >= communicator.size()) {
            throw new IllegalArgumentException("fit: expected a rank in [0, " + communicator.size() + "), received "
                    + rank);
        }
        this.communicator = communicator;
        this.rank = rank;
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

    /** The class weights, or null for none (see {@link #classWeight}). */
    public double[] classWeight() {
        return classWeight == null ? null : classWeight.clone();
    }

    /** The sample weights, or null for none (see {@link #sampleWeight}). */
    public float[] sampleWeight() {
        return sampleWeight == null ? null : sampleWeight.clone();
    }

    /** The sample weights per output, or null for none (see {@link #sampleWeights}); an entry is null for 1s. */
    public List<float[]> sampleWeights() {
        if (sampleWeights == null) {
            return null;
        }
        List<float[]> copy = new ArrayList<>(sampleWeights.length);
        for (float[] w : sampleWeights) {
            copy.add(w == null ? null : w.clone());
        }
        return java.util.Collections.unmodifiableList(copy);
    }

    /**
     * Sample weight values at the end of each label row fit hands the trainer: 0 (unweighted), 1 ({@link #sampleWeight},
     * for every output) or one per output ({@link #sampleWeights}).
     */
    public int sampleWeightColumns() {
        return sampleWeight != null ? 1 : sampleWeights != null ? sampleWeights.length : 0;
    }

    /** The devices named by {@link #devices(String...)}, or none. */
    public List<String> deviceNames() {
        return devices;
    }

    /** The communicator of {@link #distributed}, or null. */
    public dev.osprey.engine.parallel.Communicator communicator() {
        return communicator;
    }

    /** This process's rank in {@link #communicator()}. */
    public int rank() {
        return rank;
    }

    /** The callbacks, in the order they were added (read-only). */
    public List<Callback> callbacks() {
        return java.util.Collections.unmodifiableList(callbacks);
    }
}
