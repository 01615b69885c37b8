package dev.osprey.cli;

import dev.osprey.NDArray;
import dev.osprey.Model;
import dev.osprey.backend.Device;
import dev.osprey.Shape;
import dev.osprey.data.Idx;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageDecoder;
import dev.osprey.data.images.Preprocessing;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Top-k classes for each image of an IDX file, an image file, or a folder of images, batched. "
                + "A model of several outputs shows each output: top-k where it is a distribution, else its values.")
final class PredictCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "Model file written by train.")
    Path modelFile;

    @Parameters(index = "1", description = "IDX file of images (raw or .gz), an image file (JPEG/PNG/BMP), or a folder of them.")
    Path images;

    @Option(names = "--top-k", defaultValue = "3", description = "Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--limit", defaultValue = "10", description = "Print at most this many images (0: all). Default: ${DEFAULT-VALUE}.")
    int limit;

    @Option(names = "--batch-size", defaultValue = "256", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--skip-bad-files", description = "In a folder, skip files that are not readable images (listed "
            + "at the end) instead of stopping at the first.")
    boolean skipBadFiles;

    /** Image files found in the folder, and those skipped as unreadable (--skip-bad-files). */
    private int found;
    private final List<String> skipped = new ArrayList<>();

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--precision", defaultValue = "fp32",
            description = "fp32, bf16 (bfloat16 products on CPUs with AVX512_BF16 or AMX and GPUs from Ampere on), "
                    + "fp16 (half-precision products on GPUs with tensor cores) or int8 (a model written by osprey "
                    + "quantize; CPUs with AVX2). Where the device lacks the kernels: fp32, with the reason logged. "
                    + "Default: "
                    + "${DEFAULT-VALUE}.")
    String precision;

    @Override
    public Integer call() throws Exception {
        if (topK <= 0) {
            throw new IllegalArgumentException("expected --top-k > 0, received " + topK);
        }
        if (limit < 0) {
            throw new IllegalArgumentException("expected --limit of 0 (all) or more, received " + limit);
        }
        dev.osprey.Precision inferIn = dev.osprey.Precision.parse(precision);
        try (Model model = Model.load(modelFile, Device.parse(device))) {
            model.inferencePrecision(inferIn);
            List<dev.osprey.Input> inputs = model.inputs();
            if (inputs.size() != 1) {
                throw new IllegalArgumentException("osprey predict feeds images to a model of one input; this one has "
                        + inputs.size() + " " + inputs.stream().map(dev.osprey.Input::name).toList() + ": serve it "
                        + "(osprey serve) and send JSON samples of its inputs by name, or from Java use "
                        + "Model.predict(Map) or Predictor.predict(Map)");
            }
            List<String> labels = new ArrayList<>();
            NDArray x = imageFiles(images) ? decodeImages(model, labels) : idx(images);
            int n = limit > 0 ? Math.min(limit, x.rows()) : x.rows();
            List<String> outputNames = model.outputNames();
            if (outputNames.size() > 1) {
                printEachOutput(model.predict(List.of(x.slice(0, n)), batchSize), outputNames, model.classNames(),
                        labels, n);
                footnotes(labels, x, n);
                return 0;
            }
            NDArray p = model.predict(x.slice(0, n), batchSize);
            int classes = p.rowSize();
            if (model.outputsLogits()) { // an imported classifier, say: show probabilities, as the header says
                Model.softmaxRows(p.data(), classes);
            } else if (n > 0 && !probabilities(p.data(), classes)) {
                System.err.println("(scores, not probabilities: the model's outputs are not a distribution. A classifier "
                        + "imported without --class-names ends in logits: import it with them to see probabilities)");
            }
            List<String> names = model.classNames();
            for (int i = 0; i < n; i++) {
                final int row = i;
                StringBuilder line = new StringBuilder(labels.isEmpty() ? String.format(Locale.ROOT, "%6d:", i)
                        : labels.get(i) + ":");
                IntStream.range(0, classes).boxed()
                        .sorted(Comparator.comparingDouble(c -> -p.data()[row * classes + c]))
                        .limit(Math.min(topK, classes))
                        .forEach(c -> line.append(String.format(Locale.ROOT, "  %s %.3f",
                                c < names.size() ? names.get(c) : "class " + c, p.data()[row * classes + c])));
                System.out.println(line);
            }
            footnotes(labels, x, n);
        }
        return 0;
    }

    /** How many images were shown of how many, and the files skipped. */
    private void footnotes(List<String> labels, NDArray x, int n) {
        int total = labels.isEmpty() ? x.rows() : found - skipped.size(); // images read or left unread
        if (limit > 0 && n < total) {
            System.err.printf(Locale.ROOT, "(%,d of %,d images shown; --limit 0 shows all)%n", n, total);
        }
        if (!skipped.isEmpty()) {
            System.err.println("Skipped " + skipped.size() + " unreadable file(s):");
            skipped.forEach(f -> System.err.println("  " + f));
        }
    }

    /** Most values of an output that is not a distribution shown on an image's line. */
    static final int VALUES_SHOWN = 8;

    /**
     * A line per image, each output by name: its top-k where the output is a distribution (every image's row of it;
     * class names where the model's are as many), else its first values as they are.
     */
    private void printEachOutput(List<NDArray> outputs, List<String> outputNames, List<String> classNames,
                                 List<String> labels, int n) {
        boolean[] distribution = new boolean[outputs.size()];
        for (int o = 0; o < outputs.size(); o++) {
            int width = outputs.get(o).rowSize();
            distribution[o] = width >= 2 && n > 0;
            for (int i = 0; i < n && distribution[o]; i++) {
                distribution[o] = probabilities(java.util.Arrays.copyOfRange(outputs.get(o).data(), i * width,
                        (i + 1) * width), width);
            }
        }
        for (int i = 0; i < n; i++) {
            StringBuilder line = new StringBuilder(labels.isEmpty() ? String.format(Locale.ROOT, "%6d:", i)
                    : labels.get(i) + ":");
            for (int o = 0; o < outputs.size(); o++) {
                int width = outputs.get(o).rowSize();
                float[] row = java.util.Arrays.copyOfRange(outputs.get(o).data(), i * width, (i + 1) * width);
                line.append("  ").append(outputNames.get(o)).append(':');
                if (distribution[o]) {
                    List<String> names = classNames.size() == width ? classNames : List.of();
                    IntStream.range(0, width).boxed().sorted(Comparator.comparingDouble(c -> -row[c]))
                            .limit(Math.min(topK, width))
                            .forEach(c -> line.append(String.format(Locale.ROOT, " %s %.3f",
                                    c < names.size() ? names.get(c) : "class " + c, row[c])));
                } else {
                    line.append(" [");
                    for (int k = 0; k < Math.min(width, VALUES_SHOWN); k++) {
                        line.append(k == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.4g", row[k]));
                    }
                    line.append(width > VALUES_SHOWN ? ", ... " + width + " values]" : "]");
                }
            }
            System.out.println(line);
        }
    }

    /** Whether the first row of width values is a distribution: each in [0, 1], summing to 1 (to 1e-3). */
    private static boolean probabilities(float[] rows, int width) {
        double sum = 0;
        for (int c = 0; c < width; c++) {
            float v = rows[c];
            if (!(v >= 0 && v <= 1)) {
                return false;
            }
            sum += v;
        }
        return Math.abs(sum - 1) <= 1e-3;
    }

    /** An IDX file's images; a file that is no IDX file is said to be neither that nor an image by its name. */
    private static NDArray idx(Path file) throws IOException {
        try {
            return Idx.images(Idx.read(file), file.toString());
        } catch (dev.osprey.data.IdxFormatException e) {
            throw new IOException(e.getMessage() + "; nor is it a JPEG, PNG or BMP image by its name (.jpg, .jpeg, "
                    + ".png, .bmp)", e);
        }
    }

    private static boolean imageFiles(Path path) {
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isDirectory(path) || name.endsWith(".png") || name.endsWith(".jpg") || name.endsWith(".jpeg")
                || name.endsWith(".bmp");
    }

    /** Decodes the image file, or every image under the folder (sorted), with the model's preprocessing. */
    private NDArray decodeImages(Model model, List<String> names) throws IOException {
        Preprocessing p = model.preprocessing();
        Shape in = model.inputShape();
        if (p == null) {
            p = Preprocessing.scaled(in.dim(0), in.dim(1),
                    in.dim(2) == 3 ? Preprocessing.ColorMode.RGB : Preprocessing.ColorMode.GRAYSCALE);
        }
        List<Path> files;
        if (Files.isDirectory(images)) {
            files = dev.osprey.data.images.ImageFolder.imagesBelow(images); // as training reads a class folder
            if (files.isEmpty()) {
                throw new IOException(images + ": no JPEG, PNG or BMP images in this folder");
            }
        } else {
            files = List.of(images);
        }
        found = files.size();
        int n = limit > 0 ? Math.min(limit, files.size()) : files.size();
        float[] x = new float[n * p.sampleSize()];
        ImageDecoder decoder = new ImageDecoder();
        int rows = 0;
        for (int i = 0; i < files.size() && rows < n; i++) {
            try {
                decoder.decode(Files.readAllBytes(files.get(i)), files.get(i).toString(), p,
                        Augmentation.Params.IDENTITY, Augmentation.FillMode.CONSTANT, x, rows * p.sampleSize());
            } catch (dev.osprey.data.images.ImageDecodeException e) {
                if (!skipBadFiles || files.size() == 1) {
                    throw new IOException(e.getMessage() + (files.size() > 1 ? " (--skip-bad-files skips such files)"
                            : ""), e);
                }
                skipped.add(e.getMessage()); // it names the file
                continue;
            }
            names.add(files.get(i).toString());
            rows++;
        }
        if (rows == 0) {
            throw new IOException(images + ": none of its " + files.size() + " image files could be read (the first: "
                    + skipped.get(0) + ")");
        }
        return new NDArray(java.util.Arrays.copyOf(x, rows * p.sampleSize()), rows, p.height(), p.width(),
                p.channels());
    }


}
