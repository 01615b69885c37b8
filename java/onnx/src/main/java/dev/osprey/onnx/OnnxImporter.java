package dev.osprey.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import dev.osprey.io.OnnxSupport;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import onnx.Onnx.ModelProto;
import onnx.Onnx.OperatorSetIdProto;
import onnx.Onnx.TensorProto;

/**
 * Reads an ONNX image classifier into an Osprey {@link Model}: {@code OnnxImporter.read(path)} or, through the
 * core, {@code Model.importOnnx(path)}.
 *
 * <p>The ONNX graph is NCHW; the model Osprey builds is NHWC like every Osprey model, so a (C, H, W) input becomes
 * an (H, W, C) one and 4-D outputs come out (H, W, C). Weights are converted once, at import. Each unsupported op,
 * attribute or shape gives one {@link OnnxImportException} naming the node; the importer never returns an
 * approximate model.
 */
public final class OnnxImporter implements OnnxSupport {
    /** The largest ONNX file read whole (protobuf's own limit); larger models keep their weights as external data. */
    public static final long MAX_FILE_BYTES = Integer.MAX_VALUE;
    /** The oldest ONNX opset of the default domain the mapping follows (attributes that moved to inputs included). */
    public static final int MIN_OPSET = 1;
    /** The newest ONNX opset of the default domain the mapping follows. */
    public static final int MAX_OPSET = 21;

    private final Map<String, TensorProto> boundInputs = new HashMap<>();
    private Device device;
    private boolean nchwInput;

    /** For the {@link java.util.ServiceLoader}; use {@link #read(Path)} or the builder methods. */
    public OnnxImporter() {
    }

    /** Reads the model at path onto {@link Device#auto()}. */
    public static Model read(Path path) throws IOException {
        return new OnnxImporter().importModel(path, null);
    }

    /**
     * Keeps the model's image inputs NCHW, as the ONNX file has them: the model takes (C, H, W) samples and a Permute
     * layer turns them NHWC inside (default false: the model takes (H, W, C) like every Osprey model).
     */
    public OnnxImporter nchwInput(boolean keep) {
        this.nchwInput = keep;
        return this;
    }

    /** Where the model will run (default {@link Device#auto()}). */
    public OnnxImporter device(Device device) {
        this.device = device;
        return this;
    }

    /**
     * Treats a graph input as a constant with this value: for graphs that take their weights as inputs (as ONNX's
     * own operator tests do). The input must then be used where a constant is expected.
     */
    public OnnxImporter bindInput(String name, TensorProto value) {
        boundInputs.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /** Reads the model at path. */
    public Model importModel(Path path) throws IOException {
        return importModel(path, device);
    }

    @Override
    public Model importModel(Path path, Device device) throws IOException {
        return importGraph(path, device).model();
    }

    @Override
    public Model importModel(Path path, Device device, boolean nchwInput) throws IOException {
        boolean before = this.nchwInput;
        this.nchwInput = nchwInput;
        try {
            return importGraph(path, device).model();
        } finally {
            this.nchwInput = before;
        }
    }

    /** A model and, per output, whether Osprey holds it channels-last (an ONNX (N, C, H, W) output). */
    record Imported(Model model, List<Boolean> channelsLastOutputs) { }

    Imported importGraph(Path path, Device device) throws IOException {
        ModelProto proto = parse(path);
        int opset = defaultOpset(proto);
        Path dir = path.toAbsolutePath().getParent();
        boolean nhwc = proto.getMetadataPropsList().stream().anyMatch(p -> p.getKey().equals(OnnxExporter.INPUT_LAYOUT_KEY)
                && p.getValue().equalsIgnoreCase("NHWC"));
        GraphImporter.Result r = new GraphImporter(proto.getGraph(), opset, dir, boundInputs, nhwc, nchwInput).run();
        Model model;
        try {
            model = new Model(r.inputs(), r.outputs());
        } catch (IllegalArgumentException e) {
            throw new OnnxImportException(path + ": the imported graph is not a valid Osprey model: " + e.getMessage(),
                    e);
        }
        List<Boolean> channelsLast = r.outputValues().stream()
                .map(v -> v.layout() == Value.Layout.CHANNELS_LAST).toList();
        Model built = withWeights(model, device != null ? device : this.device, r.weights(), path);
        List<String> names = classNames(proto, path);
        if (!names.isEmpty()) {
            if (built.outputs().size() == 1 && built.outputShape().rank() == 1
                    && built.outputShape().size() == names.size()) {
                built.classNames(names);
            } else {
                org.slf4j.LoggerFactory.getLogger(OnnxImporter.class).warn("{}: its {} class names do not fit its "
                        + "output {}, so they were not kept", path, names.size(), built.outputShape());
            }
        }
        return new Imported(built, channelsLast);
    }

    /**
     * The class names an Osprey export wrote in the metadata ({@link OnnxExporter#CLASS_NAMES_KEY}), or none: where
     * the entry is absent or not a JSON list of strings (a file is untrusted input), the model simply has no names.
     */
    private static List<String> classNames(ModelProto proto, Path path) {
        for (onnx.Onnx.StringStringEntryProto p : proto.getMetadataPropsList()) {
            if (!p.getKey().equals(OnnxExporter.CLASS_NAMES_KEY)) {
                continue;
            }
            try {
                if (dev.osprey.io.Json.parse(p.getValue()) instanceof List<?> list
                        && list.stream().allMatch(String.class::isInstance)) {
                    return list.stream().map(String.class::cast).toList();
                }
            } catch (IllegalArgumentException e) { // malformed, or over the JSON limits
                org.slf4j.LoggerFactory.getLogger(OnnxImporter.class).warn("{}: its class names were not read ({})",
                        path, e.getMessage());
            }
        }
        return List.of();
    }

    @Override
    public void exportModel(Model model, Path path) throws IOException {
        OnnxExporter.export(model, path);
    }

    @Override
    public double verify(Model model, Path testDataSet) throws IOException {
        List<NDArray> inputs = new ArrayList<>();
        for (int i = 0; Files.exists(testDataSet.resolve("input_" + i + ".pb")); i++) {
            Path file = testDataSet.resolve("input_" + i + ".pb");
            TensorData t = TensorData.read(readTensor(file), testDataSet, file.toString());
            int[] sample = java.util.Arrays.stream(t.dims).skip(1).mapToInt(d -> (int) d).toArray();
            boolean asIs = i < model.inputs().size() && java.util.Arrays.equals(sample,
                    model.inputs().get(i).shape().dims()); // a model that kept the NCHW input
            inputs.add(asIs ? new NDArray(t.asFloats(), java.util.Arrays.stream(t.dims).mapToInt(d -> (int) d)
                    .toArray()) : Nchw.toOsprey(t));
        }
        if (inputs.isEmpty()) {
            throw new NoSuchFileException(testDataSet.resolve("input_0.pb").toString(), null,
                    "expected an ONNX test data set (input_0.pb, output_0.pb)");
        }
        List<NDArray> outputs = model.predict(inputs, inputs.get(0).shape()[0]);
        double diff = 0;
        double scale = 1e-12;
        for (int o = 0; o < outputs.size(); o++) {
            Path file = testDataSet.resolve("output_" + o + ".pb");
            float[] expected = TensorData.read(readTensor(file), testDataSet, file.toString()).asFloats();
            float[] actual = Nchw.toOnnx(outputs.get(o));
            if (actual.length != expected.length) {
                throw new OnnxImportException(file + ": expected " + expected.length + " values, the model gave "
                        + actual.length);
            }
            for (int i = 0; i < expected.length; i++) {
                diff = Math.max(diff, Math.abs((double) actual[i] - expected[i]));
                scale = Math.max(scale, Math.abs(expected[i]));
            }
        }
        return diff / scale;
    }

    private static TensorProto readTensor(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return TensorProto.parseFrom(in);
        } catch (InvalidProtocolBufferException e) {
            throw new OnnxImportException(file + " is not an ONNX tensor: " + e.getMessage(), e);
        }
    }

    /** Builds the model on the device and sets every weight the graph gave, checking that none is left over. */
    private static Model withWeights(Model model, Device device, Map<String, float[]> weights, Path path)
            throws IOException {
        try {
            model.device(device);
            model.build();
            List<String> paths = model.weightPaths();
            List<NDArray> current = model.getWeights();
            List<NDArray> values = new ArrayList<>();
            for (int i = 0; i < paths.size(); i++) {
                float[] v = weights.get(paths.get(i));
                int[] shape = current.get(i).shape();
                if (v == null || v.length != current.get(i).data().length) {
                    throw new OnnxImportException(path + ": weight " + paths.get(i) + " of shape "
                            + java.util.Arrays.toString(shape) + (v == null ? " has no value in the ONNX graph"
                            : " received " + v.length + " values"));
                }
                values.add(new NDArray(v, shape));
            }
            if (weights.size() != paths.size()) {
                List<String> extra = new ArrayList<>(weights.keySet());
                extra.removeAll(paths);
                throw new OnnxImportException(path + ": weights " + extra + " belong to no layer of the model");
            }
            model.setWeights(values);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** Parses and checks the file: size, protobuf validity, an ONNX graph. */
    static ModelProto parse(Path path) throws IOException {
        long size;
        try {
            size = Files.size(path);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(path.toString(), null, "no such ONNX file");
        }
        if (size > MAX_FILE_BYTES) {
            throw new OnnxImportException(path + ": " + size + " bytes; expected at most " + MAX_FILE_BYTES
                    + " (protobuf's limit: larger models keep their weights as external data)");
        }
        ModelProto proto;
        try (InputStream in = Files.newInputStream(path)) {
            CodedInputStream coded = CodedInputStream.newInstance(in);
            coded.setSizeLimit((int) Math.max(size, 1));
            proto = ModelProto.parseFrom(coded);
        } catch (InvalidProtocolBufferException e) {
            throw new OnnxImportException(path + " is not a valid ONNX model (truncated or not protobuf): "
                    + e.getMessage(), e);
        }
        if (!proto.hasGraph() || proto.getGraph().getNodeCount() == 0 || proto.getIrVersion() <= 0) {
            throw new OnnxImportException(path + " is not an ONNX model: expected an IR version and a graph of "
                    + "nodes, received " + (proto.hasGraph() ? proto.getGraph().getNodeCount() + " nodes" : "no graph")
                    + " and IR version " + proto.getIrVersion());
        }
        return proto;
    }

    private static int defaultOpset(ModelProto proto) throws OnnxImportException {
        for (OperatorSetIdProto o : proto.getOpsetImportList()) {
            if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
                long v = o.getVersion();
                if (v < MIN_OPSET || v > MAX_OPSET) {
                    throw new OnnxImportException("ONNX opset " + v + " is not supported; expected " + MIN_OPSET
                            + " to " + MAX_OPSET);
                }
                return (int) v;
            }
        }
        if (proto.getIrVersion() < 3) {
            return MIN_OPSET; // before opset imports existed
        }
        throw new OnnxImportException("the model imports no opset of the default ONNX domain");
    }
}
