package dev.osprey.cli;

import dev.osprey.History;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Device;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageBatchSource;
import dev.osprey.data.images.ImageFolder;
import dev.osprey.data.images.Preprocessing;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Transfer learning: take a trained model (an ONNX file or an Osprey model file), keep its "
                + "features, put a new classifier head on them for the classes of an image folder, and train with the "
                + "base frozen up to a layer. The head: global average pooling (on a feature map), dropout, a "
                + "softmax Dense layer.")
final class FinetuneCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "The base model: FILE.onnx or FILE.osprey.")
    Path base;

    @Mixin
    ImageOptions imageOptions = new ImageOptions();

    @Option(names = "--features", description = "The layer whose output the new head takes (default: the input of "
            + "the base's last Dense layer, i.e. its features).")
    String features;

    @Option(names = "--freeze-up-to", description = "Freeze the base's layers up to and including this one (default: "
            + "the --features layer, so the whole base is frozen and only the head trains).")
    String freezeUpTo;

    @Option(names = "--epochs", defaultValue = "5", description = "Epochs. Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "32", description = "Batch size. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--learning-rate", defaultValue = "0.001", description = "Adam's learning rate. Default: "
            + "${DEFAULT-VALUE}.")
    double learningRate;

    @Option(names = "--dropout", defaultValue = "0.2", description = "Dropout before the new Dense layer. Default: "
            + "${DEFAULT-VALUE}.")
    double dropout;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu, cuda or cuda:N. Default: "
            + "${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the head's weights and of shuffling. "
            + "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = {"-o", "--output"}, defaultValue = "model.osprey", description = "Model file to write. Default: "
            + "${DEFAULT-VALUE}.")
    Path output;

    @Option(names = "--quiet", description = "No per-epoch progress.")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
        dev.osprey.FitOptions.defaults().epochs(epochs).batchSize(batchSize); // bad values refused before any loading
        if (imageOptions.images == null) {
            throw new IllegalArgumentException("finetune: expected --images DIR, a folder of class folders of images, "
                    + "received none");
        }
        Preprocessing p = imageOptions.preprocessing();
        imageOptions.checkWorkers();
        ImageFolder[] split = ImageFolder.scan(imageOptions.images).split(imageOptions.validationSplit, seed);
        List<String> classes = split[0].classNames();
        try (Model baseModel = base.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")
                ? Model.importOnnx(base, Device.cpu()) : Model.load(base, Device.cpu())) {
            Shape expected = baseModel.inputShape();
            Preprocessing saved = baseModel.preprocessing();
            if (!imageOptions.sizeOrColorGiven() && !expected.equals(Shape.of(p.height(), p.width(), p.channels()))
                    && saved != null && expected.equals(Shape.of(saved.height(), saved.width(), saved.channels()))) {
                p = saved; // the base model's own images (an Osprey model trained on a folder), not the defaults
                System.out.printf(Locale.ROOT, "Images as the base model takes them: %dx%dx%d%n", p.height(), p.width(),
                        p.channels());
            }
            if (!expected.equals(Shape.of(p.height(), p.width(), p.channels()))) {
                throw new IllegalArgumentException("the base model takes " + expected + " images; expected "
                        + "--image-size and --color to give that, received " + p.height() + "x" + p.width() + "x"
                        + p.channels());
            }
            Layer featureLayer = baseModel.layer(features != null ? features : defaultFeatures(baseModel));
            SymbolicTensor x = featureLayer.output();
            if (x.shape().rank() == 3) {
                x = new GlobalAveragePooling2D().name("finetune_pool").apply(x);
            } else if (x.shape().rank() != 1) {
                throw new IllegalArgumentException("--features " + featureLayer.name() + " gives " + x.shape()
                        + "; expected a feature map (H, W, C) or a vector");
            }
            x = new Dropout(dropout).name("finetune_dropout").apply(x);
            x = new Dense(classes.size(), dev.osprey.Activation.SOFTMAX).name("finetune_classifier").apply(x);
            try (Model model = new Model(baseModel.inputs().get(0), x);
                 ImageBatchSource train = new ImageBatchSource(split[0], p, Augmentation.NONE, seed,
                         imageOptions.workers, 2, imageOptions.skipBadFiles);
                 ImageBatchSource validation = new ImageBatchSource(split[1], p, Augmentation.NONE, seed,
                         imageOptions.workers, 2, imageOptions.skipBadFiles)) {
                model.device(Device.parse(device)).seed(seed).classNames(classes).preprocessing(p);
                model.freezeUpTo(freezeUpTo != null ? freezeUpTo : featureLayer.name());
                int copied = model.copyWeightsFrom(baseModel);
                model.compile(new Adam(learningRate), dev.osprey.loss.Loss.sparseCategoricalCrossentropy(),
                        Metric.ACCURACY);
                System.out.printf(Locale.ROOT, "Base: %s, features from %s %s (%d weights taken over); head for %d "
                        + "classes; %,d trainable and %,d frozen parameters%n", base, featureLayer.name(),
                        featureLayer.output().shape(), copied, classes.size(), model.trainableParams(),
                        model.nonTrainableParams());
                System.out.printf(Locale.ROOT, "Data: %s: %,d training and %,d validation images%n",
                        imageOptions.images, split[0].size(), split[1].size());
                History history = model.fit(train, validation, dev.osprey.FitOptions.defaults().epochs(epochs)
                        .batchSize(batchSize).seed(seed).verbose(!quiet));
                model.save(output);
                System.out.printf(Locale.ROOT, "Validation accuracy: %.4f (loss %.4f) on %,d images%n",
                        history.last("val_accuracy"), history.last("val_loss"), split[1].size());
                System.out.println("Saved model to " + output.toAbsolutePath());
            }
        }
        return 0;
    }

    /** The layer that feeds the base's last Dense layer: the features a classifier head takes. */
    private static String defaultFeatures(Model base) {
        List<Layer> layers = base.layers();
        for (int i = layers.size() - 1; i >= 0; i--) {
            if (layers.get(i) instanceof Dense d) {
                SymbolicTensor in = d.nodes().get(0).inputs().get(0);
                Layer producer = in.layer();
                // Skip the flattening and dropout before it: a feature map pools better than its flattening.
                while (producer != null && (producer.className().equals("Flatten")
                        || producer.className().equals("Dropout"))) {
                    producer = producer.nodes().get(0).inputs().get(0).layer();
                }
                if (producer == null) {
                    throw new IllegalArgumentException("the base's last Dense layer takes the model's input; name "
                            + "the --features layer");
                }
                return producer.name();
            }
        }
        throw new IllegalArgumentException("the base has no Dense layer; name the --features layer");
    }
}
