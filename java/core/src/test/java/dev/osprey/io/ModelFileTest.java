package dev.osprey.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.FitOptions;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFileTest {
    @TempDir
    static Path dir;
    static Path saved;
    static NDArray images;
    static NDArray predictionsBefore;
    static List<NDArray> weightsBefore;

    @BeforeAll
    static void trainAndSave() throws IOException {
        Random r = new Random(1);
        float[] x = new float[64 * 784];
        float[] y = new float[64];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat();
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = r.nextInt(10);
        }
        images = new NDArray(x, 64, 28, 28, 1);
        try (Sequential model = Models.compiledTutorialCnn()) {
            model.classNames(List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"));
            model.fit(images, new NDArray(y, 64), FitOptions.defaults().epochs(1).verbose(false));
            saved = dir.resolve("tutorial.osprey");
            model.save(saved);
            predictionsBefore = model.predict(images);
            weightsBefore = model.getWeights();
        }
    }

    @Test
    void roundTripIsBitExactAndPredictsTheSame() throws IOException {
        try (Sequential loaded = Sequential.load(saved, Device.cpu())) {
            List<NDArray> weights = loaded.getWeights();
            assertEquals(weightsBefore.size(), weights.size());
            for (int i = 0; i < weights.size(); i++) {
                assertArrayEquals(weightsBefore.get(i).shape(), weights.get(i).shape());
                assertArrayEquals(weightsBefore.get(i).data(), weights.get(i).data(), 0f, "weight " + i);
            }
            assertArrayEquals(predictionsBefore.data(), loaded.predict(images).data(), 0f);
            assertEquals("j", loaded.classNames().get(9));
            assertEquals("adam", loaded.optimizer().name());
            assertEquals(93_322, loaded.countParams());
        }
    }

    /**
     * The weights are stored, not deflated (deflating trained fp32 weights took most of a large model's save for a few
     * percent), the JSON deflated; the v1 fixture below, whose weights are deflated, shows such files still load.
     */
    @Test
    void theWeightsAreStoredAndTheArchitectureCompressed() throws IOException {
        try (var zip = new java.util.zip.ZipFile(saved.toFile())) {
            assertEquals(ZipEntry.STORED, zip.getEntry("weights.safetensors").getMethod());
            assertEquals(ZipEntry.DEFLATED, zip.getEntry("model.json").getMethod());
        }
        try (var zip = new java.util.zip.ZipInputStream(getClass().getResourceAsStream("format-v1-model.osprey"))) {
            ZipEntry e;
            boolean deflatedWeights = false;
            while ((e = zip.getNextEntry()) != null) {
                deflatedWeights |= e.getName().equals("weights.safetensors") && e.getMethod() == ZipEntry.DEFLATED;
            }
            assertTrue(deflatedWeights, "the v1 fixture is a file with deflated weights");
        }
    }

    /**
     * A file written by format version 1 (before graph models; made by the code of that time and kept as a fixture)
     * loads as a Sequential with its weights, optimizer state and class names, and predicts what it predicted then.
     */
    @Test
    void aModelFileOfFormatVersionOneStillLoadsAndPredictsTheSame() throws IOException {
        Path v1 = dir.resolve("format-v1.osprey");
        try (var in = getClass().getResourceAsStream("format-v1-model.osprey")) {
            Files.copy(in, v1);
        }
        String[] expected;
        try (var in = getClass().getResourceAsStream("format-v1-expected.txt")) {
            expected = new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n");
        }
        float[] probe = bits(expected[0]);
        float[] predictions = bits(expected[1]);
        try (Sequential model = Sequential.load(v1, Device.cpu())) {
            assertEquals(List.of("red", "green", "blue"), model.classNames());
            assertEquals("adam", model.optimizer().name());
            assertEquals(10, model.optimizerState().iterations(), "Adam's step count came along");
            NDArray p = model.predict(new NDArray(probe, 5, 12, 12, 1));
            assertArrayEquals(predictions, p.data(), 1e-6f, "the same predictions as when it was saved");
            Path resaved = dir.resolve("format-v2.osprey");
            model.save(resaved); // and it saves as the current format
            try (Sequential again = Sequential.load(resaved, Device.cpu())) {
                assertArrayEquals(p.data(), again.predict(new NDArray(probe, 5, 12, 12, 1)).data(), 0f);
            }
        }
    }

    private static float[] bits(String line) {
        String[] words = line.trim().split(" ");
        float[] out = new float[words.length];
        for (int i = 0; i < words.length; i++) {
            out[i] = Float.intBitsToFloat(Integer.parseInt(words[i]));
        }
        return out;
    }

    @Test
    void aTruncatedFileGetsAClearError() throws IOException {
        byte[] whole = Files.readAllBytes(saved);
        for (int cut : new int[] {0, 10, whole.length / 2, whole.length - 30}) {
            Path truncated = dir.resolve("truncated-" + cut + ".osprey");
            Files.write(truncated, Arrays.copyOf(whole, cut));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> Sequential.load(truncated, Device.cpu()));
            assertTrue(e.getMessage().contains(truncated.toString()), e.getMessage());
        }
    }

    @Test
    void foreignFilesGetClearErrors() throws IOException {
        Path text = dir.resolve("notes.osprey");
        Files.writeString(text, "these are not weights");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Sequential.load(text, Device.cpu()));
        assertTrue(e.getMessage().contains("is not an Osprey model file"), e.getMessage());

        Path otherZip = dir.resolve("other.zip");
        writeZip(otherZip, "model.json", "{\"format\":\"keras\",\"version\":1}", "weights.safetensors", "xxxxxxxx");
        e = assertThrows(ModelFormatException.class, () -> Sequential.load(otherZip, Device.cpu()));
        assertTrue(e.getMessage().contains("expected format 'osprey-model', received 'keras'"), e.getMessage());

        Path badJson = dir.resolve("bad-json.osprey");
        writeZip(badJson, "model.json", "{\"format\": osprey", "weights.safetensors", "xxxxxxxx");
        e = assertThrows(ModelFormatException.class, () -> Sequential.load(badJson, Device.cpu()));
        assertTrue(e.getMessage().contains("damaged model.json"), e.getMessage());

        assertThrows(java.nio.file.NoSuchFileException.class, () -> Sequential.load(dir.resolve("absent.osprey")));
    }

    @Test
    void damagedWeightsGetAClearError() throws IOException {
        Path copy = dir.resolve("damaged-weights.osprey");
        String json;
        try (var zip = new java.util.zip.ZipFile(saved.toFile())) {
            json = new String(zip.getInputStream(zip.getEntry("model.json")).readAllBytes(), StandardCharsets.UTF_8);
        }
        // Enough bytes for the model's weights, but no tensor header for them.
        writeZip(copy, "model.json", json, "weights.safetensors", "\u0008\u0000\u0000\u0000\u0000\u0000\u0000\u0000{}      "
                + "\u0000".repeat(93_322 * 4));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Sequential.load(copy, Device.cpu()));
        assertTrue(e.getMessage().contains("expected a tensor named conv2d/kernel"), e.getMessage());
    }

    @Test
    void savingLeavesNoTemporaryFilesAndReplacesAtomically() throws IOException {
        Path target = dir.resolve("atomic/model.osprey");
        try (Sequential model = Sequential.load(saved, Device.cpu())) {
            model.save(target);
            model.save(target);
        }
        try (var files = Files.list(target.getParent())) {
            assertEquals(List.of("model.osprey"), files.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void trainingResumesFromAFileExactlyAsIfItHadNotStopped() throws IOException {
        dev.osprey.data.LabeledData d = dev.osprey.data.Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 256), y = d.trainY().slice(0, 256);
        Path file = dir.resolve("resume.osprey");
        float[] uninterrupted, resumed, freshMoments;
        try (Sequential a = dev.osprey.Models.compiledTutorialCnn(Device.cpu())) {
            a.fit(x, y, FitOptions.defaults().epochs(1).seed(1).verbose(false));
            a.save(file);
            a.fit(x, y, FitOptions.defaults().epochs(1).seed(2).verbose(false));
            uninterrupted = a.getWeights().get(0).data();
        }
        try (Sequential b = Sequential.load(file, Device.cpu())) {
            assertEquals(8, b.optimizerState().iterations(), "256 samples in batches of 32");
            b.fit(x, y, FitOptions.defaults().epochs(1).seed(2).verbose(false));
            resumed = b.getWeights().get(0).data();
        }
        assertArrayEquals(uninterrupted, resumed, 0f);
        try (Sequential c = Sequential.load(file, Device.cpu())) { // the same weights, but Adam starting over
            c.restoreOptimizerState(new Sequential.OptimizerState(0, java.util.Map.of(
                    "m", NDArray.zeros(c.optimizerState().slots().get("m").shape()),
                    "v", NDArray.zeros(c.optimizerState().slots().get("v").shape()))));
            c.fit(x, y, FitOptions.defaults().epochs(1).seed(2).verbose(false));
            freshMoments = c.getWeights().get(0).data();
        }
        assertTrue(!java.util.Arrays.equals(uninterrupted, freshMoments), "the saved moments must matter");
    }

    private static String entry(String name) throws IOException {
        return entry(saved, name);
    }

    private static String entry(Path file, String name) throws IOException {
        try (var zip = new java.util.zip.ZipFile(file.toFile())) {
            return new String(zip.getInputStream(zip.getEntry(name)).readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    /** The saved weights with their JSON header rewritten (its length field follows). */
    private static String weightsWithHeader(java.util.function.UnaryOperator<String> edit) throws IOException {
        byte[] bytes = entry("weights.safetensors").getBytes(StandardCharsets.ISO_8859_1);
        var in = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int headerLength = (int) in.getLong();
        String header = new String(bytes, 8, headerLength, StandardCharsets.ISO_8859_1);
        byte[] edited = edit.apply(header).getBytes(StandardCharsets.ISO_8859_1);
        var out = java.nio.ByteBuffer.allocate(8 + edited.length + bytes.length - 8 - headerLength)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        out.putLong(edited.length).put(edited).put(bytes, 8 + headerLength, bytes.length - 8 - headerLength);
        return new String(out.array(), StandardCharsets.ISO_8859_1);
    }

    private static ModelFormatException loadFails(String name, String json, String weights) throws IOException {
        Path file = dir.resolve(name);
        writeZip(file, "model.json", json, "weights.safetensors", weights);
        return assertThrows(ModelFormatException.class, () -> dev.osprey.Model.load(file, Device.cpu()));
    }

    @Test
    void anArchitectureLargerThanItsWeightsIsRefusedBeforeAnythingIsAllocated() throws IOException {
        // A Dense of 100,000 units makes the model declare 58.8 million weights; the file holds 93,322.
        String json = entry("model.json").replace("\"units\":64", "\"units\":100000");
        ModelFormatException e = loadFails("too-large.osprey", json, entry("weights.safetensors"));
        assertTrue(e.getMessage().contains("declares 58755754 weights"), e.getMessage());
    }

    @Test
    void hostileReferencesAndShapesGetClearErrors() throws IOException {
        // A functional model's file names each layer's inputs as [layer, call, tensor].
        Path functional = dir.resolve("functional.osprey");
        dev.osprey.Input in = dev.osprey.Input.shape(4);
        var hidden = new dev.osprey.layers.Dense(5).apply(in);
        try (dev.osprey.Model m = new dev.osprey.Model(in, new dev.osprey.layers.Dense(3).apply(hidden))) {
            m.device(Device.cpu()).build();
            m.save(functional);
        }
        String json = entry(functional, "model.json");
        String weights = entry(functional, "weights.safetensors");
        java.util.regex.Matcher ref = java.util.regex.Pattern.compile("\\[\"(\\w+)\",0,0\\]").matcher(json);
        assertTrue(ref.find(), json);
        String negativeCall = json.substring(0, ref.start()) + "[\"" + ref.group(1) + "\",-1,0]"
                + json.substring(ref.end());
        ModelFormatException e = loadFails("negative-call.osprey", negativeCall, weights);
        assertTrue(e.getMessage().contains("expected a call index >= 0"), e.getMessage());

        String shortRef = json.substring(0, ref.start()) + "[\"" + ref.group(1) + "\"]" + json.substring(ref.end());
        e = loadFails("short-ref.osprey", shortRef, weights);
        assertTrue(e.getMessage().contains("expected an input reference"), e.getMessage());

        String negativeShape = weightsWithHeader(h -> h.replaceFirst("\"shape\":\\[3,", "\"shape\":[-3,"));
        e = loadFails("negative-shape.osprey", entry("model.json"), negativeShape);
        assertTrue(e.getMessage().contains("expected dimensions from 0"), e.getMessage());
    }

    /**
     * The layers may be listed in any order: a chain of 2,000 layers listed backwards loads as saved (each layer waits
     * for the one it reads, so the order costs one pass, where it cost a pass per layer: 4 million layer visits), and
     * predicts the same.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aChainListedBackwardsLoadsAsSaved() throws IOException {
        Path file = dir.resolve("chain.osprey");
        dev.osprey.Input in = dev.osprey.Input.shape(3);
        dev.osprey.SymbolicTensor t = in;
        for (int i = 0; i < 2000; i++) {
            t = new dev.osprey.layers.ReLU().apply(t);
        }
        t = new dev.osprey.layers.Dense(2).apply(t);
        NDArray x = new NDArray(new float[] {0.5f, -1, 2}, 1, 3);
        float[] expected;
        try (dev.osprey.Model m = new dev.osprey.Model(in, t)) {
            m.device(Device.cpu()).seed(4).build();
            expected = m.predict(x, 1).data();
            m.save(file);
        }
        Map<String, Object> doc = (Map<String, Object>) dev.osprey.io.Json.parse(entry(file, "model.json"));
        List<Object> layers = (List<Object>) ((Map<String, Object>) ((Map<String, Object>) doc.get("model"))
                .get("config")).get("layers");
        java.util.Collections.reverse(layers);
        Path backwards = dir.resolve("chain-backwards.osprey");
        writeZip(backwards, "model.json", dev.osprey.io.Json.write(doc), "weights.safetensors",
                entry(file, "weights.safetensors"));
        try (dev.osprey.Model loaded = dev.osprey.Model.load(backwards, Device.cpu())) {
            assertArrayEquals(expected, loaded.predict(x, 1).data(), 0f);
        }
    }

    /** Finding 3 of the hardening issue: 100,000 nested brackets overflowed the stack of the old JSON parser. */
    @Test
    void deeplyNestedJsonIsRefusedByTheDepthLimit() throws IOException {
        ModelFormatException e = loadFails("nested.osprey", "[".repeat(100_000), entry("weights.safetensors"));
        assertTrue(e.getMessage().contains("osprey.limits.maxJsonDepth"), e.getMessage());
        String nestedHeader = weightsWithHeader(h -> "{\"a\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}");
        e = loadFails("nested-header.osprey", entry("model.json"), nestedHeader);
        assertTrue(e.getMessage().contains("osprey.limits.maxJsonDepth"), e.getMessage());
    }

    /** Finding 4 of the hardening issue: 10^9 filters or units cost a minute and 15 GB before the refusal. */
    @Test
    void hugeDeclaredLayersAreRefusedByTheParameterLimitWithoutOverflow() throws IOException {
        String json = entry("model.json");
        ModelFormatException e = loadFails("filters.osprey", json.replaceFirst("\"filters\":32", "\"filters\":1000000000"),
                entry("weights.safetensors"));
        assertTrue(e.getMessage().contains("(osprey.limits.maxTensorElements)), received shape [26, 26, 1000000000]"),
                e.getMessage());
        e = loadFails("units.osprey", json.replace("\"units\":64", "\"units\":10000000"), entry("weights.safetensors"));
        assertTrue(e.getMessage().contains("osprey.limits.maxParameters"), e.getMessage());
        e = loadFails("units-1e9.osprey", json.replace("\"units\":64", "\"units\":1000000000"), entry("weights.safetensors"));
        assertTrue(e.getMessage().contains("osprey.limits.maxTensorElements"), e.getMessage());
        assertTrue(!e.getMessage().contains(" -"), "no overflowed negative figure: " + e.getMessage());
        // A huge input costs no weights, but its activations would: refused where the shape is declared.
        e = loadFails("input.osprey", json.replace("\"batch_shape\":[null,28,28,1]", "\"batch_shape\":[null,46340,46340,1]"),
                entry("weights.safetensors"));
        assertTrue(e.getMessage().contains("osprey.limits.maxTensorElements"), e.getMessage());
    }

    /**
     * A model.json that inflates past the JSON size limit stops there, whatever the zip claims; and a small file's
     * model.json stops at 8 MiB (a few kilobytes of {} inflating to 60 MiB would parse into gigabytes of maps).
     */
    @Test
    void anEntryInflatingPastItsLimitIsRefused() throws IOException {
        ModelFormatException e = loadFails("bomb.osprey", " ".repeat(65 << 20) + "{}", entry("weights.safetensors"));
        assertTrue(e.getMessage().contains("the larger of 8 MiB and 32 times the file's"), e.getMessage());
        dev.osprey.Limits before = dev.osprey.Limits.current();
        try {
            dev.osprey.Limits.set(before.withMaxJsonBytes(4 << 20)); // below the 8 MiB floor: the limit named
            e = loadFails("bomb-small-limit.osprey", " ".repeat(5 << 20) + "{}", entry("weights.safetensors"));
            assertTrue(e.getMessage().contains("osprey.limits.maxJsonBytes"), e.getMessage());
        } finally {
            dev.osprey.Limits.set(before);
        }
        // 15 MiB of {} in a file of a few kilobytes: past 8 MiB (the weights, read after it, don't matter here)
        e = loadFails("json-bomb.osprey", "[" + "{},".repeat(5 << 20) + "{}]", "x");
        assertTrue(e.getMessage().contains("model.json inflates to more than")
                && e.getMessage().contains("32 times the file's"), e.getMessage());
        e = loadFails("json-list.osprey", "[" + "{},".repeat(1000) + "{}]", entry("weights.safetensors"));
        assertTrue(e.getMessage().length() < 400, "what the file holds is echoed shortened: " + e.getMessage());
    }

    /**
     * A small file whose weights inflate a thousandfold (80 MB of zeros in a file of about 80 KB) is refused once the
     * inflation passes 64 MiB, long before the parameter limit's 6 GB of room, and before model.json is read.
     */
    @Test
    void weightsInflatingFarBeyondTheFileAreRefused() throws IOException {
        ModelFormatException e = loadFails("weights-bomb.osprey", entry("model.json"), "\0".repeat(80 << 20));
        assertTrue(e.getMessage().contains("entry weights.safetensors inflates to more than 67108864 bytes, the larger "
                + "of 64 MiB and 32 times the file's"), e.getMessage());
    }

    /** Finding 5 of the hardening issue: NaN weights loaded and predicted. */
    @Test
    void nonFiniteWeightsAreRefused() throws IOException {
        byte[] weights = entry("weights.safetensors").getBytes(StandardCharsets.ISO_8859_1);
        long headerLength = java.nio.ByteBuffer.wrap(weights).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        java.nio.ByteBuffer.wrap(weights).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat((int) (8 + headerLength + 8), Float.NaN);
        ModelFormatException e = loadFails("nan.osprey", entry("model.json"), new String(weights, StandardCharsets.ISO_8859_1));
        assertTrue(e.getMessage().contains("holds NaN at index 2"), e.getMessage());
    }

    /** Finding 6 of the hardening issue, one case each. */
    @Test
    void malformedContentsGetClearErrors() throws IOException {
        String json = entry("model.json");
        String weights = entry("weights.safetensors");

        String hugeShape = weightsWithHeader(h -> h.replaceFirst("\"shape\":\\[3,", "\"shape\":[100000000000,"));
        ModelFormatException e = loadFails("huge-shape.osprey", json, hugeShape);
        assertTrue(e.getMessage().contains("expected dimensions from 0 to 2147483647, received [100000000000"), e.getMessage());

        e = loadFails("no-version.osprey", json.replaceFirst("\"version\":2,?", ""), weights);
        assertTrue(e.getMessage().contains("expected a format version, received null"), e.getMessage());

        e = loadFails("fraction.osprey", json.replace("\"units\":64", "\"units\":64.5"), weights);
        assertTrue(e.getMessage().contains("expected 'units' to be a whole number, received 64.5"), e.getMessage());

        // The second tensor's bytes moved back by one value, into the first tensor's.
        java.util.regex.Matcher second = java.util.regex.Pattern
                .compile("\"data_offsets\":\\[(\\d+),(\\d+)\\]").matcher(weightsWithHeader(h -> h));
        assertTrue(second.find() && second.find());
        long begin = Long.parseLong(second.group(1)), end = Long.parseLong(second.group(2));
        String overlapping = weightsWithHeader(h -> h.replace("\"data_offsets\":[" + begin + "," + end + "]",
                "\"data_offsets\":[" + (begin - 4) + "," + (end - 4) + "]"));
        e = loadFails("overlap.osprey", json, overlapping);
        assertTrue(e.getMessage().contains("overlap"), e.getMessage());

        // Two entries named model.json (the zip writer refuses that, so the second name is patched in afterwards).
        Path twice = dir.resolve("twice.osprey");
        writeZip(twice, "model.json", json, "model.jsox", json.replace("\"units\":64", "\"units\":65"),
                "weights.safetensors", weights);
        byte[] zip = Files.readAllBytes(twice);
        String patched = new String(zip, StandardCharsets.ISO_8859_1).replace("model.jsox", "model.json");
        Files.write(twice, patched.getBytes(StandardCharsets.ISO_8859_1));
        e = assertThrows(ModelFormatException.class, () -> dev.osprey.Model.load(twice, Device.cpu()));
        assertTrue(e.getMessage().contains("holds entry model.json twice"), e.getMessage());
        byte[] patchedBytes = patched.getBytes(StandardCharsets.ISO_8859_1);
        e = assertThrows(ModelFormatException.class, () -> ModelFile.fromBytes(patchedBytes, Device.cpu()));
        assertTrue(e.getMessage().contains("holds entry model.json twice"), e.getMessage());
    }

    @Test
    void theLearningRateAScheduleReachedIsSavedAndResumed() throws IOException {
        dev.osprey.data.LabeledData d = dev.osprey.data.Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 64), y = d.trainY().slice(0, 64);
        Path file = dir.resolve("scheduled.osprey");
        double reached;
        try (Sequential a = dev.osprey.Models.compiledTutorialCnn(Device.cpu())) {
            a.fit(x, y, FitOptions.defaults().epochs(2).verbose(false)
                    .callbacks(dev.osprey.callbacks.LearningRateScheduler.cosine(1e-3, 4, 0)));
            reached = a.optimizerState().learningRate();
            a.save(file);
        }
        assertEquals(1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)), reached, 1e-9, "epoch 2 of 4 ran at rate(1)");
        try (Sequential b = Sequential.load(file, Device.cpu())) {
            assertEquals(reached, b.optimizerState().learningRate(), 0);
        }
    }

    private static void writeZip(Path path, String... nameThenContent) throws IOException {
        try (OutputStream out = Files.newOutputStream(path); ZipOutputStream zip = new ZipOutputStream(out)) {
            for (int i = 0; i < nameThenContent.length; i += 2) {
                zip.putNextEntry(new ZipEntry(nameThenContent[i]));
                zip.write(nameThenContent[i + 1].getBytes(StandardCharsets.ISO_8859_1));
                zip.closeEntry();
            }
        }
    }
}
