package dev.osprey.data;

import dev.osprey.NDArray;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The MNIST family of data sets. Fashion-MNIST is looked for in a given directory, then
 * ~/.osprey/datasets/fashion-mnist, then /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), and
 * otherwise downloaded from the official mirror into the first of those and verified by SHA-256.
 */
public final class Datasets {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Datasets.class);

    /** Official location of Fashion-MNIST; -Dosprey.datasets.mirror=URL replaces it. */
    public static final String FASHION_MNIST_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

    /** The four files and the SHA-256 of their decompressed IDX content (the same however they were gzipped). */
    static final List<DataFile> FASHION_MNIST_FILES = List.of(
            new DataFile("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            new DataFile("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            new DataFile("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            new DataFile("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"));

    /** Where Debian's dataset-fashion-mnist package puts the files. */
    public static final Path DEBIAN_FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

    private static final String SAMPLE = "/dev/osprey/data/fashion-mnist-sample/";

    /** Fashion-MNIST's class names, in label order. */
    public static final List<String> FASHION_MNIST_CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress",
            "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    record DataFile(String name, String contentSha256) {
    }

    private Datasets() {
    }

    /** Fashion-MNIST (60,000 training and 10,000 test images) from the default places, downloading if needed. */
    public static LabeledData fashionMnist() throws IOException {
        return fashionMnist(null);
    }

    /** Fashion-MNIST, looking first in {@code directory} (may be null). */
    public static LabeledData fashionMnist(Path directory) throws IOException {
        return find(directory, DEBIAN_FASHION_MNIST, System.getProperty("osprey.datasets.mirror", FASHION_MNIST_MIRROR),
                FASHION_MNIST_FILES);
    }

    /** The lookup itself, with every location and the file list as parameters (tests give their own). */
    static LabeledData find(Path directory, Path systemDirectory, String mirror, List<DataFile> files)
            throws IOException {
        List<Path> searched = new ArrayList<>();
        for (Path dir : candidates(directory, "fashion-mnist", systemDirectory)) {
            searched.add(dir);
            if (hasAll(dir, files)) {
                return fromDirectory(dir);
            }
        }
        Path cache = userCache("fashion-mnist");
        LOG.info("Fashion-MNIST not found in {}; downloading from {} into {}", searched, mirror, cache);
        URI base = URI.create(mirror.endsWith("/") ? mirror : mirror + "/");
        boolean existed = Files.isDirectory(cache);
        for (DataFile f : files) {
            Path file = cache.resolve(f.name() + ".gz");
            if (!Files.isRegularFile(file)) {
                try {
                    VerifiedDownload.fetch(base.resolve(f.name() + ".gz"), file, f.contentSha256());
                } catch (IOException e) {
                    throw downloadFailed("Fashion-MNIST", searched, base.resolve(f.name() + ".gz"), cache, existed,
                            "the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                                    + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)", e);
                }
            }
        }
        return fromDirectory(cache);
    }

    /**
     * A data set found nowhere and not downloaded: the exception that says where it was looked for, what the download
     * met (a refused connection has no message of its own: its class is named), and what to put where instead. The
     * cache folder is removed again where the download made it and left it empty.
     */
    static IOException downloadFailed(String name, List<Path> searched, URI source, Path cache, boolean cacheExisted,
                                      String files, IOException cause) {
        if (!cacheExisted) {
            try (var left = Files.list(cache)) {
                if (left.findAny().isEmpty()) {
                    Files.deleteIfExists(cache);
                }
            } catch (IOException ignored) {
                // an empty folder left behind is untidy, not wrong
            }
        }
        String prefix = "download of " + source + " ";
        String what = cause.getMessage() == null || cause.getMessage().isBlank() ? cause.getClass().getSimpleName()
                : cause.getMessage().startsWith(prefix) ? cause.getMessage().substring(prefix.length())
                : cause.getMessage().startsWith("download of") ? cause.getMessage()
                : cause.getClass().getSimpleName() + ": " + cause.getMessage();
        return new IOException(name + " was not found in " + searched + " and could not be downloaded from " + source
                + " (" + what + "): put " + files + " into " + cache + " or one of the folders searched", cause);
    }

    /** MNIST's four IDX files from a directory (no download: place them there). */
    public static LabeledData mnist(Path directory) throws IOException {
        for (Path dir : candidates(directory, "mnist", null)) {
            if (hasAll(dir, FASHION_MNIST_FILES)) {
                return fromDirectory(dir);
            }
        }
        throw new IOException("MNIST not found in " + candidates(directory, "mnist", null) + ": expected "
                + "train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz) and "
                + "t10k-labels-idx1-ubyte(.gz) in one of them");
    }

    /** The four standard IDX files (raw or .gz) of one directory. */
    public static LabeledData fromDirectory(Path dir) throws IOException {
        return fromFiles(find(dir, "train-images-idx3-ubyte"), find(dir, "train-labels-idx1-ubyte"),
                find(dir, "t10k-images-idx3-ubyte"), find(dir, "t10k-labels-idx1-ubyte"));
    }

    /** Any four IDX files: training images and labels, test images and labels. */
    public static LabeledData fromFiles(Path trainImages, Path trainLabels, Path testImages, Path testLabels)
            throws IOException {
        NDArray trainX = Idx.images(Idx.read(trainImages), trainImages.toString());
        NDArray trainY = Idx.labels(Idx.read(trainLabels), trainLabels.toString());
        NDArray testX = Idx.images(Idx.read(testImages), testImages.toString());
        NDArray testY = Idx.labels(Idx.read(testLabels), testLabels.toString());
        checkCounts(trainImages, trainX, trainLabels, trainY);
        checkCounts(testImages, testX, testLabels, testY);
        return new LabeledData(trainX, trainY, testX, testY, trainImages.getParent() == null ? "." : trainImages.getParent().toString());
    }

    /**
     * The sample bundled in the jar: Fashion-MNIST's 10,000 real test images, split into 8,000 for training and
     * 2,000 for validation, so the main command works offline on a fresh machine.
     */
    public static LabeledData fashionMnistSample() {
        try {
            NDArray x = Idx.images(resource("t10k-images-idx3-ubyte.gz"), "bundled sample images");
            NDArray y = Idx.labels(resource("t10k-labels-idx1-ubyte.gz"), "bundled sample labels");
            return new LabeledData(x.slice(0, 8000), y.slice(0, 8000), x.slice(8000, 10000), y.slice(8000, 10000),
                    "bundled Fashion-MNIST sample (test set split 8,000/2,000)");
        } catch (IOException e) {
            throw new UncheckedIOException("the bundled Fashion-MNIST sample is damaged", e);
        }
    }

    private static Idx.Array resource(String name) throws IOException {
        try (InputStream in = Datasets.class.getResourceAsStream(SAMPLE + name)) {
            if (in == null) {
                throw new IOException("resource " + SAMPLE + name + " is missing from the jar");
            }
            return Idx.read(in, "bundled " + name);
        }
    }

    private static void checkCounts(Path imagesPath, NDArray images, Path labelsPath, NDArray labels)
            throws IdxFormatException {
        if (images.rows() != labels.rows()) {
            throw new IdxFormatException("label/image count mismatch: " + imagesPath + " holds " + images.rows()
                    + " images but " + labelsPath + " holds " + labels.rows() + " labels");
        }
    }

    static List<Path> candidates(Path given, String name, Path system) {
        List<Path> dirs = new ArrayList<>();
        if (given != null) {
            dirs.add(given);
        }
        dirs.add(userCache(name));
        if (system != null) {
            dirs.add(system);
        }
        return dirs;
    }

    static Path userCache(String name) {
        return Path.of(System.getProperty("osprey.datasets.home",
                Path.of(System.getProperty("user.home"), ".osprey", "datasets").toString())).resolve(name);
    }

    /** MNIST and Fashion-MNIST share file names. */
    private static boolean hasAll(Path dir, List<DataFile> files) {
        for (DataFile f : files) {
            if (locate(dir, f.name()) == null) {
                return false;
            }
        }
        return true;
    }

    private static Path locate(Path dir, String name) {
        for (String candidate : new String[] {name + ".gz", name, name.replace("-idx", ".idx")}) {
            Path p = dir.resolve(candidate);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    private static Path find(Path dir, String name) throws IOException {
        Path p = locate(dir, name);
        if (p == null) {
            throw new IOException("expected " + name + " or " + name + ".gz in " + dir + ", found none");
        }
        return p;
    }

}
