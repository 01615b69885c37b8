package dev.osprey.io;

import dev.osprey.Activation;
import dev.osprey.Layer;
import dev.osprey.NDArray;
import dev.osprey.Padding;
import dev.osprey.Sequential;
import dev.osprey.Shape;
import dev.osprey.backend.Device;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
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
 * The model file (.osprey): a zip holding model.json (format version, architecture with Keras' class names and
 * config keys, compile settings) and weights.safetensors (every parameter as little-endian F32, named
 * "layers.{i}.{kernel|bias}"). Written to a temporary file beside the target, then renamed: a crash never
 * leaves half a model under the real name.
 */
public final class ModelFile {
    public static final String FORMAT = "osprey-model";
    public static final int VERSION = 1;
    private static final String MODEL_JSON = "model.json";
    private static final String WEIGHTS = "weights.safetensors";
    private static final long MAX_ENTRY_BYTES = 1L << 31;

    private ModelFile() {
    }

    public static void write(Sequential model, Path path) throws IOException {
        byte[] bytes = toBytes(model);
        Path absolute = path.toAbsolutePath();
        Path dir = absolute.getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + absolute.getFileName(), ".tmp");
        try {
            Files.write(tmp, bytes);
            dev.osprey.io.AtomicFiles.moveIntoPlace(tmp, absolute);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The model file's bytes, e.g. to make a copy of a model on another thread or device. */
    @SuppressWarnings("unchecked")
    public static byte[] toBytes(Sequential model) throws IOException {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("format", FORMAT);
        doc.put("version", VERSION);
        doc.put("input_shape", toList(model.inputShape().dims()));
        List<Object> layers = new ArrayList<>();
        for (Layer l : model.layers()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("class_name", l.className());
            entry.put("config", l.config());
            layers.add(entry);
        }
        doc.put("layers", layers);
        doc.put("class_names", model.classNames());
        if (model.preprocessing() != null) {
            doc.put("preprocessing", model.preprocessing().toConfig());
        }
        if (model.optimizer() != null) {
            Map<String, Object> compile = new LinkedHashMap<>();
            compile.put("optimizer", model.optimizer().name());
            compile.put("optimizer_config", model.optimizer().config());
            compile.put("loss", model.loss().name());
            compile.put("from_logits", model.loss().fromLogits());
            compile.put("metrics", model.metrics().stream().map(Metric::kerasName).toList());
            doc.put("compile", compile);
        }
        List<String> names = new ArrayList<>(names(model));
        List<NDArray> arrays = new ArrayList<>(model.getWeights());
        Sequential.OptimizerState state = model.optimizerState();
        if (state != null) { // saved so that training resumes where it stopped, as Keras does
            ((Map<String, Object>) doc.get("compile")).put("optimizer_iterations", state.iterations());
            state.slots().forEach((slot, values) -> {
                names.add("optimizer." + slot);
                arrays.add(values);
            });
        }
        byte[] json = Json.write(doc).getBytes(StandardCharsets.UTF_8);
        byte[] weights = SafeTensors.write(names, arrays);

        ByteArrayOutputStream bytes = new ByteArrayOutputStream(weights.length + json.length + 1024);
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            zip.putNextEntry(new ZipEntry(MODEL_JSON));
            zip.write(json);
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry(WEIGHTS));
            zip.write(weights);
            zip.closeEntry();
        }
        return bytes.toByteArray();
    }

    /** A model from bytes made by {@link #toBytes}, on the given device (null: automatic). */
    public static Sequential fromBytes(byte[] bytes, Device device) throws IOException {
        byte[] json = null;
        byte[] weights = null;
        try (ZipInputStream zip = new ZipInputStream(new java.io.ByteArrayInputStream(bytes))) {
            ZipEntry e;
            while ((e = zip.getNextEntry()) != null) {
                if (e.getName().equals(MODEL_JSON)) {
                    json = zip.readAllBytes();
                } else if (e.getName().equals(WEIGHTS)) {
                    weights = zip.readAllBytes();
                }
            }
        }
        return fromEntries(json, weights, device, Path.of("(model bytes)"));
    }

    public static Sequential read(Path path, Device device) throws IOException {
        byte[] json = null;
        byte[] weights = null;
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no model file there");
        }
        // ZipFile reads the central directory at the end of the file, so any truncation is caught here.
        try (ZipFile zip = new ZipFile(path.toFile())) {
            json = readEntry(zip, MODEL_JSON, path);
            weights = readEntry(zip, WEIGHTS, path);
        } catch (ZipException | java.io.EOFException e) {
            throw new ModelFormatException(path + " is not an Osprey model file, or is truncated (expected a zip with "
                    + MODEL_JSON + " and " + WEIGHTS + "): " + e.getMessage(), e);
        }
        return fromEntries(json, weights, device, path);
    }

    private static Sequential fromEntries(byte[] json, byte[] weights, Device device, Path path) throws IOException {
        if (json == null || weights == null) {
            throw new ModelFormatException(path + " is not an Osprey model file: expected entries " + MODEL_JSON
                    + " and " + WEIGHTS + ", found " + (json == null ? "no " + MODEL_JSON : "no " + WEIGHTS)
                    + " (truncated, or another kind of file)");
        }
        Map<String, Object> doc;
        try {
            doc = asMap(Json.parse(new String(json, StandardCharsets.UTF_8)), "model.json");
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(path + ": damaged " + MODEL_JSON + ": " + e.getMessage(), e);
        }
        try {
            return fromDocument(doc, weights, device, path);
        } catch (IllegalArgumentException | ClassCastException | NullPointerException e) {
            throw new ModelFormatException(path + ": " + e.getMessage(), e);
        }
    }

    private static Sequential fromDocument(Map<String, Object> doc, byte[] weightBytes, Device device, Path path)
            throws ModelFormatException {
        if (!FORMAT.equals(doc.get("format"))) {
            throw new ModelFormatException(path + ": expected format '" + FORMAT + "', received '" + doc.get("format") + "'");
        }
        long version = ((Number) doc.get("version")).longValue();
        if (version != VERSION) {
            throw new ModelFormatException(path + ": expected model format version " + VERSION + ", received " + version
                    + " (written by a newer Osprey?)");
        }
        Sequential model = new Sequential();
        model.device(device == null ? Device.auto() : device);
        for (Object o : (List<?>) doc.get("layers")) {
            Map<String, Object> entry = asMap(o, "layer");
            model.add(layer((String) entry.get("class_name"), asMap(entry.get("config"), "layer config")));
        }
        Shape input = Shape.of(ints(doc.get("input_shape")));
        Map<String, Object> compile = doc.containsKey("compile") ? asMap(doc.get("compile"), "compile") : null;
        try {
            model.build(input);
            if (compile != null) {
                Loss loss = Loss.of((String) compile.get("loss")).fromLogits(Boolean.TRUE.equals(compile.get("from_logits")));
                Metric[] metrics = ((List<?>) compile.get("metrics")).stream().map(m -> Metric.of((String) m))
                        .toArray(Metric[]::new);
                model.compile(optimizer((String) compile.get("optimizer"), asMap(compile.get("optimizer_config"),
                        "optimizer config")), loss, metrics);
            }
            model.setWeights(SafeTensors.read(weightBytes, names(model), path));
            if (compile != null && compile.get("optimizer_iterations") instanceof Number iterations) {
                List<String> slotNames = new ArrayList<>(model.optimizerSlotNames());
                List<NDArray> slots = SafeTensors.read(weightBytes,
                        slotNames.stream().map(n -> "optimizer." + n).toList(), path);
                Map<String, NDArray> state = new java.util.TreeMap<>();
                for (int i = 0; i < slotNames.size(); i++) {
                    state.put(slotNames.get(i), slots.get(i));
                }
                model.restoreOptimizerState(new Sequential.OptimizerState(iterations.longValue(), state));
            }
            if (doc.get("class_names") instanceof List<?> names) {
                model.classNames(names.stream().map(String::valueOf).toList());
            }
            if (doc.get("preprocessing") instanceof Map<?, ?> p) {
                model.preprocessing(dev.osprey.data.images.Preprocessing.fromConfig(p));
            }
            return model;
        } catch (RuntimeException | ModelFormatException e) {
            model.close();
            throw e;
        }
    }

    private static Layer layer(String className, Map<String, Object> c) {
        if (className == null) {
            throw new IllegalArgumentException("a layer without class_name");
        }
        return switch (className) {
            case "Conv2D" -> {
                int[] k = ints(c.get("kernel_size"));
                int[] s = ints(c.get("strides"));
                yield new Conv2D(num(c.get("filters")), k[0], k[1], Activation.of((String) c.get("activation")))
                        .strides(s[0], s[1]).padding(Padding.of((String) c.get("padding")));
            }
            case "MaxPooling2D" -> {
                int[] p = ints(c.get("pool_size"));
                int[] s = ints(c.get("strides"));
                yield new MaxPooling2D(p[0], p[1]).strides(s[0], s[1]).padding(Padding.of((String) c.get("padding")));
            }
            case "Flatten" -> new Flatten();
            case "Dense" -> new Dense(num(c.get("units")), Activation.of((String) c.get("activation")));
            case "Dropout" -> new Dropout(((Number) c.get("rate")).doubleValue());
            default -> throw new IllegalArgumentException("unknown layer class '" + className + "'");
        };
    }

    private static Optimizer optimizer(String name, Map<String, Object> c) {
        return switch (name) {
            case "adam" -> new Adam(dbl(c.get("learning_rate")), dbl(c.get("beta_1")), dbl(c.get("beta_2")),
                    dbl(c.get("epsilon")));
            case "sgd" -> new SGD(dbl(c.get("learning_rate")), dbl(c.get("momentum")),
                    Boolean.TRUE.equals(c.get("nesterov")));
            default -> throw new IllegalArgumentException("unknown optimizer '" + name + "'");
        };
    }

    /** "layers.{i}.{kernel|bias}" in getWeights() order. */
    private static List<String> names(Sequential model) {
        List<String> names = new ArrayList<>();
        Shape shape = model.inputShape();
        for (int i = 0; i < model.layers().size(); i++) {
            Layer l = model.layers().get(i);
            for (var p : l.parameters(shape)) {
                names.add("layers." + i + "." + p.name());
            }
            shape = l.outputShape(shape);
        }
        return names;
    }

    /** The entry's bytes, or null when the zip has no such entry. */
    private static byte[] readEntry(ZipFile zip, String name, Path path) throws IOException {
        ZipEntry entry = zip.getEntry(name);
        if (entry == null) {
            return null;
        }
        if (entry.getSize() > MAX_ENTRY_BYTES) {
            throw new ModelFormatException(path + ": entry " + name + " of " + entry.getSize() + " bytes is larger than "
                    + MAX_ENTRY_BYTES);
        }
        try (InputStream in = zip.getInputStream(entry)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.max(entry.getSize(), 0));
            in.transferTo(out);
            return out.toByteArray();
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object o, String what) {
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException("expected " + what + " to be a JSON object, received " + o);
        }
        return (Map<String, Object>) o;
    }

    private static List<Integer> toList(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int v : a) {
            l.add(v);
        }
        return l;
    }

    private static int[] ints(Object o) {
        List<?> l = (List<?>) o;
        int[] out = new int[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = num(l.get(i));
        }
        return out;
    }

    private static int num(Object o) {
        return Math.toIntExact(((Number) o).longValue());
    }

    private static double dbl(Object o) {
        return ((Number) o).doubleValue();
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
            for (NDArray a : arrays) {
                for (float f : a.data()) {
                    out.putFloat(f);
                }
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
                header = asMap(Json.parse(new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8)), "header");
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(path + ": damaged weights header: " + e.getMessage(), e);
            }
            long dataStart = 8 + headerLength;
            List<NDArray> out = new ArrayList<>();
            for (String name : names) {
                Object entry = header.get(name);
                if (entry == null) {
                    throw new ModelFormatException(path + ": expected a tensor named " + name + " in the weights, found "
                            + header.keySet());
                }
                Map<String, Object> t = asMap(entry, name);
                if (!"F32".equals(t.get("dtype"))) {
                    throw new ModelFormatException(path + ": expected " + name + " as F32, received " + t.get("dtype"));
                }
                int[] shape = ints(t.get("shape"));
                List<?> offsets = (List<?>) t.get("data_offsets");
                long begin = ((Number) offsets.get(0)).longValue();
                long end = ((Number) offsets.get(1)).longValue();
                long count = 1;
                for (int d : shape) {
                    count *= d;
                }
                if (end - begin != count * Float.BYTES || begin < 0 || dataStart + end > bytes.length) {
                    throw new ModelFormatException(path + ": tensor " + name + " of shape " + Json.write(toList(shape))
                            + " has offsets [" + begin + ", " + end + ") outside the " + (bytes.length - dataStart)
                            + " bytes of data (truncated or damaged)");
                }
                float[] values = new float[(int) count];
                in.position((int) (dataStart + begin));
                in.asFloatBuffer().get(values);
                out.add(new NDArray(values, shape));
            }
            return out;
        }
    }
}
