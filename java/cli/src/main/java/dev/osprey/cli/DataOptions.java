package dev.osprey.cli;

import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** Where labelled images come from: a named data set, a directory, or four IDX files. */
final class DataOptions {
    @Option(names = "--dataset", defaultValue = "sample",
            description = "sample (bundled: 8,000 training / 2,000 validation Fashion-MNIST images), fashion-mnist "
                    + "(60,000/10,000; found locally or downloaded), mnist, or cifar10 (50,000/10,000 32x32x3; the official binary "
                    + "batches, found locally or downloaded). Default: ${DEFAULT-VALUE}.")
    String dataset;

    @Option(names = "--data-dir", description = "Directory with the four IDX files (looked in first).")
    Path dataDir;

    @Option(names = "--train-images", description = "IDX file of training images (with the three options below).")
    Path trainImages;

    @Option(names = "--train-labels", description = "IDX file of training labels.")
    Path trainLabels;

    @Option(names = "--test-images", description = "IDX file of test images.")
    Path testImages;

    @Option(names = "--test-labels", description = "IDX file of test labels.")
    Path testLabels;

    LabeledData load() throws IOException {
        if (trainImages != null || trainLabels != null || testImages != null || testLabels != null) {
            if (trainImages == null || trainLabels == null || testImages == null || testLabels == null) {
                throw new IllegalArgumentException("expected all four of --train-images, --train-labels, --test-images "
                        + "and --test-labels, received only some");
            }
            return Datasets.fromFiles(trainImages, trainLabels, testImages, testLabels);
        }
        return switch (dataset) {
            case "sample" -> dataDir == null ? Datasets.fashionMnistSample() : Datasets.fromDirectory(dataDir);
            case "fashion-mnist" -> Datasets.fashionMnist(dataDir);
            case "mnist" -> Datasets.mnist(dataDir);
            case "cifar10", "cifar-10" -> dev.osprey.data.Cifar10.load(dataDir);
            default -> throw new IllegalArgumentException("expected --dataset sample, fashion-mnist, mnist or cifar10, "
                    + "received '" + dataset + "'");
        };
    }

    List<String> classNames() {
        return switch (dataset) {
            case "mnist" -> List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
            case "cifar10", "cifar-10" -> dev.osprey.data.Cifar10.CLASSES;
            default -> Datasets.FASHION_MNIST_CLASSES;
        };
    }
}
