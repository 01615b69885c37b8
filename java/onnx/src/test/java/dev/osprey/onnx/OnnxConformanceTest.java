package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import onnx.Onnx.GraphProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.ValueInfoProto;
import org.junit.jupiter.api.Test;

/**
 * ONNX's own conformance data (Debian's libonnx-testdata): every case Osprey's importer accepts must predict the
 * expected outputs at the suite's tolerance (|actual - expected| <= 1e-7 + 1e-3 |expected|). Cases the importer
 * refuses (an op or attribute Osprey does not map, a 1-D or 3-D op, another dtype) are listed with the refusal, in
 * target/onnx-conformance.txt; a refusal is never a wrong answer.
 */
class OnnxConformanceTest {
    /** Inputs that ops take as weights: the suite passes them as graph inputs, Osprey needs them constant. */
    private static final Map<String, Set<Integer>> WEIGHT_INPUTS = Map.ofEntries(
            Map.entry("Conv", Set.of(1, 2)), Map.entry("BatchNormalization", Set.of(1, 2, 3, 4)),
            Map.entry("Gemm", Set.of(1, 2)), Map.entry("MatMul", Set.of(1)), Map.entry("Clip", Set.of(1, 2)),
            Map.entry("Pad", Set.of(1, 2, 3)), Map.entry("Reshape", Set.of(1)), Map.entry("Dropout", Set.of(1, 2)),
            Map.entry("Split", Set.of(1)));
    /** The fewest cases that must pass: a drop below it is a regression in the importer. */
    private static final int MIN_PASSED = 119;

    record Outcome(String name, String status, String detail) { }

    @Test
    void everyImportedCaseMatchesTheSuite() throws IOException {
        Path root = Path.of(System.getProperty("osprey.onnx.testdata", "/usr/share/libonnx-testdata/data"));
        assumeTrue(Files.isDirectory(root.resolve("node")), "ONNX's conformance data is not installed at " + root
                + " (Debian: apt-get install libonnx-testdata)");
        List<Path> cases = new ArrayList<>();
        for (String suite : List.of("node", "pytorch-converted", "pytorch-operator", "simple")) {
            Path dir = root.resolve(suite);
            if (Files.isDirectory(dir)) {
                try (Stream<Path> s = Files.list(dir)) {
                    s.filter(p -> Files.isRegularFile(p.resolve("model.onnx"))).sorted().forEach(cases::add);
                }
            }
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (Path c : cases) {
            outcomes.add(run(c, root));
        }
        long passed = outcomes.stream().filter(o -> o.status.equals("passed")).count();
        List<Outcome> failed = outcomes.stream().filter(o -> o.status.equals("FAILED")).toList();
        Map<String, Integer> reasons = new TreeMap<>();
        StringBuilder report = new StringBuilder();
        report.append(String.format("ONNX conformance (%s): %d cases, %d run, %d passed, %d failed, %d not run%n%n",
                root, outcomes.size(), passed + failed.size(), passed, failed.size(),
                outcomes.size() - passed - failed.size()));
        for (Outcome o : outcomes) {
            report.append(o.status).append("  ").append(o.name).append("  ").append(o.detail).append('\n');
            if (o.status.equals("not run")) {
                reasons.merge(o.detail.replaceAll("'[^']*'", "'…'").replaceAll("node '[^']*' ", ""), 1, Integer::sum);
            }
        }
        Path out = Path.of("target", "onnx-conformance.txt");
        Files.createDirectories(out.getParent());
        Files.writeString(out, report);
        System.out.printf("ONNX conformance: %d cases, %d passed, %d failed, %d not run (list: %s)%n",
                outcomes.size(), passed, failed.size(), outcomes.size() - passed - failed.size(), out.toAbsolutePath());
        assertTrue(failed.isEmpty(), "cases imported but predicting wrongly:\n" + failed.stream()
                .map(o -> o.name + ": " + o.detail).reduce("", (a, b) -> a + b + "\n"));
        assertTrue(passed >= MIN_PASSED, "only " + passed + " cases passed; expected at least " + MIN_PASSED);
    }

    private static Outcome run(Path dir, Path root) {
        String name = root.relativize(dir).toString();
        Path data = dir.resolve("test_data_set_0");
        if (!Files.isDirectory(data)) {
            return new Outcome(name, "not run", "no test_data_set_0");
        }
        try {
            ModelProto proto = OnnxImporter.parse(dir.resolve("model.onnx"));
            GraphProto g = proto.getGraph();
            Set<String> initializers = new HashSet<>();
            g.getInitializerList().forEach(t -> initializers.add(t.getName()));
            List<String> graphInputs = g.getInputList().stream().map(ValueInfoProto::getName)
                    .filter(n -> !initializers.contains(n)).toList();
            Set<String> weights = new HashSet<>();
            for (NodeProto n : g.getNodeList()) {
                for (int i : WEIGHT_INPUTS.getOrDefault(n.getOpType(), Set.of())) {
                    if (i < n.getInputCount()) {
                        weights.add(n.getInput(i));
                    }
                }
            }
            OnnxImporter importer = new OnnxImporter().device(Device.cpu());
            List<Path> dataFiles = new ArrayList<>();
            for (int i = 0; i < graphInputs.size(); i++) {
                Path file = data.resolve("input_" + i + ".pb");
                if (!Files.exists(file)) {
                    return new Outcome(name, "not run", "no " + file.getFileName());
                }
                if (weights.contains(graphInputs.get(i))) {
                    importer.bindInput(graphInputs.get(i), OnnxTestData.proto(file));
                } else {
                    dataFiles.add(file);
                }
            }
            Model model;
            List<Boolean> channelsLast;
            try {
                OnnxImporter.Imported imported = importer.importGraph(dir.resolve("model.onnx"), null);
                model = imported.model();
                channelsLast = imported.channelsLastOutputs();
            } catch (OnnxImportException e) {
                return new Outcome(name, "not run", e.getMessage().replace('\n', ' '));
            }
            try (model) {
                List<NDArray> inputs = new ArrayList<>();
                for (Path file : dataFiles) {
                    inputs.add(OnnxTestData.toOsprey(OnnxTestData.tensor(file)));
                }
                if (model.inputs().size() != inputs.size()) {
                    return new Outcome(name, "not run", "the model uses " + model.inputs().size() + " of the "
                            + inputs.size() + " data inputs");
                }
                int batch = inputs.get(0).shape()[0];
                List<NDArray> outputs = model.predict(inputs, batch);
                for (int o = 0; o < outputs.size(); o++) {
                    TensorData expected = OnnxTestData.tensor(data.resolve("output_" + o + ".pb"));
                    float[] actual = channelsLast.get(o) ? OnnxTestData.toOnnx(outputs.get(o)) : outputs.get(o).data();
                    float[] e = expected.asFloats();
                    if (actual.length != e.length) {
                        return new Outcome(name, "FAILED", "output " + o + ": " + actual.length + " values, expected "
                                + e.length + " " + expected.shapeString());
                    }
                    for (int i = 0; i < e.length; i++) {
                        if (!(Math.abs(actual[i] - e[i]) <= 1e-7 + 1e-3 * Math.abs(e[i]))) {
                            return new Outcome(name, "FAILED", "output " + o + "[" + i + "] = " + actual[i]
                                    + ", expected " + e[i]);
                        }
                    }
                }
                return new Outcome(name, "passed", "");
            }
        } catch (OnnxImportException e) {
            return new Outcome(name, "not run", e.getMessage().replace('\n', ' '));
        } catch (Exception | AssertionError e) {
            return new Outcome(name, "FAILED", e.toString().replace('\n', ' '));
        }
    }
}
