package dev.osprey.cli;

import dev.osprey.ArrayBatchSource;
import dev.osprey.FitOptions;
import dev.osprey.NDArray;
import dev.osprey.data.AugmentedArrays;
import dev.osprey.History;
import dev.osprey.Models;
import dev.osprey.MixedPrecision;
import dev.osprey.Model;
import dev.osprey.backend.Device;
import dev.osprey.Shape;
import dev.osprey.data.LabeledData;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageBatchSource;
import dev.osprey.data.images.ImageFolder;
import dev.osprey.data.images.Preprocessing;
import java.util.ArrayList;
import java.util.List;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model (the tutorial CNN unless --model says otherwise) and report test accuracy. Without "
                + "options: the tutorial CNN, 10 epochs on the bundled sample.")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    DataOptions data = new DataOptions();

    @Mixin
    ImageOptions imageOptions = new ImageOptions();

    @Option(names = "--model", defaultValue = "tutorial", description = "tutorial, resnet20 (resnet32, resnet56, any "
            + "6n+2), resnet18, resnet34, resnet50, mobilenetv2[_ALPHA], mobilenetv3large, mobilenetv3small, "
            + "efficientnetb0, convnexttiny, vitb16 or vittiny. Default: ${DEFAULT-VALUE}.")
    String modelName;

    @Option(names = "--drop-path-rate", defaultValue = "0", description = "Stochastic depth for efficientnetb0 "
            + "(Keras' drop_connect_rate, its default 0.2) and convnexttiny (torchvision trains it with 0.1): the rate "
            + "of the last residual block, rising linearly from 0. Default: ${DEFAULT-VALUE} (none).")
    double dropPathRate;

    @Option(names = "--lr-schedule", defaultValue = "constant", description = "constant, or cosine: Keras' "
            + "CosineDecay per step from the learning rate to 0 over the run, after --warmup-epochs of linear warm-up "
            + "from 0. Default: ${DEFAULT-VALUE}.")
    String lrSchedule;

    @Option(names = "--class-weight", defaultValue = "none", description = "none, or auto: Keras users' balanced "
            + "class weights (samples / (classes * samples of the class)), so that rare classes count as much as "
            + "common ones. Default: ${DEFAULT-VALUE}.")
    String classWeight;

    @Option(names = "--warmup-epochs", defaultValue = "0", description = "With --lr-schedule cosine: epochs of linear "
            + "warm-up from 0 to the learning rate. Default: ${DEFAULT-VALUE}.")
    int warmupEpochs;

    @Option(names = "--epochs", defaultValue = "10", description = "Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "32", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--learning-rate", defaultValue = "0.001", description = "The optimizer's learning rate. Default: ${DEFAULT-VALUE}.")
    double learningRate;

    @Option(names = "--optimizer", defaultValue = "adam", description = "adam, adamw, sgd or rmsprop (Keras' other defaults; sgd "
            + "without momentum). Default: ${DEFAULT-VALUE}.")
    String optimizerName;

    @Option(names = "--label-smoothing", defaultValue = "0", description = "Softens the targets: y * (1 - S) + S / "
            + "classes (Keras' label_smoothing). Default: ${DEFAULT-VALUE}.")
    double labelSmoothing;

    @Option(names = "--precision", defaultValue = "fp32", description = "How convolutions and dense layers multiply "
            + "while training: fp32, bf16 (mixed precision, Keras' mixed_bfloat16: bf16 products with fp32 sums, "
            + "weights and saved model; on CPUs with AVX512_BF16 or AMX and GPUs from Ampere on), or fp16 (mixed_float16, with dynamic loss "
            + "scaling; on GPUs with tensor cores). Elsewhere one line says why and training runs in fp32. "
            + "Default: ${DEFAULT-VALUE}.")
    String precision;

    @Option(names = "--metrics", defaultValue = "accuracy", split = ",", description = "Metrics to report each "
            + "epoch beside the loss, for the training and the validation data: accuracy, top_k_categorical_accuracy, "
            + "precision, recall, f1_score, auc, mae, mse, root_mean_squared_error (accuracy is always on). "
            + "Default: ${DEFAULT-VALUE}.")
    List<String> metricNames;

    /** accuracy, then the metrics asked for. */
    Metric[] metrics() {
        java.util.Set<Metric> m = java.util.EnumSet.of(Metric.ACCURACY);
        for (String name : metricNames) {
            m.add(Metric.of(name));
        }
        return m.toArray(Metric[]::new);
    }

    @Option(names = "--weight-decay", description = "Keras' decoupled weight decay, biases and BatchNorm's weights "
            + "excluded (adamw's default 0.004; adam and sgd: none).")
    Double weightDecay;

    /** Cross-entropy on class numbers, with the label smoothing asked for. */
    Loss loss() {
        return Loss.sparseCategoricalCrossentropy().labelSmoothing(labelSmoothing);
    }

    /** The optimizer with the learning-rate schedule the options name, for a run over this many training samples. */
    dev.osprey.optim.Optimizer optimizer(long trainingSamples) {
        dev.osprey.optim.Optimizer o = optimizer();
        switch (lrSchedule) {
            case "constant" -> {
                return o;
            }
            case "cosine" -> {
                long perEpoch = (trainingSamples + batchSize - 1) / batchSize;
                long warmup = (long) warmupEpochs * perEpoch;
                long total = Math.max(1, (long) epochs * perEpoch);
                if (warmupEpochs < 0 || warmupEpochs >= epochs) {
                    throw new IllegalArgumentException("expected 0 <= --warmup-epochs < --epochs (" + epochs
                            + "), received " + warmupEpochs);
                }
                var cosine = new dev.osprey.optim.schedules.CosineDecay(warmup > 0 ? 0 : learningRate,
                        total - warmup);
                return o.learningRate(warmup > 0 ? cosine.withWarmup(learningRate, warmup) : cosine);
            }
            default -> throw new IllegalArgumentException("expected --lr-schedule constant or cosine, received '"
                    + lrSchedule + "'");
        }
    }

    @Option(names = "--ema", description = "Keeps a moving average of the weights with this momentum (Keras' "
            + "use_ema, e.g. 0.999), which becomes the saved model's weights when training ends. Default: none.")
    Double ema;

    @Option(names = "--gradient-accumulation-steps", defaultValue = "1", description = "Updates the weights every N "
            + "batches from the mean of their gradients (Keras' gradient_accumulation_steps): batches N times "
            + "--batch-size in the memory of one. Default: ${DEFAULT-VALUE} (every batch).")
    int accumulationSteps;

    /**
     * The optimizer the options name, with weight decay kept off biases and BatchNorm's gamma and beta, and the moving
     * average of --ema.
     */
    dev.osprey.optim.Optimizer optimizer() {
        dev.osprey.optim.Optimizer o = plainOptimizer();
        o = accumulationSteps == 1 ? o : o.gradientAccumulationSteps(accumulationSteps);
        return ema == null ? o : o.useEma(ema);
    }

    private dev.osprey.optim.Optimizer plainOptimizer() {
        String[] excluded = {"/(bias|gamma|beta)$"};
        return switch (optimizerName.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "adam" -> new Adam(learningRate).weightDecay(weightDecay == null ? 0 : weightDecay)
                    .excludeFromWeightDecay(excluded);
            case "adamw" -> new dev.osprey.optim.AdamW(learningRate, weightDecay == null ? 0.004 : weightDecay)
                    .excludeFromWeightDecay(excluded);
            case "sgd" -> new dev.osprey.optim.SGD(learningRate).weightDecay(weightDecay == null ? 0 : weightDecay)
                    .excludeFromWeightDecay(excluded);
            case "rmsprop" -> new dev.osprey.optim.RMSprop(learningRate).weightDecay(weightDecay == null ? 0
                    : weightDecay).excludeFromWeightDecay(excluded);
            default -> throw new IllegalArgumentException("expected --optimizer adam, adamw, sgd or rmsprop, "
                    + "received '" + optimizerName + "'");
        };
    }

    @Option(names = "--device", defaultValue = "auto",
            description = "auto (the GPU when usable, else the CPU), cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--devices", split = ",", description = "Data-parallel training on several devices: all (every "
            + "GPU here), or a list such as cuda:0,cuda:1 (cpu,cpu: replicas on the CPU, to try it). One replica per "
            + "device, each batch split across them; the first is the model's device (overrides --device).")
    List<String> devices;

    @Option(names = {"-o", "--output"}, defaultValue = "model.osprey", description = "Model file to write. Default: ${DEFAULT-VALUE}.")
    Path output;

    @Option(names = "--backup", description = "A folder to back training up into after each epoch (Keras' "
            + "BackupAndRestore): after an interruption, the same command goes on after the last backup (the last "
            + "finished epoch, or with --backup-every the last backed-up batch), as the whole run would have. The "
            + "backup is deleted when training ends. Default: none.")
    Path backup;

    @Option(names = "--backup-every", description = "With --backup, also back up after every N batches of an epoch "
            + "(Keras' save_freq, counted from each epoch's first batch), so an interruption loses at most N batches; "
            + "an interrupted epoch goes on from the batch after the last backup. Each backup writes the model with its "
            + "optimizer state. Default: 0, at epochs' ends only.")
    int backupEvery;

    /** Batches of the first epoch a backup had trained, which fit skips (set by fitOptions). */
    private int resumedBatches;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of initialisation and shuffling. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--threads", description = "CPU threads (sets OMP_NUM_THREADS; the osprey launcher applies it).")
    Integer threads;

    @Option(names = "--quiet", description = "No per-epoch progress.")
    boolean quiet;

    /** The built-in model for images as p makes them; one too small for it says so in --image-size's terms. */
    private Model modelForImages(Preprocessing p, int classes) {
        Model model = Models.byName(modelName, Shape.of(p.height(), p.width(), p.channels()), classes,
                dropPathRate); // the name
        try {
            model.outputShape(); // infers every layer's shape now: nothing is allocated
            return model;
        } catch (RuntimeException e) {
            model.close();
            if (!(e instanceof IllegalArgumentException)) {
                throw e;
            }
            throw new IllegalArgumentException("the " + modelName + " model does not take " + p.height() + "x"
                    + p.width() + "x" + p.channels() + " images (--image-size, --color): " + e.getMessage(), e);
        }
    }

    private Integer trainOnImages() throws Exception {
        Preprocessing p = imageOptions.preprocessing();
        imageOptions.checkWorkers();
        ImageFolder all = ImageFolder.scan(imageOptions.images);
        if (all.classNames().size() < 2) {
            throw new IllegalArgumentException(imageOptions.images + ": expected at least 2 class folders to tell "
                    + "apart, found " + all.classNames().size() + " (" + all.classNames().get(0) + ")");
        }
        ImageFolder[] split = all.split(imageOptions.validationSplit, seed);
        List<String> classes = split[0].classNames();
        System.out.printf(Locale.ROOT, "Data: %s: %,d training and %,d validation images in %d classes, as %dx%dx%d%n",
                imageOptions.images, split[0].size(), split[1].size(), classes.size(), p.height(), p.width(), p.channels());
        Augmentation augmentation = imageOptions.augmentation();
        if (!augmentation.isNone()) {
            System.out.println("Augmentation: " + augmentation);
        }
        try (Model model = modelForImages(p, classes.size());
             ImageBatchSource train = new ImageBatchSource(split[0], p, augmentation, seed, imageOptions.workers, 2,
                     imageOptions.skipBadFiles);
             ImageBatchSource validation = new ImageBatchSource(split[1], p, Augmentation.NONE, seed,
                     imageOptions.workers, 2, imageOptions.skipBadFiles)) {
            model.device(modelDevice()).seed(seed).classNames(classes).preprocessing(p);
            model.mixedPrecision(MixedPrecision.parse(precision));
            model.compile(optimizer(split[0].size()), loss(), metrics());
            System.out.println("Device: " + model.backendDescription() + ", training in " + model.mixedPrecision());
            long start = System.nanoTime();
            int[] labels = new int[split[0].size()];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = split[0].label(i);
            }
            float[] asFloats = new float[labels.length];
            for (int i = 0; i < labels.length; i++) {
                asFloats[i] = labels[i];
            }
            History history = model.fit(train, validation, fitOptions(new NDArray(asFloats, labels.length, 1),
                    classes.size()));
            double seconds = (System.nanoTime() - start) / 1e9;
            model.save(output);
            if (history.epochs() == 0) {
                System.out.println("No epoch left to train: the backup had finished all " + epochs);
            } else {
                history.writeJson(sibling(output, ".history.json"));
                writeCurves(history, sibling(output, ".curves.png"));
                System.out.printf(Locale.ROOT, "Trained %d epochs%s in %.1f s (%,.0f images/s); waited for data %.1f%% "
                        + "of the last epoch.%n", history.epochs(), resumedPartWay(), seconds,
                        trainedImages(history, split[0].size()) / seconds,
                        100 * train.waitSeconds() / Math.max(1e-9, seconds / history.epochs()));
                System.out.printf(Locale.ROOT, "Validation accuracy: %.4f (loss %.4f) on %,d images%n",
                        history.last("val_accuracy"), history.last("val_loss"), split[1].size());
            }
            List<String> skipped = new ArrayList<>(train.skippedFiles());
            skipped.addAll(validation.skippedFiles());
            if (!skipped.isEmpty()) {
                System.out.println("Skipped " + skipped.size() + " unreadable file(s):");
                skipped.forEach(f -> System.out.println("  " + f));
            }
            System.out.println("Saved model to " + output.toAbsolutePath());
        }
        return 0;
    }

    /** --device, or the first of --devices (for "all": the automatic choice, the first GPU when there is one). */
    private Device modelDevice() {
        if (devices == null || devices.isEmpty()) {
            return Device.parse(device);
        }
        String first = devices.get(0).trim();
        return first.equalsIgnoreCase(FitOptions.ALL_DEVICES) ? Device.parse("auto") : Device.parse(first);
    }

    /** The images fit trained: its epochs of n, less the batches a backup taken part way through the first had done. */
    private double trainedImages(History history, int n) {
        return (double) history.epochs() * n - Math.min(n, (long) resumedBatches * Math.min(batchSize, n));
    }

    /** " (the first from batch B)" where fit resumed a backup taken part way through an epoch, else "". */
    private String resumedPartWay() {
        return resumedBatches > 0 ? " (the first from batch " + (resumedBatches + 1) + ")" : "";
    }

    /** fit's options; labels and classes give --class-weight auto its weights. */
    FitOptions fitOptions(NDArray labels, int classes) {
        FitOptions options = FitOptions.defaults().epochs(epochs).batchSize(batchSize).seed(seed).verbose(!quiet);
        if (backup != null) {
            dev.osprey.callbacks.BackupAndRestore backups = new dev.osprey.callbacks.BackupAndRestore(backup,
                    backupEvery, true);
            dev.osprey.callbacks.BackupAndRestore.Progress done = backups.backedUp();
            resumedBatches = done == null ? 0 : done.batches();
            if (done != null && (done.epochs() > 0 || done.batches() > 0)) {
                System.out.println("Resuming " + done + (done.batches() > 0 ? " (" + epochs + " epochs in all)"
                        : " of " + epochs) + " from the backup in " + backup);
            } else {
                System.out.println("Backing up after each epoch" + (backupEvery > 0 ? " and every " + backupEvery
                        + " batches" : "") + " into " + backup + " (run the same command again to go on after an "
                        + "interruption)");
            }
            options.callbacks(backups);
        }
        if (devices != null && !devices.isEmpty()) {
            options.devices(devices.toArray(String[]::new));
        }
        switch (classWeight.trim().toLowerCase(Locale.ROOT)) {
            case "none" -> {
            }
            case "auto", "balanced" -> options.classWeight(FitOptions.balancedClassWeights(labels, classes));
            default -> throw new IllegalArgumentException("expected --class-weight none or auto, received '"
                    + classWeight + "'");
        }
        return options;
    }

    /** (N, H, W) images as (N, H, W, 1). */
    private static NDArray withChannel(NDArray x) {
        int[] s = x.shape();
        return new NDArray(x.data(), s[0], s[1], s[2], 1);
    }

    /** model.osprey -> model.curves.png beside it. */
    static Path sibling(Path model, String suffix) {
        String name = model.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return model.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + suffix);
    }

    /** Draws the curves; a runtime without Java's imaging (a minimal jlink'd one) gets the figures only. */
    static String writeCurves(History history, Path png) throws java.io.IOException {
        try {
            dev.osprey.charts.Charts.trainingCurves(history, png);
            return png.toAbsolutePath().toString();
        } catch (LinkageError e) {
            return "not drawn, this Java runtime has no imaging (" + e + ")";
        }
    }

    @Override
    public Integer call() throws Exception {
        Threads.check(threads);
        FitOptions.defaults().epochs(epochs).batchSize(batchSize); // refuses bad values now, before any data loads
        if (ema != null && !(ema >= 0 && ema <= 1)) {
            throw new IllegalArgumentException("expected --ema in [0, 1] (e.g. 0.999), received " + ema);
        }
        if (accumulationSteps < 1) {
            throw new IllegalArgumentException("expected --gradient-accumulation-steps of 1 or more, received "
                    + accumulationSteps);
        }
        if (backupEvery < 0 || backupEvery > 0 && backup == null) {
            throw new IllegalArgumentException("expected --backup-every N (batches, 1 or more) with a --backup folder, "
                    + "received --backup-every " + backupEvery + (backup == null ? " without --backup" : ""));
        }
        BuiltInModelOptions.requireKnown(modelName); // and a mistyped --model
        if (dropPathRate != 0) { // and stochastic depth a model lacks, or an impossible rate
            Models.byName(modelName, Shape.of(224, 224, 3), 10, dropPathRate).close();
        }
        if (imageOptions.images == null && imageOptions.validationSplitGiven()) {
            throw new IllegalArgumentException("--validation-split holds out part of --images; a --dataset has its "
                    + "own test split (received --validation-split " + imageOptions.validationSplit + ")");
        }
        if (imageOptions.images != null) {
            return trainOnImages();
        }
        LabeledData d = data.load();
        System.out.printf(Locale.ROOT, "Data: %s: %,d training and %,d test images of %s%n", d.source(),
                d.trainX().rows(), d.testX().rows(), d.trainX().sampleShape());
        int classes = data.classNames().size();
        try (Model model = Models.byName(modelName, d.trainX().sampleShape().rank() == 2
                ? Shape.of(d.trainX().sampleShape().dim(0), d.trainX().sampleShape().dim(1), 1)
                : d.trainX().sampleShape(), classes, dropPathRate)) {
            model.device(modelDevice()).seed(seed).classNames(data.classNames());
            model.mixedPrecision(MixedPrecision.parse(precision));
            model.compile(optimizer(d.trainX().rows()), loss(), metrics());
            model.summary();
            System.out.println("Device: " + model.backendDescription() + ", training in " + model.mixedPrecision());
            if (devices != null && !devices.isEmpty()) {
                boolean allAlone = devices.size() == 1 && devices.get(0).trim().equalsIgnoreCase(FitOptions.ALL_DEVICES)
                        && (model.device().kind() != Device.Kind.CUDA || Device.cudaAvailability().devices() < 2);
                System.out.println(allAlone ? "Data parallel: no (--devices all found one device here: "
                        + model.device() + ")" : "Data parallel on: " + String.join(", ", devices));
            }
            Augmentation augmentation = imageOptions.augmentation();
            long start = System.nanoTime();
            History history;
            if (augmentation.isNone()) {
                history = model.fit(d.trainX(), d.trainY(), fitOptions(d.trainY(), classes)
                        .validationData(d.testX(), d.testY()));
            } else {
                System.out.println("Augmentation: " + augmentation);
                NDArray images = d.trainX().sampleShape().rank() == 2 ? withChannel(d.trainX()) : d.trainX();
                history = model.fit(new AugmentedArrays(images, d.trainY(), augmentation, seed),
                        new ArrayBatchSource(d.testX(), d.testY()), fitOptions(d.trainY(), classes));
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            Map<String, Double> test = model.evaluate(d.testX(), d.testY(), 256);
            model.save(output);
            Path curvesJson = sibling(output, ".history.json");
            Path curvesPng = sibling(output, ".curves.png");
            String curves = null;
            if (history.epochs() == 0) {
                System.out.println("No epoch left to train: the backup had finished all " + epochs);
            } else {
                history.writeJson(curvesJson);
                curves = writeCurves(history, curvesPng);
                System.out.printf(Locale.ROOT, "Trained %d epochs%s in %.1f s (%,.0f images/s).%n", history.epochs(),
                        resumedPartWay(), seconds, trainedImages(history, d.trainX().rows()) / seconds);
            }
            System.out.printf(Locale.ROOT, "Test accuracy: %.4f (loss %.4f) on %,d images%n", test.get("accuracy"),
                    test.get("loss"), d.testX().rows());
            System.out.println("Saved model to " + output.toAbsolutePath());
            if (curves != null) {
                System.out.println("Training curves: " + curves + " (figures: " + curvesJson.toAbsolutePath() + ")");
            }
        }
        return 0;
    }
}
