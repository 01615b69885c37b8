package dev.osprey.io;

import dev.osprey.Layer;
import dev.osprey.Limits;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.Shape;
import dev.osprey.backend.Device;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.AdamW;
import dev.osprey.optim.Optimizer;
import dev.osprey.optim.SGD;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * The model file (.osprey): a zip holding model.json (format version, the graph in Keras' functional form: each layer's
 * class name, configuration and inbound calls, compile settings, class names, preprocessing) and weights.safetensors
 * (every weight as little-endian F32, named "{layer}/{weight}", and the optimizer's state as "optimizer/{slot}").
 * Layers are made by their own fromConfig through {@link LayerRegistry}. Files of format version 1 (Sequential
 * models, weights named "layers.{i}.{kernel|bias}") still load. Written to a temporary file beside the target, then
 * renamed: a crash never leaves half a model under the real name.
 */
public final class ModelFile {
    /** The "format" field of every model.json: what marks a zip as an Osprey model. */
    public static final String FORMAT = "osprey-model";
    /**
     * The newest format version, read with 1 and 2: version 3 adds a loss per output (compile's "losses" and
     * "loss_weights"), and only files of such models are written as 3, so that older readers refuse them by version
     * while they still read every other file.
     */
    public static final int VERSION = 3;
    /** The version written for a model compiled with one loss (or not compiled). */
    static final int ONE_LOSS_VERSION = 2;
    private static final String MODEL_JSON = "model.json";
    private static final String WEIGHTS = "weights.safetensors";
    private static final long MAX_ENTRY_BYTES = Integer.MAX_VALUE - 8; // the largest Java array
    /** A Java array's limit: no tensor in a file can hold more values. */
    private static final long MAX_TENSOR_VALUES = Integer.MAX_VALUE - 8;

    private ModelFile() {
    }

    /**
     * Saves a built model (architecture, weights, compile settings, optimizer state, class names, preprocessing) to
     * path, creating its directory; the file appears complete or not at all, replacing any file there.
     */
    public static void write(Model model, Path path) throws IOException {
        Entries entries = entries(model);
        Path absolute = path.toAbsolutePath();
        Path dir = absolute.getParent();
        Files.createDirectories(dir);
        Path tmp = AtomicFiles.createSibling(absolute, ".tmp");
        try {
            try (java.io.OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                entries.zip(out); // straight to the file: no second copy of the weights in memory
            }
            dev.osprey.io.AtomicFiles.moveIntoPlace(tmp, absolute);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The model file's bytes. */
    public static byte[] toBytes(Model model) throws IOException {
        Entries entries = entries(model);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(entries.weights().length + entries.json().length
                + 1024);
        entries.zip(bytes);
        return bytes.toByteArray();
    }

    @SuppressWarnings("unchecked")
    private static Entries entries(Model model) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("format", FORMAT);
        doc.put("version", model.losses().size() > 1 ? VERSION : ONE_LOSS_VERSION);
        doc.put("model", GraphConfig.write(model));
        doc.put("class_names", model.classNames());
        if (model.preprocessing() != null) {
            doc.put("preprocessing", model.preprocessing().toConfig());
        }
        if (!model.inputRanges().isEmpty()) { // int8 calibration: each layer's input range, [min, max]
            Map<String, Object> ranges = new LinkedHashMap<>();
            new java.util.TreeMap<>(model.inputRanges()).forEach((layer, r) -> ranges.put(layer,
                    List.of((double) r.min(), (double) r.max())));
            doc.put("int8_input_ranges", ranges);
        }
        if (model.optimizer() != null) {
            Map<String, Object> compile = new LinkedHashMap<>();
            compile.put("optimizer", model.optimizer().name());
            compile.put("optimizer_config", model.optimizer().config());
            List<Loss> losses = model.losses();
            if (losses.size() == 1) {
                putLoss(compile, losses.get(0));
            } else { // one per output, as Keras' compile(loss=[...], loss_weights=[...])
                List<Map<String, Object>> each = new ArrayList<>();
                for (Loss l : losses) {
                    Map<String, Object> entry = new LinkedHashMap<>();
                    putLoss(entry, l);
                    each.add(entry);
                }
                compile.put("losses", each);
                compile.put("loss_weights", model.lossWeights());
            }
            compile.put("metrics", model.metrics().stream().map(Metric::kerasName).toList());
            Map<String, java.util.Set<Metric>> byOutput = model.metricsByOutput();
            if (byOutput != null) { // Keras' metrics={"kind": [...], "box": [...]}; readers before it use "metrics"
                Map<String, Object> each = new LinkedHashMap<>();
                byOutput.forEach((name, set) -> each.put(name, set.stream().map(Metric::kerasName).toList()));
                compile.put("metrics_by_output", each);
            }
            doc.put("compile", compile);
        }
        List<String> names = new ArrayList<>(model.weightPaths());
        List<NDArray> arrays = new ArrayList<>(model.getWeights());
        Model.OptimizerState state = model.optimizerState();
        if (state != null) { // saved so that training resumes where it stopped, as Keras does
            ((Map<String, Object>) doc.get("compile")).put("optimizer_iterations", state.iterations());
            // The rate a schedule had reached, so training resumes at it (optimizer_config keeps the compiled one).
            ((Map<String, Object>) doc.get("compile")).put("optimizer_learning_rate", state.learningRate());
            if (state.lossScale() != null) { // dynamic loss scaling's progress, as Keras keeps dynamic_scale
                ((Map<String, Object>) doc.get("compile")).put("optimizer_loss_scale",
                        List.of(state.lossScale().scale(), state.lossScale().goodSteps()));
                if (state.lossScale().skippedSteps() > 0) { // a key of its own: older readers ignore it
                    ((Map<String, Object>) doc.get("compile")).put("optimizer_skipped_steps",
                            state.lossScale().skippedSteps());
                }
            }
            state.slots().forEach((slot, values) -> {
                names.add("optimizer/" + slot);
                arrays.add(values);
            });
        }
        byte[] json = Json.write(doc).getBytes(StandardCharsets.UTF_8);
        return new Entries(json, SafeTensors.write(names, arrays));
    }

    /** A model file's two entries, made once, for {@link #write} to stream and {@link #toBytes} to hold. */
    private record Entries(byte[] json, byte[] weights) {
        /**
         * The zip: the JSON compressed, the weights stored as they are. Trained fp32 weights barely compress (a few
         * percent) and deflating them took most of a large model's save (VGG-11: 133 M parameters); stored, they
         * cost one CRC pass. Files with deflated weights (the format's first writers) read as before.
         */
        void zip(java.io.OutputStream out) throws IOException {
            try (ZipOutputStream zip = new ZipOutputStream(out)) { // closes out too
                zipInto(zip);
            }
        }

        private void zipInto(ZipOutputStream zip) throws IOException {
            zip.putNextEntry(new ZipEntry(MODEL_JSON));
            zip.write(json);
            zip.closeEntry();
            ZipEntry stored = new ZipEntry(WEIGHTS);
            stored.setMethod(ZipEntry.STORED);
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(weights);
            stored.setCrc(crc.getValue());
            stored.setSize(weights.length);
            stored.setCompressedSize(weights.length);
            zip.putNextEntry(stored);
            zip.write(weights);
            zip.closeEntry();
        }
    }

    /** A model from bytes made by {@link #toBytes}, on the given device (null: automatic). */
    public static Model fromBytes(byte[] bytes, Device device) throws IOException {
        byte[] json = null;
        byte[] weights = null;
        try (ZipInputStream zip = new ZipInputStream(new java.io.ByteArrayInputStream(bytes))) {
            ZipEntry e;
            java.util.Set<String> seen = new java.util.HashSet<>();
            while ((e = zip.getNextEntry()) != null) {
                if (!seen.add(e.getName())) {
                    throw duplicateEntry(Path.of("(model bytes)"), e.getName());
                }
                if (e.getName().equals(MODEL_JSON)) {
                    json = readBounded(zip, MODEL_JSON, jsonBytes(bytes.length), jsonLimit(bytes.length),
                            Path.of("(model bytes)"));
                } else if (e.getName().equals(WEIGHTS)) {
                    weights = readBounded(zip, WEIGHTS, weightsLimit(bytes.length), weightsLimitText(bytes.length),
                            Path.of("(model bytes)"));
                }
            }
        } catch (ZipException | java.io.EOFException | IllegalArgumentException e) { // the last: bad entry names
            throw new ModelFormatException("(model bytes) are not an Osprey model file, or are truncated (expected a "
                    + "zip with " + MODEL_JSON + " and " + WEIGHTS + "): " + e, e);
        }
        return fromEntries(json, weights, device, Path.of("(model bytes)"));
    }

    /**
     * A model saved by {@link #write}, built on device (null: {@link Device#auto()}), with its weights, compile
     * settings and optimizer state restored. Throws NoSuchFileException when path holds no file, and
     * ModelFormatException for a file that is not a model, is damaged, or goes over the {@link Limits}; a model that
     * fails to load is closed.
     */
    public static Model read(Path path, Device device) throws IOException {
        byte[] json;
        byte[] weights;
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no model file there");
        }
        // ZipFile reads the central directory at the end of the file, so any truncation is caught here.
        try (ZipFile zip = new ZipFile(path.toFile())) {
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (var entries = zip.entries(); entries.hasMoreElements(); ) {
                String name = entries.nextElement().getName();
                if (!seen.add(name)) {
                    throw duplicateEntry(path, name);
                }
            }
            long fileBytes = Files.size(path);
            json = readEntry(zip, MODEL_JSON, jsonBytes(fileBytes), jsonLimit(fileBytes), path);
            weights = readEntry(zip, WEIGHTS, weightsLimit(fileBytes), weightsLimitText(fileBytes), path);
        } catch (ZipException | java.io.EOFException | IllegalArgumentException e) {
            throw new ModelFormatException(path + " is not an Osprey model file, or is truncated (expected a zip with "
                    + MODEL_JSON + " and " + WEIGHTS + "): " + e.getMessage(), e);
        }
        return fromEntries(json, weights, device, path);
    }

    private static Model fromEntries(byte[] json, byte[] weights, Device device, Path path) throws IOException {
        if (json == null || weights == null) {
            throw new ModelFormatException(path + " is not an Osprey model file: expected entries " + MODEL_JSON
                    + " and " + WEIGHTS + ", found " + (json == null ? "no " + MODEL_JSON : "no " + WEIGHTS)
                    + " (truncated, or another kind of file)");
        }
        Map<String, Object> doc;
        try {
            doc = asMap(Json.parse(json), "model.json");
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(path + ": damaged " + MODEL_JSON + ": " + e.getMessage(), e);
        }
        try {
            return fromDocument(doc, weights, device, path);
        } catch (IllegalArgumentException | IllegalStateException | ClassCastException | NullPointerException
                 | ArithmeticException | IndexOutOfBoundsException | NegativeArraySizeException e) {
            throw new ModelFormatException(path + ": " + e.getMessage(), e);
        }
    }

    private static Model fromDocument(Map<String, Object> doc, byte[] weightBytes, Device device, Path path)
            throws ModelFormatException {
        if (!FORMAT.equals(doc.get("format"))) {
            throw new ModelFormatException(path + ": expected format '" + FORMAT + "', received '" + doc.get("format") + "'");
        }
        if (!(doc.get("version") instanceof Number v)) {
            throw new ModelFormatException(path + ": expected a format version, received " + doc.get("version"));
        }
        long version = v.longValue();
        if (version < 1 || version > VERSION) {
            throw new ModelFormatException(path + ": expected model format version 1 to " + VERSION + ", received "
                    + version + " (written by a newer Osprey?)");
        }
        Model model = version == 1 ? versionOneModel(doc) : GraphConfig.read(asMap(doc.get("model"), "model"));
        Map<String, Object> compile = doc.containsKey("compile") ? asMap(doc.get("compile"), "compile") : null;
        try {
            // The weights come from the file, so a model can't need more memory than the file brings: refuse an
            // architecture that declares more weights than the file holds before anything is allocated.
            long declared = model.countParams();
            Limits.check(path + ": the architecture's parameter count", declared, "maxParameters",
                    Limits.current().maxParameters());
            if (declared > weightBytes.length / Float.BYTES) {
                throw new ModelFormatException(path + ": the architecture declares " + declared + " weights, but the "
                        + "file holds " + weightBytes.length + " bytes of weights (" + weightBytes.length / Float.BYTES
                        + " values): damaged or hostile");
            }
            model.device(device == null ? Device.auto() : device);
            // The saved weights, not the seed's: drawing random ones first would be work thrown away.
            List<String> names = version == 1 ? versionOneNames(model) : model.weightPaths();
            model.buildWith(SafeTensors.read(weightBytes, names, path));
            if (compile != null) {
                dev.osprey.optim.Optimizer optimizer = optimizer((String) compile.get("optimizer"),
                        asMap(compile.get("optimizer_config"), "optimizer config"));
                if (compile.containsKey("metrics_by_output") && compile.containsKey("losses")) {
                    model.compile(optimizer, savedLosses(compile.get("losses")),
                            savedWeights(compile.get("loss_weights")),
                            metricsByOutput(compile.get("metrics_by_output"), model.outputNames()));
                } else if (compile.containsKey("losses")) {
                    Metric[] metrics = metricNames(compile.get("metrics")).toArray(Metric[]::new);
                    model.compile(optimizer, savedLosses(compile.get("losses")),
                            savedWeights(compile.get("loss_weights")), metrics);
                } else {
                    model.compile(optimizer, savedLoss(compile), metricNames(compile.get("metrics"))
                            .toArray(Metric[]::new));
                }
            }
            if (compile != null && compile.get("optimizer_iterations") instanceof Number iterations) {
                List<String> slotNames = new ArrayList<>(model.optimizerSlotNames());
                String prefix = version == 1 ? "optimizer." : "optimizer/";
                List<NDArray> slots = SafeTensors.read(weightBytes, slotNames.stream().map(n -> prefix + n).toList(), path);
                Map<String, NDArray> state = new java.util.TreeMap<>();
                for (int i = 0; i < slotNames.size(); i++) {
                    state.put(slotNames.get(i), slots.get(i));
                }
                double learningRate = compile.get("optimizer_learning_rate") instanceof Number rate
                        ? rate.doubleValue() : Double.NaN;
                model.restoreOptimizerState(new Model.OptimizerState(iterations.longValue(), state, learningRate,
                        lossScaleState(compile.get("optimizer_loss_scale"),
                        compile.get("optimizer_skipped_steps"))));
            }
            if (doc.get("class_names") instanceof List<?> names2) {
                model.classNames(names2.stream().map(String::valueOf).toList());
            }
            if (doc.get("preprocessing") instanceof Map<?, ?> p) {
                dev.osprey.data.images.Preprocessing pre = dev.osprey.data.images.Preprocessing.fromConfig(p);
                Shape input = model.inputShape();
                int channels = pre.color() == dev.osprey.data.images.Preprocessing.ColorMode.RGB ? 3 : 1;
                if (input.rank() != 3 || input.dim(0) != pre.height() || input.dim(1) != pre.width()
                        || input.dim(2) != channels) {
                    throw new ModelFormatException(path + ": the saved preprocessing makes " + pre.height() + "x"
                            + pre.width() + "x" + channels + " images, but the model takes " + input + " (damaged)");
                }
                model.preprocessing(pre);
            }
            if (doc.get("int8_input_ranges") != null) {
                try {
                    model.inputRanges(inputRanges(doc.get("int8_input_ranges"), path));
                } catch (IllegalArgumentException e) {
                    throw new ModelFormatException(path + ": " + e.getMessage() + " (damaged)");
                }
            }
            return model;
        } catch (RuntimeException | Error | ModelFormatException e) {
            model.close();
            throw e;
        }
    }

    /** Format version 1: a Sequential of layers by class name with the input shape beside them. */
    private static Model versionOneModel(Map<String, Object> doc) {
        Sequential model = new Sequential();
        for (Object o : (List<?>) doc.get("layers")) {
            Map<String, Object> entry = asMap(o, "layer");
            model.add(LayerRegistry.fromConfig((String) entry.get("class_name"), asMap(entry.get("config"),
                    "layer config")));
        }
        if (model.layers().isEmpty()) {
            throw new IllegalArgumentException("expected at least one layer, received none");
        }
        model.layers().get(0).inputShape(ints(doc.get("input_shape"))); // built later, on the chosen device
        return model;
    }

    /** Format version 1's weight names: "layers.{i}.{kernel|bias}" in getWeights() order. */
    private static List<String> versionOneNames(Model model) {
        List<String> names = new ArrayList<>();
        List<Layer> layers = model.layers();
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            for (var p : l.parameters(l.weightInputShapes())) {
                names.add("layers." + i + "." + p.name());
            }
        }
        return names;
    }

    private static void putLoss(Map<String, Object> into, Loss loss) {
        into.put("loss", loss.name());
        into.put("from_logits", loss.fromLogits());
        if (loss.labelSmoothing() > 0) {
            into.put("label_smoothing", loss.labelSmoothing());
        }
    }

    private static Loss savedLoss(Map<String, Object> saved) {
        if (!(saved.get("loss") instanceof String name)) {
            throw new IllegalArgumentException("expected the compile settings to name a loss, received "
                    + saved.get("loss"));
        }
        Object smoothing = saved.get("label_smoothing");
        return Loss.of(name).fromLogits(Boolean.TRUE.equals(saved.get("from_logits")))
                .labelSmoothing(smoothing == null ? 0 : dbl(smoothing));
    }

    /** losses: a list of one loss's settings per output. */
    private static List<Loss> savedLosses(Object saved) {
        if (!(saved instanceof List<?> each) || each.isEmpty()) {
            throw new IllegalArgumentException("expected losses to be a list of each output's loss, received " + saved);
        }
        List<Loss> losses = new ArrayList<>();
        for (Object entry : each) {
            losses.add(savedLoss(asMap(entry, "loss")));
        }
        return losses;
    }

    /** metrics_by_output: each output's metric names under its name (every name one of the model's outputs). */
    private static List<List<Metric>> metricsByOutput(Object saved, List<String> outputs) {
        if (!(saved instanceof Map<?, ?> byName) || !outputs.containsAll(byName.keySet())) {
            throw new IllegalArgumentException("expected metrics_by_output to map the outputs' names " + outputs
                    + " to lists of metric names, received " + saved);
        }
        List<List<Metric>> perOutput = new ArrayList<>();
        for (String name : outputs) {
            perOutput.add(byName.containsKey(name) ? metricNames(byName.get(name)) : List.of());
        }
        return perOutput;
    }

    /** metrics, or one output's in metrics_by_output: a list of Keras' metric names. */
    private static List<Metric> metricNames(Object saved) {
        if (!(saved instanceof List<?> each) || !each.stream().allMatch(m -> m instanceof String)) {
            throw new IllegalArgumentException("expected metrics to be a list of names, received " + saved);
        }
        return each.stream().map(m -> Metric.of((String) m)).toList();
    }

    /** loss_weights: a list of numbers, one per output. */
    private static List<Double> savedWeights(Object saved) {
        if (!(saved instanceof List<?> each) || !each.stream().allMatch(w -> w instanceof Number)) {
            throw new IllegalArgumentException("expected loss_weights to be a list of numbers, received " + saved);
        }
        return each.stream().map(w -> ((Number) w).doubleValue()).toList();
    }

    /**
     * optimizer_loss_scale: absent, or [scale, good steps]; with optimizer_skipped_steps (absent: 0), the steps skipped
     * for overflowing. Checked again when restored.
     */
    private static Model.LossScaleState lossScaleState(Object saved, Object skippedSteps) {
        if (saved == null) {
            return null;
        }
        if (!(saved instanceof List<?> l) || l.size() != 2 || !(l.get(0) instanceof Number scale)
                || !count(l.get(1), Integer.MAX_VALUE)) {
            throw new IllegalArgumentException("expected optimizer_loss_scale to be [scale, good steps], received "
                    + saved);
        }
        if (skippedSteps != null && !count(skippedSteps, Long.MAX_VALUE)) {
            throw new IllegalArgumentException("expected optimizer_skipped_steps to be a whole number >= 0, received "
                    + skippedSteps);
        }
        long skipped = skippedSteps == null ? 0 : ((Number) skippedSteps).longValue();
        return new Model.LossScaleState(scale.doubleValue(), ((Number) l.get(1)).intValue(), skipped);
    }

    /** Whether o is a whole number from 0 to max. */
    private static boolean count(Object o, double max) {
        return o instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) && n.doubleValue() >= 0
                && n.doubleValue() <= max;
    }

    private static Optimizer optimizer(String name, Map<String, Object> config) {
        Map<String, Object> c = config;
        dev.osprey.optim.schedules.LearningRateSchedule schedule = null;
        if (config.get("learning_rate") instanceof Map<?, ?> serialized) { // a schedule, as Keras saves one
            schedule = dev.osprey.optim.schedules.LearningRateSchedule.fromConfig(serialized);
            c = new java.util.LinkedHashMap<>(config);
            c.put("learning_rate", Math.max(schedule.rate(0), Double.MIN_NORMAL)); // replaced before every step
        }
        Optimizer o = fixedRateOptimizer(name, c);
        o = schedule == null ? o : o.learningRate(schedule);
        for (dev.osprey.optim.GradientClipping.Kind kind : dev.osprey.optim.GradientClipping.Kind.values()) {
            if (config.get(kind.kerasName()) instanceof Number v) {
                o = o.clipping(new dev.osprey.optim.GradientClipping(kind, v.doubleValue()));
            }
        }
        if (Boolean.TRUE.equals(config.get("use_ema"))) {
            Object frequency = config.get("ema_overwrite_frequency");
            if (frequency != null && !(frequency instanceof Number)) {
                throw new IllegalArgumentException("expected ema_overwrite_frequency to be a number or null, received "
                        + frequency);
            }
            Object momentum = config.getOrDefault("ema_momentum", 0.99); // Keras' default where absent
            if (!(momentum instanceof Number)) {
                throw new IllegalArgumentException("expected ema_momentum to be a number, received " + momentum);
            }
            o = o.useEma(dbl(momentum), frequency == null ? 0 : intOf(frequency, "ema_overwrite_frequency"));
        }
        Object accumulation = config.get("gradient_accumulation_steps");
        if (accumulation != null) {
            if (!(accumulation instanceof Number)) {
                throw new IllegalArgumentException("expected gradient_accumulation_steps to be a number or null, "
                        + "received " + accumulation);
            }
            o = o.gradientAccumulationSteps(intOf(accumulation, "gradient_accumulation_steps"));
        }
        if (config.get("loss_scale") != null) {
            if (!(config.get("loss_scale") instanceof Map<?, ?> lossScale)) {
                throw new IllegalArgumentException("expected the optimizer's loss_scale to be a map, received "
                        + config.get("loss_scale"));
            }
            o = new dev.osprey.optim.LossScaleOptimizer(o, dev.osprey.optim.DynamicLossScale.fromConfig(lossScale));
        }
        return o;
    }

    private static Optimizer fixedRateOptimizer(String name, Map<String, Object> c) {
        double decay = c.get("weight_decay") == null ? 0 : dbl(c.get("weight_decay"));
        String[] excluded = excludedFromWeightDecay(c.get("exclude_from_weight_decay"));
        return switch (name) {
            case "adam" -> new Adam(dbl(c.get("learning_rate")), dbl(c.get("beta_1")), dbl(c.get("beta_2")),
                    dbl(c.get("epsilon"))).weightDecay(decay).excludeFromWeightDecay(excluded)
                    .amsgrad(Boolean.TRUE.equals(c.get("amsgrad")));
            case "adamw" -> new AdamW(dbl(c.get("learning_rate")), decay, dbl(c.get("beta_1")), dbl(c.get("beta_2")),
                    dbl(c.get("epsilon"))).excludeFromWeightDecay(excluded).amsgrad(Boolean.TRUE.equals(c.get("amsgrad")));
            case "sgd" -> new SGD(dbl(c.get("learning_rate")), dbl(c.get("momentum")),
                    Boolean.TRUE.equals(c.get("nesterov"))).weightDecay(decay).excludeFromWeightDecay(excluded);
            case "rmsprop" -> new dev.osprey.optim.RMSprop(dbl(c.get("learning_rate")), dbl(c.get("rho")),
                    dbl(c.get("momentum")), dbl(c.get("epsilon")), Boolean.TRUE.equals(c.get("centered")))
                    .weightDecay(decay).excludeFromWeightDecay(excluded);
            default -> throw new IllegalArgumentException("expected optimizer adam, adamw, sgd or rmsprop, received '"
                    + name + "'");
        };
    }

    /** The patterns of exclude_from_weight_decay: absent, or a list of strings. */
    private static String[] excludedFromWeightDecay(Object o) {
        if (o == null) {
            return new String[0];
        }
        if (!(o instanceof List<?> list) || !list.stream().allMatch(String.class::isInstance)) {
            throw new IllegalArgumentException("expected exclude_from_weight_decay to be a list of strings, received "
                    + o);
        }
        return list.toArray(new String[0]);
    }

    /** The entry's bytes, or null when the zip has no such entry. */
    private static byte[] readEntry(ZipFile zip, String name, long limit, String limitText, Path path) throws IOException {
        ZipEntry entry = zip.getEntry(name);
        if (entry == null) {
            return null;
        }
        try (InputStream in = zip.getInputStream(entry)) {
            return readBounded(in, name, limit, limitText, path);
        }
    }

    /**
     * Inflates at most {@code limit} bytes: the sizes a zip declares are the writer's word, so the bound is on what
     * actually comes out, and growth follows the data (a lying header costs nothing).
     */
    private static byte[] readBounded(InputStream in, String name, long limit, String limitText, Path path)
            throws IOException {
        byte[] bytes = in.readNBytes((int) Math.min(limit + 1, MAX_ENTRY_BYTES));
        if (bytes.length > limit || (bytes.length == MAX_ENTRY_BYTES && in.read() >= 0)) {
            throw new ModelFormatException(path + ": entry " + name + " inflates to more than "
                    + limit + " bytes, " + limitText);
        }
        return bytes;
    }

    /**
     * How far model.json may inflate from a file of this size: maxJsonBytes, and at most the larger of 8 MiB and 32
     * times the file (parsed JSON takes 5 to 30 times its bytes in memory; a real model.json is well under 8 MiB).
     */
    private static long jsonBytes(long fileBytes) {
        return Math.min(Limits.current().maxJsonBytes(), inflationBound(fileBytes, 8L << 20));
    }

    /** The larger of floor and INFLATION times the file's bytes: what an entry may inflate to beside the others. */
    private static long inflationBound(long fileBytes, long floor) {
        return fileBytes > Long.MAX_VALUE / INFLATION ? Long.MAX_VALUE : Math.max(floor, INFLATION * fileBytes);
    }

    private static String jsonLimit(long fileBytes) {
        return jsonBytes(fileBytes) < Limits.current().maxJsonBytes() ? "the larger of 8 MiB and " + INFLATION
                + " times the file's " + fileBytes + " bytes (a zip bomb?)"
                : Limits.describe("maxJsonBytes", Limits.current().maxJsonBytes());
    }

    private static String weightsLimitText(long fileBytes) {
        return weightsLimit(fileBytes) < weightsLimit() ? "the larger of 64 MiB and " + INFLATION + " times the file's "
                + fileBytes + " bytes (Osprey stores the weights uncompressed; a zip bomb? A model re-zipped with "
                + "compression loads once zipped again stored: zip -0)" : "room for the weights of "
                + Limits.describe("maxParameters", Limits.current().maxParameters()) + " with their optimizer state";
    }

    /**
     * How much a weights entry may inflate beyond the file holding it: Osprey stores weights uncompressed, and even a
     * re-zipped model's floats compress a few times at most, while a zip bomb of zeros inflates a thousandfold.
     */
    private static final long INFLATION = 32;

    /** The weights' limit for a file of this size: the parameter limit's room, and at most 32 times the file. */
    private static long weightsLimit(long fileBytes) {
        return Math.min(weightsLimit(), inflationBound(fileBytes, 64L << 20));
    }

    /** The weights entry holds at most maxParameters weights and two optimizer slots for each, plus a header. */
    private static long weightsLimit() {
        long parameters = Limits.current().maxParameters();
        return parameters > (MAX_ENTRY_BYTES - (1 << 20)) / 12 ? MAX_ENTRY_BYTES : parameters * 12 + (1 << 20);
    }

    private static ModelFormatException duplicateEntry(Path path, String name) {
        return new ModelFormatException(path + ": the zip holds entry " + name + " twice (damaged or hostile: "
                + "expected each entry once)");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> asMap(Object o, String what) {
        if (!(o instanceof Map)) {
            String received = String.valueOf(o);
            throw new IllegalArgumentException("expected " + what + " to be a JSON object, received "
                    + (received.length() <= 100 ? received : received.substring(0, 100) + "... (" + received.length()
                    + " characters)"));
        }
        return (Map<String, Object>) o;
    }

    static List<Integer> toList(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int v : a) {
            l.add(v);
        }
        return l;
    }

    static int[] ints(Object o) {
        if (!(o instanceof List<?> l) || l.size() > 16) {
            throw new IllegalArgumentException("expected a shape (a list of at most 16 whole numbers), received "
                    + abbreviated(o));
        }
        int[] out = new int[l.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(l.get(i) instanceof Long v) || v < 0 || v > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("expected dimensions from 0 to " + Integer.MAX_VALUE
                        + ", received " + abbreviated(o));
            }
            out[i] = (int) (long) v;
        }
        return out;
    }

    private static String abbreviated(Object o) {
        String s = String.valueOf(o);
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    private static double dbl(Object o) {
        return ((Number) o).doubleValue();
    }

    /** A whole number of the config, named in the error when it is none (or out of int's range). */
    private static int intOf(Object o, String name) {
        double d = dbl(o);
        if (d != Math.rint(d) || d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("expected " + name + " to be a whole number, received " + o);
        }
        return (int) d;
    }

    /** SafeTensors: 8-byte little-endian header length, a JSON header, then the raw little-endian tensors. */
    static final class SafeTensors {
        private SafeTensors() {
        }

        static byte[] write(List<String> names, List<NDArray> arrays) {
            Map<String, Object> header = new LinkedHashMap<>();
            long offset = 0;
            for (int i = 0; i < names.size(); i++) {
                long bytes = (long) arrays.get(i).data().length * Float.BYTES;
                Map<String, Object> t = new LinkedHashMap<>();
                t.put("dtype", "F32");
                t.put("shape", toList(arrays.get(i).shape()));
                t.put("data_offsets", List.of(offset, offset + bytes));
                header.put(names.get(i), t);
                offset += bytes;
            }
            byte[] h = Json.write(header).getBytes(StandardCharsets.UTF_8);
            int pad = (8 - h.length % 8) % 8; // the format asks for 8-byte alignment of the data
            ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + h.length + pad + offset)).order(ByteOrder.LITTLE_ENDIAN);
            out.putLong(h.length + pad).put(h);
            for (int i = 0; i < pad; i++) {
                out.put((byte) ' ');
            }
            java.nio.FloatBuffer floats = out.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            for (NDArray a : arrays) {
                floats.put(a.data());
            }
            return out.array();
        }

        static List<NDArray> read(byte[] bytes, List<String> names, Path path) throws ModelFormatException {
            ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (bytes.length < 8) {
                throw new ModelFormatException(path + ": weights entry of " + bytes.length + " bytes is truncated");
            }
            long headerLength = in.getLong();
            if (headerLength < 2 || headerLength > bytes.length - 8) {
                throw new ModelFormatException(path + ": weights header of " + headerLength + " bytes in an entry of "
                        + bytes.length + " bytes (truncated or damaged)");
            }
            Map<String, Object> header;
            try {
                header = asMap(Json.parse(bytes, 8, (int) headerLength), "header");
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(path + ": damaged weights header: " + e.getMessage(), e);
            }
            long dataStart = 8 + headerLength;
            Map<String, Extent> extents = extents(header, bytes.length - dataStart, path);
            List<NDArray> out = new ArrayList<>();
            for (String name : names) {
                Extent x = extents.get(name);
                if (x == null) {
                    throw new ModelFormatException(path + ": expected a tensor named " + name + " in the weights, found "
                            + abbreviated(header.keySet()));
                }
                float[] values = new float[(int) (x.end() - x.begin()) / Float.BYTES];
                in.position((int) (dataStart + x.begin()));
                in.asFloatBuffer().get(values);
                for (int i = 0; i < values.length; i++) {
                    if (!Float.isFinite(values[i])) {
                        throw new ModelFormatException(path + ": tensor " + name + " holds " + values[i] + " at index "
                                + i + " (expected finite weights: the model was saved after training diverged, or the "
                                + "file is damaged)");
                    }
                }
                out.add(new NDArray(values, x.shape()));
            }
            return out;
        }

        /** Where one tensor's bytes lie in the data section. */
        private record Extent(int[] shape, long begin, long end) {
        }

        /**
         * Every tensor the header declares, checked before any is read: F32, a shape under the element limit whose
         * size matches its offsets, inside the data, and no two tensors sharing bytes.
         */
        private static Map<String, Extent> extents(Map<String, Object> header, long dataBytes, Path path)
                throws ModelFormatException {
            Map<String, Extent> extents = new LinkedHashMap<>();
            long maxValues = Math.min(MAX_TENSOR_VALUES, Limits.current().maxTensorElements());
            for (Map.Entry<String, Object> e : header.entrySet()) {
                String name = e.getKey();
                if (name.equals("__metadata__")) {
                    continue;
                }
                Map<String, Object> t = asMap(e.getValue(), name);
                if (!"F32".equals(t.get("dtype"))) {
                    throw new ModelFormatException(path + ": expected " + name + " as F32, received " + t.get("dtype"));
                }
                int[] shape = ints(t.get("shape"));
                long count = 1;
                for (int d : shape) {
                    count *= d;
                    if (count > maxValues) {
                        throw new Limits.LimitExceededException(path + ": tensor " + name + " of shape "
                                + Json.write(toList(shape)) + " holds more values than " + Limits.describe(
                                "maxTensorElements", maxValues));
                    }
                }
                if (!(t.get("data_offsets") instanceof List<?> offsets) || offsets.size() != 2
                        || !(offsets.get(0) instanceof Long begin) || !(offsets.get(1) instanceof Long end)) {
                    throw new ModelFormatException(path + ": tensor " + name + ": expected data_offsets [begin, end] "
                            + "as whole numbers, received " + abbreviated(t.get("data_offsets")));
                }
                if (begin < 0 || end < begin || end > dataBytes || end - begin != count * Float.BYTES) {
                    throw new ModelFormatException(path + ": tensor " + name + " of shape " + Json.write(toList(shape))
                            + " (" + count * Float.BYTES + " bytes) has offsets [" + begin + ", " + end + ") that don't fit"
                            + " the " + dataBytes + " bytes of data (truncated or damaged)");
                }
                extents.put(name, new Extent(shape, begin, end));
            }
            List<Map.Entry<String, Extent>> byBegin = new ArrayList<>(extents.entrySet());
            byBegin.sort(java.util.Comparator.comparingLong(x -> x.getValue().begin()));
            for (int i = 1; i < byBegin.size(); i++) {
                Extent previous = byBegin.get(i - 1).getValue();
                Extent next = byBegin.get(i).getValue();
                if (next.begin() < previous.end()) {
                    throw new ModelFormatException(path + ": tensors " + byBegin.get(i - 1).getKey() + " ["
                            + previous.begin() + ", " + previous.end() + ") and " + byBegin.get(i).getKey() + " ["
                            + next.begin() + ", " + next.end() + ") overlap (damaged or hostile: expected each byte "
                            + "to belong to one tensor)");
                }
            }
            return extents;
        }
    }

    /** The int8 calibration ranges: {"layer": [min, max], ...}, each a finite min <= max. */
    private static Map<String, dev.osprey.backend.InputRange> inputRanges(Object value, Object path)
            throws ModelFormatException {
        if (!(value instanceof Map<?, ?> map)) {
            throw new ModelFormatException(path + ": expected int8_input_ranges as {\"layer\": [min, max]}, received "
                    + value);
        }
        Map<String, dev.osprey.backend.InputRange> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            if (!(e.getValue() instanceof List<?> r) || r.size() != 2 || !(r.get(0) instanceof Number min)
                    || !(r.get(1) instanceof Number max)) {
                throw new ModelFormatException(path + ": expected the int8 input range of " + e.getKey()
                        + " as [min, max], received " + e.getValue());
            }
            try {
                out.put(String.valueOf(e.getKey()), new dev.osprey.backend.InputRange(min.floatValue(), max.floatValue()));
            } catch (IllegalArgumentException bad) {
                throw new ModelFormatException(path + ": int8 input range of " + e.getKey() + ": " + bad.getMessage());
            }
        }
        return out;
    }
}
