package dev.osprey.cli;

import dev.osprey.LayerProfile;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Model;
import dev.osprey.backend.Device;
import dev.osprey.benchmark.ModelBenchmark;
import dev.osprey.charts.Charts;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure training and inference on every usable device; print a table, write JSON and a PNG chart.")
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", description = "Model file (default: the tutorial CNN).")
    Path modelFile;

    @Mixin
    BuiltInModelOptions builtIn = new BuiltInModelOptions();

    @Option(names = "--seconds", defaultValue = "3", description = "Time per figure per device. Default: ${DEFAULT-VALUE}.")
    double seconds;

    @Option(names = "--json", defaultValue = "bench.json", description = "Default: ${DEFAULT-VALUE}.")
    Path json;

    @Option(names = "--chart", defaultValue = "bench.png", description = "Default: ${DEFAULT-VALUE}.")
    Path chart;

    @Option(names = "--threads", description = "CPU threads (sets OMP_NUM_THREADS; the osprey launcher applies it).")
    Integer threads;

    @Option(names = "--precision", split = ",", defaultValue = "fp32",
            description = "Inference precisions to measure, comma-separated: fp32, bf16, fp16 (GPUs), int8 "
                    + "(calibrated on the benchmark's first 512 images). Training is always fp32. Default: "
                    + "${DEFAULT-VALUE}.")
    List<String> precisions;

    @Option(names = "--layers", arity = "0..1", fallbackValue = "15", paramLabel = "N",
            description = "Also profile layer by layer on each device (a training step and inference at batch 256, "
                    + "32 for images larger than 64x64, and inference at batch 1) and print the N slowest layers of "
                    + "each (N: 15 when not given).")
    Integer layers;

    private final List<Map<String, Object>> profiles = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        Threads.check(threads);
        builtIn.checkNotBoth(modelFile);
        builtIn.checkShapeOnlyWithModel();
        if (!(seconds > 0)) {
            throw new IllegalArgumentException("expected --seconds > 0, received " + seconds);
        }
        if (layers != null && layers < 1) {
            throw new IllegalArgumentException("expected --layers N with N >= 1, received " + layers);
        }
        List<Device> devices = new ArrayList<>(List.of(Device.cpu()));
        dev.osprey.backend.Accelerator.Availability cuda = dev.osprey.backend.Device.cudaAvailability();
        if (cuda.usable()) {
            for (int i = 0; i < cuda.devices(); i++) {
                devices.add(Device.cuda(i));
            }
        }
        List<dev.osprey.Precision> extra = new ArrayList<>();
        for (String p : precisions) {
            dev.osprey.Precision precision = dev.osprey.Precision.parse(p);
            if (precision != dev.osprey.Precision.FP32 && !extra.contains(precision)) {
                extra.add(precision);
            }
        }
        List<ModelBenchmark.Result> results = new ArrayList<>();
        List<String> precisionRows = new ArrayList<>();
        for (Device device : devices) {
            System.out.println("measuring " + device + " ...");
            try (Model model = model(device)) {
                ModelBenchmark.Batches sizes = ModelBenchmark.Batches.forInput(model.inputShape());
                NDArray[] data = data(model, sizes);
                ModelBenchmark.Batches batches = fitting(model, data, sizes);
                results.add(ModelBenchmark.run(model, data[0], data[1], seconds, batches));
                for (dev.osprey.Precision precision : extra) {
                    precisionRows.add(inferenceRow(model, data[0], device, precision, batches.inference()));
                }
                if (layers != null) {
                    profileLayers(model, data[0], data[1], batches.inference());
                }
            }
        }
        print(results);
        for (String row : precisionRows) {
            System.out.println(row);
        }
        if (!cuda.usable()) {
            System.out.println("cuda: not measured: " + cuda.reason());
        }
        write(results, cuda);
        return 0;
    }

    /**
     * Prints (and keeps for the JSON) the model's per-layer profiles on its device: a training step and inference at
     * the benchmark's inference batch size (256 for small images), and inference at batch 1, each over about --seconds.
     */
    private void profileLayers(Model model, NDArray x, NDArray y, int batch) {
        int rows = Math.min(batch, x.rows());
        NDArray bx = x.slice(0, rows);
        NDArray by = y.slice(0, rows);
        LayerProfile training = forAboutSeconds(calls -> model.profileTraining(bx, by, calls));
        LayerProfile inference = forAboutSeconds(calls -> model.profileInference(bx, calls));
        NDArray one = x.slice(0, 1);
        LayerProfile single = forAboutSeconds(calls -> model.profileInference(one, calls));
        for (LayerProfile p : List.of(training, inference, single)) {
            System.out.println();
            System.out.print(p.table(layers));
            profiles.add(p.toMap());
        }
        System.out.println();
    }

    /**
     * A profile of as many calls as fill about --seconds (2 at least, 10,000 at most), counted from a profile of one.
     */
    private LayerProfile forAboutSeconds(java.util.function.IntFunction<LayerProfile> profile) {
        LayerProfile probe = profile.apply(1);
        return profile.apply((int) Math.max(2, Math.min(10_000, seconds * 1000 / Math.max(probe.wallMs(), 1e-3))));
    }

    /**
     * The batch sizes whose training plans fit a third of this machine's memory (ViT-Tiny at 32x32 holds about 18 MB an
     * image: batch 1024 would take 18 GB), saying which were left out and why.
     */
    private static ModelBenchmark.Batches fitting(Model model, NDArray[] data, ModelBenchmark.Batches sizes) {
        long perImage = ModelBenchmark.trainingBytesPerImage(model, data[0], data[1], sizes);
        long budget = ModelBenchmark.memoryBudget();
        ModelBenchmark.Batches kept = sizes.within(perImage, budget);
        for (int b : sizes.training()) {
            if (!kept.training().contains(b)) {
                System.out.printf(Locale.ROOT, "training batch %d left out: its plan would hold about %.1f GB "
                        + "(%.1f MB an image), over %.1f GB (a third of this machine's memory)%n", b,
                        b * (double) perImage / 1e9, perImage / 1e6, budget / 1e9);
            }
        }
        return kept;
    }

    /** Inference images/s at this batch size and batch-1 latency in another precision, as one printed line. */
    private String inferenceRow(Model model, NDArray x, Device device, dev.osprey.Precision precision, int batch) {
        if (precision == dev.osprey.Precision.INT8 && model.inputRanges().isEmpty()) {
            model.quantize(x.slice(0, Math.min(512, x.rows())));
        }
        if (model.inferencePrecision(precision).inferencePrecision() != precision) {
            model.inferencePrecision(dev.osprey.Precision.FP32);
            return String.format(Locale.ROOT, "%-7s %s inference: not measured: %s", device, precision,
                    model.backend().unavailable(precision));
        }
        double imagesPerSecond = ModelBenchmark.inferenceImagesPerSecond(model, x, batch, seconds);
        double[] latency = ModelBenchmark.batchOneLatencyMillis(model, x, seconds);
        model.inferencePrecision(dev.osprey.Precision.FP32);
        return String.format(Locale.ROOT, "%-7s %s inference: %,.0f img/s at batch %d, batch 1 p50 %.3f ms, p99 %.3f ms",
                device, precision, imagesPerSecond, batch, latency[0], latency[1]);
    }

    private Model model(Device device) throws Exception {
        if (builtIn.name != null) {
            Model m = builtIn.model(builtIn.name);
            m.device(device).seed(1);
            m.compile(new dev.osprey.optim.Adam(), dev.osprey.loss.Loss.sparseCategoricalCrossentropy(),
                    dev.osprey.metrics.Metric.ACCURACY);
            return m;
        }
        if (modelFile == null) {
            return Models.compiledTutorialCnn(device);
        }
        Model m = Model.load(modelFile, device);
        try {
            Evaluation.requireOneInputAndOutput(m, "bench"); // it trains and infers on images with class labels
            if (m.optimizer() == null) { // an imported model: trained, for the figures, as a classifier with Adam
                Evaluation.compiled(m, "bench");
            }
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }

    /**
     * Real Fashion-MNIST images when the model takes them, else seeded random data of the model's shape: 4,096 images,
     * or as many as fit in 256 MB where that is fewer (large images), and never fewer than five of the largest batch.
     */
    private static NDArray[] data(Model model, ModelBenchmark.Batches batches) {
        int classes = model.outputShape().size();
        if (model.inputShape().equals(dev.osprey.Shape.of(28, 28, 1)) && classes == 10) {
            LabeledData d = Datasets.fashionMnistSample();
            return new NDArray[] {d.trainX(), d.trainY()};
        }
        Random r = new Random(1);
        long bytesPerImage = 4L * model.inputShape().size();
        int n = (int) Math.max(5L * batches.largest(), Math.min(4096, (256L << 20) / bytesPerImage));
        if ((long) n * model.inputShape().size() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("bench: " + n + " images of shape " + model.inputShape() + " are more "
                    + "values than one Java array holds; benchmark a smaller input shape");
        }
        float[] x = new float[n * model.inputShape().size()];
        float[] y = new float[n];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat();
        }
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(classes);
        }
        return new NDArray[] {new NDArray(x, model.inputShape().withBatch(n)), new NDArray(y, n)};
    }

    private static void print(List<ModelBenchmark.Result> results) {
        if (results.isEmpty()) {
            return;
        }
        ModelBenchmark.Batches batches = results.get(0).batches();
        List<Integer> train = batches.training();
        String columns = "%-7s" + " %11s %8s".repeat(train.size()) + " %11s %8s %8s %8s %8s%n";
        List<Object> top = new ArrayList<>(List.of(""));
        List<Object> names = new ArrayList<>(List.of("device"));
        for (int batch : train) {
            top.addAll(List.of("img/s", ""));
            names.addAll(List.of("train b" + batch, "ms/step"));
        }
        top.addAll(List.of("img/s", "batch 1", "batch 1", "% peak", "% peak"));
        names.addAll(List.of("infer b" + batches.inference(), "p50 ms", "p99 ms", "train", "infer"));
        System.out.printf(Locale.ROOT, columns, top.toArray());
        System.out.printf(Locale.ROOT, columns, names.toArray());
        String row = "%-7s" + " %,11.0f %8.2f".repeat(train.size()) + " %,11.0f %8.3f %8.3f %7.1f%% %7.1f%%%n";
        for (ModelBenchmark.Result r : results) {
            List<Object> values = new ArrayList<>(List.of(r.device()));
            for (int batch : train) {
                values.addAll(List.of(r.trainImagesPerSecond(batch), r.msPerStep(batch)));
            }
            values.addAll(List.of(r.inferImagesPerSecond(), r.latencyP50Ms(), r.latencyP99Ms(),
                    100 * r.trainShareOfPeak(), 100 * r.inferShareOfPeak()));
            System.out.printf(Locale.ROOT, row, values.toArray());
        }
        for (ModelBenchmark.Result r : results) {
            System.out.printf(Locale.ROOT, "%s; measured peak %.0f GFLOP/s (fp32 2048^3 matrix product)%n",
                    r.backend(), r.peakGflops());
        }
    }

    private void write(List<ModelBenchmark.Result> results, dev.osprey.backend.Accelerator.Availability cuda) throws Exception {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("date", Instant.now().toString());
        doc.put("machine", machine());
        doc.put("model", builtIn.name != null ? builtIn.name
                : modelFile == null ? "tutorial CNN" : modelFile.toString());
        doc.put("seconds_per_figure", seconds);
        doc.put("command", "osprey bench" + (modelFile == null ? "" : " " + modelFile)
                + builtIn.asArguments() + " --seconds " + seconds
                + (layers == null ? "" : " --layers " + layers) + " --json " + json + " --chart " + chart);
        doc.put("threads", dev.osprey.backend.cpu.CpuBackend.threads());
        doc.put("results", results.stream().map(ModelBenchmark.Result::toMap).toList());
        if (!cuda.usable()) {
            doc.put("cuda_not_measured", cuda.reason());
        }
        if (!profiles.isEmpty()) {
            doc.put("layer_profiles", profiles);
        }
        Path out = json.toAbsolutePath();
        Files.createDirectories(out.getParent());
        Files.writeString(out, Json.write(doc));
        Map<String, List<Double>> bars = new LinkedHashMap<>();
        List<String> labels = new ArrayList<>();
        for (ModelBenchmark.Result r : results) {
            List<Double> figures = new ArrayList<>(r.trainImagesPerSecond());
            figures.add(r.inferImagesPerSecond());
            bars.put(r.device(), figures);
        }
        if (!results.isEmpty()) {
            results.get(0).batches().training().forEach(b -> labels.add("training, batch " + b));
            labels.add("inference, batch " + results.get(0).batches().inference());
        }
        String title = builtIn.name != null ? builtIn.name : modelFile == null ? "Tutorial CNN"
                : String.valueOf(modelFile.getFileName());
        Charts.bars(title + " throughput by device" + (cuda.usable() ? "" : " (no GPU here)"), "images/s",
                labels, bars, chart);
        System.out.println("wrote " + out + " and " + chart.toAbsolutePath());
    }

    static String machine() {
        String cpu = "unknown CPU";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse(cpu);
        } catch (Exception ignored) {
            // not Linux: the name stays unknown
        }
        return cpu + ", " + Runtime.getRuntime().availableProcessors() + " CPUs, Java " + System.getProperty("java.version");
    }
}
