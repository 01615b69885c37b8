package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Device;
import dev.osprey.layers.Activation;
import dev.osprey.layers.Add;
import dev.osprey.layers.AveragePooling2D;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.DepthwiseConv2D;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.GlobalMaxPooling2D;
import dev.osprey.layers.LeakyReLU;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.layers.Multiply;
import dev.osprey.layers.ReLU;
import dev.osprey.layers.Rescaling;
import dev.osprey.layers.Reshape;
import dev.osprey.layers.Softmax;
import dev.osprey.layers.ZeroPadding2D;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Osprey -> ONNX -> ONNX Runtime: every layer type, every activation and the built-in architectures, exported and
 * run by ONNX Runtime for Java, predict Osprey's outputs to 1e-5; the export imports back to the same predictions.
 */
class OnnxExportTest {
    @TempDir
    static Path dir;

    record Case(String name, Supplier<Model> model) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Model functional(Shape input, java.util.function.Function<SymbolicTensor, SymbolicTensor> body) {
        Input in = Input.shape(input.dims());
        return new Model(in, body.apply(in));
    }

    static Stream<Arguments> models() {
        return Stream.of(
                new Case("conv (same, dilated, grouped, no bias) + relu6, max pool, average pool, flatten, dense",
                        () -> functional(Shape.of(9, 8, 4), x -> {
                            x = new Conv2D(6, 3, dev.osprey.Activation.RELU6).padding(Padding.SAME).dilationRate(2)
                                    .apply(x);
                            x = new Conv2D(6, 3).groups(2).useBias(false).strides(2).apply(x);
                            x = new MaxPooling2D(2).strides(1).padding(Padding.SAME).apply(x);
                            x = new AveragePooling2D(2).strides(1).padding(1, 0, 0, 1).apply(x);
                            return new Dense(5, dev.osprey.Activation.SOFTMAX).apply(new Flatten().apply(x));
                        })),
                new Case("depthwise (multiplier 2), batch norm, zero padding, explicit max pool, global pools",
                        () -> functional(Shape.of(8, 8, 3), x -> {
                            x = new ZeroPadding2D(1, 0, 2, 1).apply(x);
                            x = new DepthwiseConv2D(3).depthMultiplier(2).strides(2).apply(x);
                            x = new BatchNormalization().apply(x);
                            x = new MaxPooling2D(3).strides(2).padding(1, 1, 1, 1).apply(x);
                            SymbolicTensor a = new GlobalAveragePooling2D().apply(x);
                            SymbolicTensor m = new GlobalMaxPooling2D().keepDims(true).apply(x);
                            return new Add().apply(a, new Flatten().apply(m));
                        })),
                new Case("residual add, multiply, concatenate, rescaling, dropout, permute, reshape, softmax layer",
                        () -> functional(Shape.of(6, 6, 2), x -> {
                            SymbolicTensor s = new Rescaling(1 / 255.0, -0.5).apply(x);
                            SymbolicTensor a = new Conv2D(4, 3).padding(Padding.SAME).apply(s);
                            SymbolicTensor b = new Conv2D(4, 1).apply(s);
                            SymbolicTensor sum = new ReLU().apply(new Add().apply(a, b));
                            SymbolicTensor prod = new Multiply().apply(sum, b);
                            SymbolicTensor cat = new Concatenate().apply(sum, prod, new Dropout(0.3).apply(a));
                            SymbolicTensor t = new dev.osprey.layers.Permute(3, 1, 2).apply(cat);
                            SymbolicTensor r = new Reshape(6, 72).apply(new Flatten().apply(t));
                            return new Softmax().apply(new Dense(3).apply(new Flatten().apply(r)));
                        })),
                new Case("squeeze-and-excitation: (1, 1, C) gates multiply feature maps, on either side",
                        () -> functional(Shape.of(5, 7, 3), x -> {
                            SymbolicTensor f = new Conv2D(6, 3).padding(Padding.SAME).apply(x);
                            SymbolicTensor se = new GlobalAveragePooling2D().keepDims(true).apply(f);
                            se = new Conv2D(2, 1, dev.osprey.Activation.RELU).apply(se);
                            SymbolicTensor gate = new Conv2D(6, 1, dev.osprey.Activation.SIGMOID).apply(se);
                            SymbolicTensor g = new Multiply().apply(f, gate);
                            g = new Multiply().apply(gate, new Conv2D(6, 1).apply(g));
                            return new Dense(4).apply(new GlobalAveragePooling2D().apply(g));
                        })),
                new Case("dense on a feature map's last axis (MatMul + Add), softmax over it, then a convolution",
                        () -> functional(Shape.of(5, 3, 4), x -> {
                            SymbolicTensor d = new Dense(6, dev.osprey.Activation.RELU).apply(x);
                            d = new Dense(3, dev.osprey.Activation.SOFTMAX).useBias(false).apply(d);
                            d = new Conv2D(2, 3).padding(Padding.SAME).apply(d);
                            return new Dense(4).apply(new Flatten().apply(d));
                        })),
                new Case("ShuffleNet's unit: channel slices, a branch, concatenation, the shuffle",
                        () -> functional(Shape.of(4, 3, 4), x -> {
                            SymbolicTensor f = new Conv2D(6, 1).apply(x);
                            SymbolicTensor kept = new dev.osprey.layers.ChannelSlice(0, 3).apply(f);
                            SymbolicTensor branch = new Conv2D(3, 3).padding(Padding.SAME)
                                    .apply(new dev.osprey.layers.ChannelSlice(3, 6).apply(f));
                            SymbolicTensor joined = new Concatenate().apply(kept, branch);
                            SymbolicTensor s = new Reshape(12, 2, 3).apply(joined);
                            s = new Reshape(4, 3, 6).apply(new dev.osprey.layers.Permute(1, 3, 2).apply(s));
                            return new Dense(3).apply(new GlobalAveragePooling2D().apply(s));
                        })),
                new Case("ConvNeXt's block: depthwise, layer norm, dense x4 gelu, dense, layer scale, add; a vector's "
                        + "layer norm", () -> functional(Shape.of(6, 5, 4), x -> {
                            SymbolicTensor f = new dev.osprey.layers.DepthwiseConv2D(3).padding(Padding.SAME).apply(x);
                            f = new dev.osprey.layers.LayerNormalization().epsilon(1e-6)
                                    .gammaInitializer(dev.osprey.Initializer.constant(1.5))
                                    .betaInitializer(dev.osprey.Initializer.constant(0.2)).apply(f);
                            f = new Dense(16, dev.osprey.Activation.GELU).apply(f);
                            f = new Dense(4).apply(f);
                            f = new dev.osprey.layers.DepthwiseConv2D(1).useBias(false).apply(f);
                            f = new dev.osprey.layers.StochasticDepth(0.1).apply(f);
                            SymbolicTensor v = new GlobalAveragePooling2D().apply(new Add().apply(f, x));
                            return new Dense(3).apply(new dev.osprey.layers.LayerNormalization().apply(v));
                        })),
                new Case("every activation", () -> functional(Shape.of(4, 4, 3), x -> {
                    SymbolicTensor h = new Conv2D(8, 1, dev.osprey.Activation.GELU).apply(x);
                    for (dev.osprey.Activation a : List.of(dev.osprey.Activation.SIGMOID, dev.osprey.Activation.TANH,
                            dev.osprey.Activation.ELU, dev.osprey.Activation.SWISH, dev.osprey.Activation.HARD_SWISH,
                            dev.osprey.Activation.HARD_SIGMOID, dev.osprey.Activation.relu(4f, 0.1f),
                            dev.osprey.Activation.elu(0.5f))) {
                        h = new Activation(a).apply(new Conv2D(8, 1).apply(h));
                    }
                    h = new LeakyReLU(0.2f).apply(h);
                    h = new ReLU(2f, 0f).apply(h);
                    return new Dense(4, dev.osprey.Activation.SOFTMAX).apply(new Flatten().apply(h));
                })),
                new Case("a Vision Transformer: patches, class token, position embedding, self-attention, MLP, the "
                        + "class token's features", () -> Models.visionTransformer("ViT", Shape.of(8, 8, 3), 5, 4, 12,
                                2, 3, 24)),
                new Case("cross-attention of a feature map's pixels over another's, key of its own, no biases, "
                        + "value and output widths of their own; a class token (not zero), a position embedding of more "
                        + "positions than used, positions cropped", () -> functional(
                                Shape.of(4, 4, 3), x -> {
                            SymbolicTensor q = new Conv2D(4, 1).apply(x);
                            SymbolicTensor v = new Conv2D(5, 2).strides(2).apply(x);
                            SymbolicTensor k = new Conv2D(3, 2).strides(2).apply(x);
                            SymbolicTensor a = new dev.osprey.layers.MultiHeadAttention(2, 3).valueDim(2).outputShape(6)
                                    .useBias(false).apply(q, v, k);
                            SymbolicTensor t = new dev.osprey.layers.ClassToken()
                                    .initializer(dev.osprey.Initializer.heNormal()).apply(new Reshape(16, 6).apply(a));
                            t = new Add().apply(t, new dev.osprey.layers.PositionEmbedding(20).apply(t));
                            SymbolicTensor c = new dev.osprey.layers.Cropping1D(1, 3).apply(t);
                            return new Dense(3).apply(new Flatten().apply(c));
                        })),
                new Case("ResNet-20", () -> Models.resNet(20, Shape.of(32, 32, 3), 10)),
                new Case("MobileNetV2", () -> Models.mobileNetV2(0.35, Shape.of(32, 32, 3), 10)),
                new Case("the tutorial CNN", () -> Models.tutorialCnn()))
                .map(Arguments::of);
    }

    @ParameterizedTest
    @MethodSource("models")
    void onnxRuntimePredictsOspreysOutputs(Case c) throws Exception {
        Path file = dir.resolve(c.name().replaceAll("[^A-Za-z0-9]+", "_") + ".onnx");
        try (Model model = c.model().get().device(Device.cpu()).seed(7)) {
            model.build();
            randomizeBatchNormStatistics(model);
            Shape shape = model.inputShape();
            NDArray x = random(new Random(11), shape.withBatch(3), 0.1f);
            NDArray expected = model.predict(x);
            model.exportOnnx(file);

            OrtEnvironment env = OrtEnvironment.getEnvironment();
            try (OrtSession session = env.createSession(file.toString(), new OrtSession.SessionOptions());
                 OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(x.data()),
                         java.util.Arrays.stream(x.shape()).asLongStream().toArray());
                 OrtSession.Result result = session.run(Map.of(session.getInputNames().iterator().next(), input))) {
                OnnxTensor out = (OnnxTensor) result.get(0);
                assertArrayEquals(java.util.Arrays.stream(expected.shape()).asLongStream().toArray(),
                        out.getInfo().getShape());
                FloatBuffer fb = out.getFloatBuffer();
                float[] actual = new float[fb.remaining()];
                fb.get(actual);
                double error = OnnxTestData.relativeError(actual, expected.data());
                System.out.printf("%s: ONNX Runtime vs Osprey, relative error %.2e (largest output %.3f)%n", c.name(),
                        error, max(expected.data()));
                assertTrue(error <= 1e-5, c.name() + ": relative error " + error);
                float firstRow = 0;
                for (int i = 0; i < expected.rowSize(); i++) {
                    firstRow += expected.data()[i];
                }
                if (Math.abs(firstRow - 1) < 1e-4) { // a softmax output
                    assertTrue(max(expected.data()) < 0.999, "a saturated softmax would hide differences");
                }
            }
            try (Model back = new OnnxImporter().device(Device.cpu()).importModel(file)) {
                double error = OnnxTestData.relativeError(back.predict(x).data(), expected.data());
                assertTrue(error <= 1e-5, c.name() + " imported back: relative error " + error);
            }
        }
    }

    @Test
    void theExportNamesItsInputAndOutputsAndHasADynamicBatch() throws Exception {
        Path file = dir.resolve("named.onnx");
        try (Model model = Models.tutorialCnn().device(Device.cpu())) {
            model.build();
            model.exportOnnx(file);
            onnx.Onnx.ModelProto proto = OnnxImporter.parse(file);
            assertEquals(17, proto.getOpsetImport(0).getVersion());
            var in = proto.getGraph().getInput(0);
            assertEquals("batch", in.getType().getTensorType().getShape().getDim(0).getDimParam());
            assertEquals(List.of(28L, 28L, 1L), in.getType().getTensorType().getShape().getDimList().subList(1, 4)
                    .stream().map(onnx.Onnx.TensorShapeProto.Dimension::getDimValue).toList());
            assertEquals(model.layers().get(model.layers().size() - 1).name(),
                    proto.getGraph().getOutput(0).getName());
        }
    }

    /** Class names travel in the export's metadata and come back on import (before, predict showed "class 9"). */
    @Test
    void classNamesSurviveAnExportAndAnImport() throws Exception {
        Path file = dir.resolve("named-classes.onnx");
        List<String> names = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle \"boot\", with a comma");
        try (Model model = Models.tutorialCnn().device(Device.cpu())) {
            model.build();
            model.classNames(names);
            model.exportOnnx(file);
        }
        try (Model back = new OnnxImporter().device(Device.cpu()).importModel(file)) {
            assertEquals(names, back.classNames());
        }
        Path unnamed = dir.resolve("unnamed.onnx");
        try (Model model = Models.tutorialCnn().device(Device.cpu())) {
            model.build();
            model.exportOnnx(unnamed);
        }
        assertTrue(OnnxImporter.parse(unnamed).getMetadataPropsList().stream()
                .noneMatch(p -> p.getKey().equals(OnnxExporter.CLASS_NAMES_KEY)), "no names: no entry");
        try (Model back = new OnnxImporter().device(Device.cpu()).importModel(unnamed)) {
            assertEquals(List.of(), back.classNames());
        }
    }

    /** The cases above hold every concrete layer class of dev.osprey.layers, so every layer type is exported. */
    @Test
    void theCasesCoverEveryLayerType() throws Exception {
        java.util.Set<String> covered = new java.util.TreeSet<>();
        for (Arguments a : models().toList()) {
            try (Model m = ((Case) a.get()[0]).model().get()) {
                m.layers().forEach(l -> covered.add(l.getClass().getSimpleName()));
            }
        }
        java.util.Set<String> all = new java.util.TreeSet<>();
        java.net.URL where = dev.osprey.layers.Conv2D.class.getProtectionDomain().getCodeSource().getLocation();
        Path root = Path.of(where.toURI());
        if (java.nio.file.Files.isDirectory(root)) {
            try (var files = java.nio.file.Files.list(root.resolve("dev/osprey/layers"))) {
                files.map(f -> f.getFileName().toString()).forEach(all::add);
            }
        } else {
            try (var jar = new java.util.jar.JarFile(root.toFile())) {
                jar.stream().map(java.util.jar.JarEntry::getName).filter(n -> n.startsWith("dev/osprey/layers/"))
                        .map(n -> n.substring("dev/osprey/layers/".length())).forEach(all::add);
            }
        }
        java.util.Set<String> layers = new java.util.TreeSet<>();
        for (String file : all) {
            if (file.endsWith(".class") && !file.contains("$")) {
                Class<?> k = Class.forName("dev.osprey.layers." + file.substring(0, file.length() - 6));
                if (dev.osprey.Layer.class.isAssignableFrom(k) && !java.lang.reflect.Modifier.isAbstract(k.getModifiers())
                        && java.lang.reflect.Modifier.isPublic(k.getModifiers())) {
                    layers.add(k.getSimpleName());
                }
            }
        }
        assertTrue(layers.size() >= 20, "found only " + layers + " in " + root);
        layers.removeAll(covered);
        assertTrue(layers.isEmpty(), "layer types no export case holds: " + layers);
    }

    /** ONNX's own checker (Python's onnx package), where this machine has it: every exported model passes. */
    @Test
    void everyExportPassesOnnxsChecker() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isExecutable(python)
                && new ProcessBuilder(python.toString(), "-I", "-c", "import onnx.checker").start().waitFor() == 0,
                "Python's onnx package is not installed (Debian: python3-onnx); ONNX Runtime's loading is checked");
        // -I: isolated, so a folder named "onnx" in the working directory (java/onnx itself) is not taken for the package
        List<String> command = new java.util.ArrayList<>(List.of(python.toString(), "-I", "-c",
                "import onnx, sys\nfor f in sys.argv[1:]: onnx.checker.check_model(onnx.load(f), full_check=True)"));
        for (Arguments a : models().toList()) {
            Case c = (Case) a.get()[0];
            Path file = dir.resolve("checked_" + c.name().replaceAll("[^A-Za-z0-9]+", "_") + ".onnx");
            try (Model model = c.model().get().device(Device.cpu())) {
                model.build();
                model.exportOnnx(file);
            }
            command.add(file.toString());
        }
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "onnx.checker refused an export: " + output);
    }

    static float max(float[] v) {
        float m = Float.NEGATIVE_INFINITY;
        for (float f : v) {
            m = Math.max(m, f);
        }
        return m;
    }

    static NDArray random(Random r, int[] shape, float scale) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = scale * (float) r.nextGaussian();
        }
        return new NDArray(v, shape);
    }

    /** Fresh BatchNorm statistics are 0 and 1, which would hide a wrong mapping: give them other values. */
    static void randomizeBatchNormStatistics(Model model) {
        Random r = new Random(5);
        List<String> paths = model.weightPaths();
        List<NDArray> w = new java.util.ArrayList<>(model.getWeights());
        for (int i = 0; i < paths.size(); i++) {
            String p = paths.get(i);
            if (p.endsWith("/moving_mean") || p.endsWith("/beta") || p.endsWith("/bias")) {
                float[] v = w.get(i).data().clone();
                for (int j = 0; j < v.length; j++) {
                    v[j] = (float) (0.1 * r.nextGaussian());
                }
                w.set(i, new NDArray(v, w.get(i).shape()));
            } else if (p.endsWith("/moving_variance") || p.endsWith("/gamma")) {
                float[] v = w.get(i).data().clone();
                double low = p.endsWith("/gamma") ? 0.3 : 0.5; // gamma < 1 keeps deep models' softmax unsaturated
                for (int j = 0; j < v.length; j++) {
                    v[j] = (float) (low + (p.endsWith("/gamma") ? 0.4 : 1.0) * r.nextDouble());
                }
                w.set(i, new NDArray(v, w.get(i).shape()));
            }
        }
        model.setWeights(w);
    }
}
