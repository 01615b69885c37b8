package dev.osprey.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI end to end: train on the bundled sample, evaluate, predict, summary, and errors as messages. */
class OspreyCommandTest {
    @TempDir
    Path dir;

    record Run(int exitCode, String out, String err) {
    }

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = OspreyCommand.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void trainEvaluatePredictOnTheBundledSample() throws Exception {
        Path model = dir.resolve("m.osprey");
        Path during = dir.resolve("during");
        Run train = run("train", "--epochs", "1", "--quiet", "--optimizer", "adamw", "--weight-decay", "0.001",
                "--metrics", "auc,f1_score,mae", "--precision", "bf16", "--ema", "0.99", "--gradient-accumulation-steps",
                "2", "--backup", during.toString(), "--backup-every", "100", "-o", model.toString());
        assertEquals(0, train.exitCode(), train.err());
        assertTrue(train.out().contains("Backing up after each epoch and every 100 batches into " + during), train.out());
        try (java.util.stream.Stream<Path> left = Files.list(during)) {
            assertEquals(0, left.count(), "the backups are deleted when training ends");
        }
        // bf16 where the device has the kernels, else fp32 (with the reason logged)
        assertTrue(train.out().matches("(?s).*Device: .*, training in (bf16|fp32)\\R.*"), train.out());
        try (dev.osprey.Model saved = dev.osprey.Model.load(model)) {
            assertEquals("adamw", saved.optimizer().name());
            assertEquals(0.001, saved.optimizer().weightDecay());
            assertEquals(new dev.osprey.optim.Ema(0.99, 0), saved.optimizer().ema());
            assertEquals(2, saved.optimizer().gradientAccumulationSteps());
            assertTrue(!saved.optimizer().decays("dense_1/bias") && saved.optimizer().decays("dense_1/kernel"));
        }
        assertTrue(train.out().contains("Total params: 93,322"), train.out());
        assertTrue(train.out().matches("(?s).*Test accuracy: 0\\.\\d{4} \\(loss \\d\\.\\d{4}\\) on 2,000 images.*"), train.out());
        assertTrue(Files.size(model) > 300_000);
        java.awt.image.BufferedImage curves = javax.imageio.ImageIO.read(dir.resolve("m.curves.png").toFile());
        assertTrue(curves.getWidth() > 1000 && curves.getHeight() > 300, "a two-panel chart");
        String history = Files.readString(dir.resolve("m.history.json"));
        assertTrue(history.matches("\\{\"loss\":\\[[0-9.]+\\],\"accuracy\".*"), history);
        assertTrue(history.matches(".*\"f1_score\":\\[0\\.[0-9]+\\],\"auc\":\\[0\\.[0-9]+\\],\"mae\":\\[0\\.[0-9]+\\].*"),
                history);

        Run evaluate = run("evaluate", model.toString(), "--report", "--top-k", "2");
        assertEquals(0, evaluate.exitCode(), evaluate.err());
        assertTrue(evaluate.out().startsWith("loss: "), evaluate.out());
        assertTrue(evaluate.out().matches("(?s)loss: \\d\\.\\d{4} - accuracy: 0\\.\\d{4} - f1_score: 0\\.\\d{4} - auc: "
                + "0\\.\\d{4} - mae: 0\\.\\d{4} \\(2,000 images.*"), evaluate.out());
        assertTrue(evaluate.out().matches("(?s).*\\nTrouser +0\\.\\d{4} +0\\.\\d{4} +0\\.\\d{4} +0\\.\\d{4} +\\d+\\n.*"
                + "\\nmacro .*top-2 accuracy 0\\.\\d{4}.*"), evaluate.out());
        java.awt.image.BufferedImage confusion = javax.imageio.ImageIO.read(dir.resolve("m.confusion.png").toFile());
        assertTrue(confusion.getWidth() > 400 && confusion.getHeight() > 400, "a 10 x 10 grid");

        Path images = dir.resolve("images.gz");
        try (InputStream in = getClass().getResourceAsStream("/dev/osprey/data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz")) {
            Files.copy(in, images);
        }
        Run predict = run("predict", model.toString(), images.toString(), "--top-k", "2", "--limit", "3");
        assertEquals(0, predict.exitCode(), predict.err());
        String[] lines = predict.out().strip().split("\n");
        assertEquals(3, lines.length, predict.out());
        assertTrue(lines[0].matches("\\s*0:\\s+\\S.* \\d\\.\\d{3}\\s+\\S.* \\d\\.\\d{3}"), lines[0]);
        // bf16 where the CPU has it, else fp32 with the reason logged
        Run bf16 = run("predict", model.toString(), images.toString(), "--top-k", "1", "--limit", "3", "--precision",
                "bf16");
        assertEquals(0, bf16.exitCode(), bf16.err());
        assertEquals(3, bf16.out().strip().split("\n").length, bf16.out());
        Path int8 = dir.resolve("m.int8.osprey");
        Run quantize = run("quantize", model.toString(), "--calibration", "256", "-o", int8.toString());
        assertEquals(0, quantize.exitCode(), quantize.err());
        assertTrue(quantize.out().matches("(?s)Test accuracy on 2,000 images from .*: fp32 0\\.\\d{4}, int8 0\\.\\d{4}\n"
                + "Calibrated 5 layers on 256 images.*"), quantize.out());
        Run predict8 = run("predict", int8.toString(), images.toString(), "--top-k", "1", "--limit", "3", "--precision",
                "int8");
        assertEquals(0, predict8.exitCode(), predict8.err());
        assertEquals(3, predict8.out().lines().count(), predict8.out());
        Run notQuantized = run("predict", model.toString(), images.toString(), "--precision", "int8");
        assertEquals(1, notQuantized.exitCode());
        assertTrue(notQuantized.err().contains("expected quantize(calibrationSamples) first"), notQuantized.err());
        Run fp16 = run("predict", model.toString(), images.toString(), "--top-k", "1", "--limit", "3", "--precision",
                "fp16"); // a GPU precision: the CPU says why and predicts in fp32
        assertEquals(0, fp16.exitCode(), fp16.err());
        assertEquals(3, fp16.out().lines().count(), fp16.out());
        Run fp8 = run("predict", model.toString(), images.toString(), "--precision", "fp8");
        assertEquals(1, fp8.exitCode());
        assertTrue(fp8.err().contains("expected precision fp32, bf16, fp16 or int8, received 'fp8'"), fp8.err());

        Run summary = run("summary", model.toString());
        assertTrue(summary.out().contains("dense_1 (Dense)"), summary.out());
    }

    /** --lr-schedule cosine --warmup-epochs: Keras' CosineDecay per step, rising linearly over the warm-up epochs. */
    @Test
    void cosineScheduleWithWarmupStepsPerBatchAndBalancedClassWeights() {
        TrainCommand t = new TrainCommand();
        new picocli.CommandLine(t).parseArgs("--epochs", "4", "--batch-size", "100", "--learning-rate", "0.01",
                "--optimizer", "adamw", "--lr-schedule", "cosine", "--warmup-epochs", "1");
        var schedule = t.optimizer(1000).schedule(); // 10 steps an epoch: 10 of warm-up, 30 of decay
        assertEquals(0.0, schedule.rate(0), 1e-12);
        assertEquals(0.005, schedule.rate(5), 1e-12);
        assertEquals(0.01, schedule.rate(10), 1e-12);
        assertEquals(0.005, schedule.rate(25), 1e-12);
        assertEquals(0.0, schedule.rate(40), 1e-12);
        new picocli.CommandLine(t).parseArgs("--class-weight", "auto");
        double[] w = t.fitOptions(new dev.osprey.NDArray(new float[] {0, 0, 0, 1}, 4, 1), 2).classWeight();
        assertEquals(4.0 / 6, w[0], 1e-12);
        assertEquals(2.0, w[1], 1e-12);
        new picocli.CommandLine(t).parseArgs("--epochs", "2", "--lr-schedule", "cosine", "--warmup-epochs", "2");
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> t.optimizer(1000)).getMessage().contains("--warmup-epochs"));
    }

    /** A Java heap that runs out (VGG-size imports at the default heap) is one line saying how to give java more. */
    @Test
    void anExhaustedHeapIsOneLineNamingTheOptionThatRaisesIt() {
        var bytes = new java.io.ByteArrayOutputStream();
        int code = OspreyCommand.outOfMemory(new OutOfMemoryError("Java heap space"), new java.io.PrintStream(bytes,
                true, java.nio.charset.StandardCharsets.UTF_8), 1536L << 20);
        String err = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(1, code);
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("Java heap space, at most 1536 MB") && err.contains("OSPREY_JAVA_OPTS=-Xmx3g"), err);
        bytes.reset();
        OspreyCommand.outOfMemory(new OutOfMemoryError("unable to create native thread"), new java.io.PrintStream(
                bytes, true, java.nio.charset.StandardCharsets.UTF_8), 1536L << 20);
        err = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(err.contains("out of memory: unable to create native thread") && !err.contains("-Xmx"), err);
    }

    /** import: a PyTorch-exported ONNX file, checked against PyTorch's outputs, becomes an Osprey model file. */
    @Test
    void importAnOnnxFileVerifyItAndSaveIt() throws Exception {
        Path fixture = Path.of("../onnx/src/test/resources/dev/osprey/onnx/fixtures/fmnist_cnn");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(fixture) && onnxSupportPresent(),
                "osprey-onnx is not built here (it needs Debian's libonnx-dev)");
        Path model = dir.resolve("imported.osprey");
        Path names = Files.write(dir.resolve("names.txt"), dev.osprey.data.Datasets.FASHION_MNIST_CLASSES);
        Run imported = run("import", fixture.resolve("model.onnx").toString(), "-o", model.toString(), "--verify",
                fixture.resolve("test_data_set_0").toString(), "--class-names", "@" + names); // as the README writes it
        assertEquals(0, imported.exitCode(), imported.err());
        assertTrue(imported.out().matches("(?s).*verified against .*: largest error \\d\\.\\d+e-0[5-9] .*"), imported.out());
        assertTrue(imported.out().contains("input (28, 28, 1) -> output (10,)"), imported.out());
        try (dev.osprey.Model saved = dev.osprey.Model.load(model)) {
            assertEquals(dev.osprey.data.Datasets.FASHION_MNIST_CLASSES, saved.classNames());
        }
        Run nchw = run("import", fixture.resolve("model.onnx").toString(), "-o", dir.resolve("nchw.osprey").toString(),
                "--input-layout", "nchw", "--verify", fixture.resolve("test_data_set_0").toString());
        assertEquals(0, nchw.exitCode(), nchw.err());
        assertTrue(nchw.out().contains("input (1, 28, 28) -> output (10,)"), nchw.out());
        // PyTorch's classifier ends in logits: predict shows their softmax, evaluate and quantize take the file as it is
        Path images = dir.resolve("images.gz");
        try (InputStream in = getClass().getResourceAsStream("/dev/osprey/data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz")) {
            Files.copy(in, images);
        }
        Run predict = run("predict", model.toString(), images.toString(), "--top-k", "10", "--limit", "2");
        assertEquals(0, predict.exitCode(), predict.err());
        assertProbabilitiesOfTenClasses(predict);
        Run evaluate = run("evaluate", model.toString());
        assertEquals(0, evaluate.exitCode(), evaluate.err());
        assertTrue(evaluate.out().matches("(?s)loss: \\d\\.\\d{4} - accuracy: 0\\.[5-9]\\d{3} \\(2,000 images.*"),
                evaluate.out());
        Run quantize = run("quantize", model.toString(), "--calibration", "64", "-o", dir.resolve("q.osprey").toString());
        assertEquals(0, quantize.exitCode(), quantize.err());
        assertTrue(quantize.out().matches("(?s)Test accuracy on 2,000 images from .*: fp32 0\\.[5-9]\\d{3}, int8 "
                + "0\\.[5-9]\\d{3}\n.*"), quantize.out());
        try (dev.osprey.Model q = dev.osprey.Model.load(dir.resolve("q.osprey"))) {
            assertEquals(null, q.loss(), "saved as it came, with no loss added");
        }
        Path exported = dir.resolve("back.onnx");
        Run export = run("export", model.toString(), exported.toString());
        assertEquals(0, export.exitCode(), export.err());
        assertTrue(Files.size(exported) > 200_000, export.out());
        Run bad = run("import", fixture.resolve("test_data_set_0/input_0.pb").toString(), "-o",
                dir.resolve("bad.osprey").toString());
        assertEquals(1, bad.exitCode());
        assertTrue(bad.err().contains("not an ONNX model") || bad.err().contains("not a valid ONNX model"), bad.err());
        assertTrue(!Files.exists(dir.resolve("bad.osprey")));
    }

    /**
     * A classifier saved without a loss, ending in logits, with class names (what import makes, without needing
     * osprey-onnx here): predict shows probabilities, evaluate and quantize take it and quantize adds no loss.
     */
    @Test
    void aClassifierSavedWithoutALossIsPredictedEvaluatedAndQuantized() throws Exception {
        Path model = dir.resolve("logits.osprey");
        try (dev.osprey.Sequential m = new dev.osprey.Sequential(new dev.osprey.layers.Flatten().inputShape(28, 28, 1),
                new dev.osprey.layers.Dense(10))) {
            m.seed(3).classNames(dev.osprey.data.Datasets.FASHION_MNIST_CLASSES).save(model);
        }
        Path images = dir.resolve("images.gz");
        try (InputStream in = getClass().getResourceAsStream("/dev/osprey/data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz")) {
            Files.copy(in, images);
        }
        Run predict = run("predict", model.toString(), images.toString(), "--top-k", "10", "--limit", "3");
        assertEquals(0, predict.exitCode(), predict.err());
        assertProbabilitiesOfTenClasses(predict);
        assertTrue(!predict.err().contains("not probabilities"), predict.err());
        Path unnamed = dir.resolve("unnamed-logits.osprey"); // no class names: logits shown as they are, and said so
        try (dev.osprey.Model m = dev.osprey.Model.load(model)) {
            m.classNames(List.of()).save(unnamed);
        }
        Run raw = run("predict", unnamed.toString(), images.toString(), "--limit", "3");
        assertEquals(0, raw.exitCode(), raw.err());
        assertTrue(raw.err().contains("scores, not probabilities") && raw.err().contains("--class-names"), raw.err());
        Run evaluate = run("evaluate", model.toString());
        assertEquals(0, evaluate.exitCode(), evaluate.err());
        assertTrue(evaluate.out().matches("(?s)loss: \\d+\\.\\d{4} - accuracy: 0\\.\\d{4} \\(2,000 images.*"),
                evaluate.out());
        Path quantized = dir.resolve("logits.int8.osprey");
        Run quantize = run("quantize", model.toString(), "--calibration", "32", "-o", quantized.toString());
        assertEquals(0, quantize.exitCode(), quantize.err());
        assertTrue(quantize.out().matches("(?s)Test accuracy on 2,000 images from .*: fp32 0\\.\\d{4}, int8 0\\.\\d{4}\n.*"),
                quantize.out());
        try (dev.osprey.Model q = dev.osprey.Model.load(quantized)) {
            assertEquals(null, q.loss(), "saved as it came, with no loss added");
        }
        // bench trains it, for the figures, as evaluate does (it refused: "holds no compile settings")
        Run bench = run("bench", model.toString(), "--seconds", "0.05", "--json", dir.resolve("logits.json").toString(),
                "--chart", dir.resolve("logits.png").toString());
        assertEquals(0, bench.exitCode(), bench.err());
        assertTrue(bench.out().matches("(?s).*\\ncpu\\s+[0-9,]+\\s+[0-9.]+\\s+[0-9,]+.*"), bench.out());
        try (dev.osprey.Model m = dev.osprey.Model.load(model)) {
            assertEquals(null, m.loss(), "the file is left as it was");
        }
    }

    /**
     * serve in a process of its own: it answers /health, then SIGTERM (what systemd and container runtimes send)
     * makes it finish the requests it accepted and exit 0, not the JVM's 143.
     */
    @Test
    void serveStopsOnSigtermDrainingAndExitsZero() throws Exception {
        Path model = dir.resolve("tiny.osprey");
        try (dev.osprey.Sequential m = new dev.osprey.Sequential(
                new dev.osprey.layers.Dense(3, dev.osprey.Activation.SOFTMAX).inputShape(4))) {
            m.seed(1).save(model);
        }
        Path javaCommand = Path.of(System.getProperty("java.home"), "bin", "java");
        Process serve = new ProcessBuilder(javaCommand.toString(), "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), OspreyCommand.class.getName(), "serve", model.toString(),
                "--port", "0").redirectErrorStream(true).start();
        try (var lines = new java.io.BufferedReader(new java.io.InputStreamReader(serve.getInputStream(),
                StandardCharsets.UTF_8))) {
            StringBuilder seen = new StringBuilder();
            String line;
            int port = -1;
            while (port < 0 && (line = lines.readLine()) != null) { // blocks until serve prints its address
                seen.append(line).append('\n');
                java.util.regex.Matcher at = java.util.regex.Pattern
                        .compile("serving .* on http://127\\.0\\.0\\.1:(\\d+)").matcher(line);
                if (at.find()) {
                    port = Integer.parseInt(at.group(1));
                }
            }
            assertTrue(port > 0, "serve did not start:\n" + seen);
            var health = (java.net.HttpURLConnection) java.net.URI.create("http://127.0.0.1:" + port + "/health")
                    .toURL().openConnection();
            assertEquals(200, health.getResponseCode());
            health.disconnect();
            assertTrue(serve.toHandle().destroy(), "SIGTERM not sent"); // (Process.destroy would close the output)
            while ((line = lines.readLine()) != null) { // to the end of its output: the process has ended
                seen.append(line).append('\n');
            }
            assertTrue(serve.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "serve did not stop after SIGTERM");
            assertEquals(0, serve.exitValue(), seen.toString());
            assertTrue(seen.toString().contains("osprey: stopping: finishing accepted requests"), seen.toString());
        } finally {
            serve.destroyForcibly();
        }
    }

    /** Each line of predict --top-k 10 shows 10 probabilities (not logits) that sum to 1. */
    private static void assertProbabilitiesOfTenClasses(Run predict) {
        for (String line : predict.out().strip().split("\n")) {
            java.util.regex.Matcher p = java.util.regex.Pattern.compile(" (-?\\d+\\.\\d{3})(?=\\s|$)").matcher(line);
            double sum = 0;
            int count = 0;
            for (; p.find(); count++) {
                double v = Double.parseDouble(p.group(1));
                assertTrue(v >= 0 && v <= 1, "a probability, not a logit: " + line);
                sum += v;
            }
            assertEquals(10, count, line);
            assertEquals(1.0, sum, 0.01, line);
        }
    }

    private static boolean onnxSupportPresent() {
        try {
            dev.osprey.io.OnnxSupport.find();
            return true;
        } catch (UnsupportedOperationException e) {
            return false;
        }
    }

    @Test
    void errorsAreOneLineMessagesWithANonZeroExitCode() throws Exception {
        Run missing = run("evaluate", dir.resolve("absent.osprey").toString());
        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().contains("osprey: error: no such file: " + dir.resolve("absent.osprey")), missing.err());

        Path junk = dir.resolve("junk.osprey");
        Files.writeString(junk, "not a model");
        Run corrupt = run("predict", junk.toString(), junk.toString());
        assertEquals(1, corrupt.exitCode());
        assertTrue(corrupt.err().contains("not an IDX file") || corrupt.err().contains("not an Osprey model"), corrupt.err());

        Run batch = run("train", "--batch-size", "0", "--epochs", "1", "--quiet", "-o", dir.resolve("x.osprey").toString());
        assertEquals(1, batch.exitCode());
        assertTrue(batch.err().contains("expected batch size > 0, received batch_size=0"), batch.err());

        Path backups = dir.resolve("backups");
        dev.osprey.NDArray bx = new dev.osprey.NDArray(new float[8 * 4], 8, 4);
        dev.osprey.NDArray by = new dev.osprey.NDArray(new float[8], 8);
        try (dev.osprey.Sequential other = new dev.osprey.Sequential(new dev.osprey.layers.Dense(2,
                dev.osprey.Activation.SOFTMAX).inputShape(4)).device(dev.osprey.backend.Device.cpu())
                .compile(new dev.osprey.optim.Adam(), dev.osprey.loss.Loss.sparseCategoricalCrossentropy())) {
            dev.osprey.callbacks.Callback crash = new dev.osprey.callbacks.Callback() {
                @Override
                public void onEpochEnd(int epoch, java.util.Map<String, Double> logs,
                                       dev.osprey.callbacks.Training training) {
                    if (epoch == 1) { // after the backup of epoch 1
                        throw new IllegalStateException("stop");
                    }
                }
            };
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> other.fit(bx, by, dev.osprey.FitOptions.defaults()
                    .epochs(3).verbose(false).callbacks(new dev.osprey.callbacks.BackupAndRestore(backups), crash)));
        }
        Run resumed = run("train", "--epochs", "2", "--quiet", "--backup", backups.toString(), "-o",
                dir.resolve("x.osprey").toString());
        assertEquals(1, resumed.exitCode());
        assertTrue(resumed.out().contains("Resuming after epoch 1 of 2 from the backup in " + backups), resumed.out());
        assertTrue(resumed.err().contains("is of another model"), resumed.err());
        Run every = run("train", "--backup-every", "5", "--epochs", "1", "--quiet", "-o",
                dir.resolve("x.osprey").toString());
        assertEquals(1, every.exitCode());
        assertTrue(every.err().contains("expected --backup-every N (batches, 1 or more) with a --backup folder, "
                + "received --backup-every 5 without --backup"), every.err());
        Run steps = run("train", "--gradient-accumulation-steps", "0", "--epochs", "1", "--quiet", "-o",
                dir.resolve("x.osprey").toString());
        assertEquals(1, steps.exitCode());
        assertTrue(steps.err().contains("expected --gradient-accumulation-steps of 1 or more, received 0"), steps.err());
        Run ema = run("train", "--ema", "1.5", "--epochs", "1", "--quiet", "-o", dir.resolve("x.osprey").toString());
        assertEquals(1, ema.exitCode());
        assertTrue(ema.err().contains("expected --ema in [0, 1] (e.g. 0.999), received 1.5"), ema.err());
        Run device = run("train", "--device", "tpu");
        assertEquals(1, device.exitCode());
        assertTrue(device.err().contains("expected device auto, cpu, cuda or cuda:N, received 'tpu'"), device.err());

        Run optimizer = run("train", "--optimizer", "adagrad", "--epochs", "1", "--quiet", "-o",
                dir.resolve("never.osprey").toString());
        assertEquals(1, optimizer.exitCode());
        assertTrue(optimizer.err().contains("expected --optimizer adam, adamw, sgd or rmsprop, received 'adagrad'"),
                optimizer.err());

        Run precision = run("train", "--precision", "fp8", "--epochs", "1", "--quiet", "-o",
                dir.resolve("never.osprey").toString());
        assertEquals(1, precision.exitCode());
        assertTrue(precision.err().contains("expected a training precision fp32, bf16 (mixed_bfloat16) or fp16 "
                + "(mixed_float16), received 'fp8'"), precision.err());

        Run usage = run("train", "--epochs", "many");
        assertEquals(2, usage.exitCode());
        assertEquals(List.of("osprey: error: Invalid value for option '--epochs': 'many' is not an int",
                "(the options: osprey train --help)"), usage.err().strip().lines().toList(), "one line, not the usage");

        Run epochs = run("train", "--epochs", "0", "--dataset", "no-such-set");
        assertEquals(1, epochs.exitCode());
        assertTrue(epochs.err().contains("expected epochs > 0, received epochs=0"), "before loading data: " + epochs.err());
        Run split = run("train", "--validation-split", "1.5", "--epochs", "1");
        assertEquals(1, split.exitCode());
        assertTrue(split.err().contains("--validation-split holds out part of --images"), split.err());
        Run depth = run("train", "--model", "resnet20", "--drop-path-rate", "0.1"); // refused before any data loads
        assertEquals(1, depth.exitCode());
        assertTrue(depth.err().contains("efficientnetb0 or convnexttiny") && !depth.out().contains("Data:"),
                depth.out() + depth.err());
        Run rate = run("train", "--model", "convnexttiny", "--drop-path-rate", "1");
        assertEquals(1, rate.exitCode());
        assertTrue(rate.err().contains("expected 0 <= dropPathRate < 1, received 1.0"), rate.err());
        Run typo = run("train", "--model", "mobilenetv3smal"); // refused before any data loads
        assertEquals(1, typo.exitCode());
        assertTrue(typo.err().contains("received 'mobilenetv3smal'") && !typo.out().contains("Data:"),
                typo.out() + typo.err());
        Run classes = run("summary", "--model", "resnet20", "--classes", "0");
        assertEquals(1, classes.exitCode());
        assertTrue(classes.err().contains("expected --classes of at least 1, received 0"), classes.err());
        for (String shape : List.of("32x32", "32x32x3x", "32x32x3x1", "0x32x3")) {
            Run bad = run("summary", "--model", "resnet20", "--input-shape", shape);
            assertEquals(1, bad.exitCode(), shape);
            assertTrue(bad.err().contains("expected --input-shape HEIGHTxWIDTHxCHANNELS, e.g. 32x32x3, received '"
                    + shape + "'"), bad.err());
        }
        Path rgb = dir.resolve("rgb.osprey");
        try (dev.osprey.Sequential small = new dev.osprey.Sequential(new dev.osprey.layers.Flatten().inputShape(8, 8, 3),
                new dev.osprey.layers.Dense(10, dev.osprey.Activation.SOFTMAX))) {
            small.compile("adam", "sparse_categorical_crossentropy", "accuracy").save(rgb);
        }
        for (String command : List.of("evaluate", "quantize")) {
            Run other = command.equals("evaluate") ? run(command, rgb.toString())
                    : run(command, rgb.toString(), "-o", dir.resolve("q.osprey").toString());
            assertEquals(1, other.exitCode(), other.err());
            assertTrue(other.err().contains(command + ": the model takes images of shape (8, 8, 3), and bundled "
                    + "Fashion-MNIST sample"), other.err());
        }
        Run noImages = run("finetune", rgb.toString());
        assertEquals(1, noImages.exitCode());
        assertTrue(noImages.err().contains("finetune: expected --images DIR, a folder of class folders of images, "
                + "received none"), noImages.err());
        Run limit = run("predict", "m.osprey", "images.gz", "--limit", "-1");
        assertEquals(1, limit.exitCode());
        assertTrue(limit.err().contains("expected --limit of 0 (all) or more, received -1"), limit.err());
    }

    @Test
    void trainDataParallelOnTwoCpuReplicas() throws Exception {
        Path model = dir.resolve("dp.osprey");
        Run train = run("train", "--devices", "cpu,cpu", "--epochs", "1", "--quiet", "-o", model.toString());
        assertEquals(0, train.exitCode(), train.err());
        assertTrue(train.out().contains("Data parallel on: cpu, cpu"), train.out());
        assertTrue(train.out().matches("(?s).*Test accuracy: 0\\.\\d{4} \\(loss \\d\\.\\d{4}\\) on 2,000 images.*"),
                train.out());
        Run bad = run("train", "--devices", "cpu,tpu:1", "--epochs", "1", "--quiet", "-o",
                dir.resolve("never.osprey").toString());
        assertEquals(1, bad.exitCode());
        assertTrue(bad.err().contains("received 'tpu:1'"), bad.err());
    }

    @Test
    void benchPrintsTheTableWritesJsonAndAChartAndSaysWhyAGpuRowIsMissing() throws Exception {
        Path json = dir.resolve("bench.json");
        Path png = dir.resolve("bench.png");
        Run bench = run("bench", "--seconds", "0.1", "--json", json.toString(), "--chart", png.toString(),
                "--precision", "fp32,bf16,int8");
        assertEquals(0, bench.exitCode(), bench.err());
        assertTrue(bench.out().matches("(?s).*\\ncpu\\s+int8 inference: ([0-9,]+ img/s at batch 256, batch 1 p50 [0-9.]+ ms"
                + ".*|not measured: .+)"), bench.out());
        assertTrue(bench.out().matches("(?s).*\\ncpu\\s+bf16 inference: ([0-9,]+ img/s at batch 256, batch 1 p50 [0-9.]+ ms"
                + ".*|not measured: .+)"), bench.out());
        assertTrue(bench.out().matches("(?s).*\\ncpu\\s+[0-9,]+\\s+[0-9.]+\\s+[0-9,]+.*% .*"), bench.out());
        if (!dev.osprey.backend.Device.cudaAvailability().usable()) {
            assertTrue(bench.out().contains("cuda: not measured: "), bench.out());
        }
        assertTrue(Files.readString(json).contains("\"train_b32_img_s\":"));
        assertTrue(Files.readString(json).contains("\"train_b1024_img_s\":"));
        assertTrue(javax.imageio.ImageIO.read(png.toFile()).getWidth() >= 640);
    }

    @Test
    void benchLayersPrintsTheSlowestLayersOfEachProfileAndWritesThemToTheJson() throws Exception {
        Path json = dir.resolve("layers.json");
        Run bench = run("bench", "--model", "resnet20", "--input-shape", "8x8x3", "--classes", "4", "--seconds", "0.1",
                "--layers", "4", "--json", json.toString(), "--chart", dir.resolve("layers.png").toString());
        assertEquals(0, bench.exitCode(), bench.err());
        for (String title : new String[] {"training step, batch 256, cpu", "inference, batch 256, cpu",
                "inference, batch 1, cpu"}) {
            int at = bench.out().indexOf(title);
            assertTrue(at >= 0, title + " in " + bench.out());
            String[] lines = bench.out().substring(at).split("\n");
            assertTrue(lines[1].startsWith("layer "), lines[1]);
            for (int i = 2; i < 6; i++) { // the 4 slowest: a layer (or chain), its type, then figures
                assertTrue(lines[i].matches("\\S.*\\s[0-9]+\\.[0-9]{3}\\s+[0-9]+\\.[0-9]%"), lines[i]);
            }
            assertTrue(lines[6].matches("[0-9]+ more layers\\s.*"), lines[6]);
        }
        String written = Files.readString(json);
        assertTrue(written.contains("\"layer_profiles\":"), written);
        assertTrue(written.contains("\"kind\":\"training\""), written);
        assertTrue(written.contains("\"model\":\"resnet20\""), written);
        assertTrue(bench.out().contains("conv2d_"), bench.out());
        Run both = run("bench", "model.osprey", "--model", "resnet20");
        assertTrue(both.exitCode() != 0);
        assertTrue(both.err().contains("expected a model file or --model, received both"), both.err());
        Run stray = run("bench", "--classes", "4");
        assertTrue(stray.exitCode() != 0);
        assertTrue(stray.err().contains("expected --input-shape and --classes only with --model NAME, received "
                + "--classes 4 without it"), stray.err());
        assertTrue(written.contains("--model resnet20 --input-shape 8x8x3 --classes 4"), written);
        Run bad = run("bench", "--seconds", "0.1", "--layers", "0");
        assertTrue(bad.exitCode() != 0);
        assertTrue(bad.err().contains("expected --layers N with N >= 1, received 0"), bad.err());
    }

    @Test
    void trainOnAnImageFolderThenPredictItsPngsAsLabels() throws Exception {
        var d = dev.osprey.data.Datasets.fashionMnistSample();
        Path images = dir.resolve("images");
        for (int i = 0; i < 400; i++) {
            int label = (int) d.trainY().data()[i];
            Path cls = images.resolve("label" + label);
            Files.createDirectories(cls);
            java.awt.image.BufferedImage png = new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
            for (int p = 0; p < 784; p++) {
                png.getRaster().setSample(p % 28, p / 28, 0, Math.round(d.trainX().data()[i * 784 + p] * 255));
            }
            javax.imageio.ImageIO.write(png, "png", cls.resolve(i + ".png").toFile());
        }
        Path model = dir.resolve("folder.osprey");
        Run train = run("train", "--images", images.toString(), "--epochs", "1", "--rotation", "5", "--flip", "horizontal",
                "--workers", "2", "--quiet", "-o", model.toString());
        assertEquals(0, train.exitCode(), train.err());
        assertTrue(train.out().contains("Validation accuracy: "), train.out());
        Run predict = run("predict", model.toString(), images.resolve("label9").toString(), "--top-k", "1", "--limit", "2");
        assertEquals(0, predict.exitCode(), predict.err());
        String[] lines = predict.out().strip().split("\n");
        assertEquals(2, lines.length, predict.out());
        assertTrue(lines[0].matches(".*label9/\\d+\\.png:\\s+label\\d \\d\\.\\d{3}"), lines[0]);
        Run bad = run("train", "--images", images.toString(), "--flip", "sideways", "-o", model.toString());
        assertEquals(1, bad.exitCode());
        assertTrue(bad.err().contains("expected --flip none, horizontal, vertical or both, received 'sideways'"), bad.err());

        // predict on a folder: a note when --limit leaves images out; a bad file stops it, naming --skip-bad-files,
        // which skips and lists it
        Path folder = images.resolve("label9");
        long pngs;
        try (var s = Files.list(folder)) {
            pngs = s.count();
        }
        Files.write(folder.resolve("0000-truncated.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2});
        Run stops = run("predict", model.toString(), folder.toString(), "--limit", "3");
        assertEquals(1, stops.exitCode());
        assertTrue(stops.err().contains("0000-truncated.png") && stops.err().contains("(--skip-bad-files skips such "
                + "files)"), stops.err());
        Run skips = run("predict", model.toString(), folder.toString(), "--limit", "3", "--skip-bad-files");
        assertEquals(0, skips.exitCode(), skips.err());
        assertEquals(3, skips.out().strip().split("\n").length, skips.out());
        assertTrue(skips.err().contains("(3 of " + pngs + " images shown; --limit 0 shows all)"), skips.err());
        assertTrue(skips.err().contains("Skipped 1 unreadable file(s):"), skips.err());

        Path one = dir.resolve("one-class");
        Files.createDirectories(one.resolve("only"));
        Files.copy(folder.resolve(pngNameIn(folder)), one.resolve("only/a.png"));
        Run single = run("train", "--images", one.toString(), "--epochs", "1", "-o", dir.resolve("x.osprey").toString());
        assertEquals(1, single.exitCode());
        assertTrue(single.err().contains("expected at least 2 class folders to tell apart, found 1 (only)"),
                single.err());
        Run tiny = run("train", "--images", images.toString(), "--image-size", "8x8", "--epochs", "1", "-o",
                dir.resolve("tiny.osprey").toString());
        assertEquals(1, tiny.exitCode());
        assertTrue(tiny.err().contains("the tutorial model does not take 8x8x1 images (--image-size, --color)"),
                tiny.err());
        Run explicit = run("finetune", model.toString(), "--images", images.toString(), "--image-size", "32x32",
                "--epochs", "1", "-o", dir.resolve("ft.osprey").toString());
        assertEquals(1, explicit.exitCode(), "an --image-size given is kept, not replaced by the base model's");
        assertTrue(explicit.err().contains("the base model takes (28, 28, 1) images; expected --image-size and --color "
                + "to give that, received 32x32x1"), explicit.err());
        Run workers = run("train", "--images", images.toString(), "--workers", "0", "-o", model.toString());
        assertEquals(1, workers.exitCode());
        assertTrue(workers.err().contains("expected --workers of at least 1, received 0"), workers.err());
    }

    private static String pngNameIn(Path folder) throws java.io.IOException {
        try (var s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.matches("\\d+\\.png")).findFirst()
                    .orElseThrow();
        }
    }

    /**
     * A model of one image input and two outputs (10 class probabilities and a 2-value box): predict shows each output
     * on the image's line, the classes as top-k with their names and the box as values. A model of two inputs is
     * refused with a message that says how to serve it instead.
     */
    @Test
    void predictShowsEachOutputOfAModelOfSeveral() throws Exception {
        Path model = dir.resolve("two-heads.osprey");
        dev.osprey.Input image = dev.osprey.Input.shape(28, 28, 1).name("image");
        dev.osprey.SymbolicTensor flat = new dev.osprey.layers.Flatten().apply(image);
        try (dev.osprey.Model m = new dev.osprey.Model(List.of(image), List.of(
                new dev.osprey.layers.Dense(10, dev.osprey.Activation.SOFTMAX).name("kind").apply(flat),
                new dev.osprey.layers.Dense(2).name("box").apply(flat)))) {
            m.seed(3).classNames(dev.osprey.data.Datasets.FASHION_MNIST_CLASSES).save(model);
        }
        Path images = dir.resolve("images.gz");
        try (InputStream in = getClass().getResourceAsStream("/dev/osprey/data/fashion-mnist-sample/t10k-images-idx3-ubyte.gz")) {
            Files.copy(in, images);
        }
        Run predict = run("predict", model.toString(), images.toString(), "--top-k", "2", "--limit", "3");
        assertEquals(0, predict.exitCode(), predict.err());
        String[] lines = predict.out().split("\\R");
        assertEquals(3, lines.length, predict.out());
        String names = String.join("|", dev.osprey.data.Datasets.FASHION_MNIST_CLASSES);
        for (int i = 0; i < 3; i++) {
            assertTrue(lines[i].matches(" +" + i + ":  kind: (" + names + ") 0\\.\\d{3} (" + names + ") 0\\.\\d{3}  "
                    + "box: \\[-?[0-9.e+-]+, -?[0-9.e+-]+\\]"), lines[i]);
        }

        Path twoInputs = dir.resolve("two-inputs.osprey");
        dev.osprey.Input a = dev.osprey.Input.shape(28, 28, 1).name("pixels");
        dev.osprey.Input b = dev.osprey.Input.shape(3).name("meta");
        try (dev.osprey.Model m = new dev.osprey.Model(List.of(a, b), List.of(new dev.osprey.layers.Dense(2).apply(
                new dev.osprey.layers.Concatenate().apply(new dev.osprey.layers.Flatten().apply(a), b))))) {
            m.seed(3).save(twoInputs);
        }
        Run refused = run("predict", twoInputs.toString(), images.toString());
        assertEquals(1, refused.exitCode());
        assertTrue(refused.err().contains("osprey predict feeds images to a model of one input; this one has 2 "
                + "[pixels, meta]: serve it (osprey serve)"), refused.err());
        // evaluate, quantize and bench feed a data set to a classifier: both models are refused, saying how instead
        for (String[] args : List.of(new String[] {"evaluate", twoInputs.toString()},
                new String[] {"quantize", twoInputs.toString(), "-o", dir.resolve("q.osprey").toString()},
                new String[] {"bench", twoInputs.toString(), "--seconds", "0.1"})) {
            Run r = run(args);
            assertEquals(1, r.exitCode(), args[0]);
            assertTrue(r.err().contains(args[0] + ": expected a classifier of one input and one output, received a "
                    + "model of 2 inputs [pixels, meta] and 1 output [dense] (evaluate it from Java, by name: "
                    + "model.evaluate(Map.of(\"pixels\", x, ...), Map.of(\"dense\", y, ...), batchSize))"), r.err());
        }
        Run heads = run("evaluate", model.toString());
        assertEquals(1, heads.exitCode());
        assertTrue(heads.err().contains("received a model of 1 input [image] and 2 outputs [kind, box]"), heads.err());
    }

    @Test
    void summaryWithoutAFileShowsTheTutorialModel() {
        Run summary = run("summary");
        assertEquals(0, summary.exitCode(), summary.err());
        assertTrue(summary.out().contains("Total params: 93,322"), summary.out());
    }
}
