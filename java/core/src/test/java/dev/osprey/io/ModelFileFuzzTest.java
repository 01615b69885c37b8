package dev.osprey.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.osprey.Model;
import dev.osprey.backend.Device;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Fuzzes the model-file loader. An input starting "PK" is a whole model file (the zip); one starting '{' is a
 * model.json, zipped with the weights of a valid tiny model (Conv2D, BatchNormalization, ReLU, MaxPooling2D, Dense); anything else is a weights entry (safetensors),
 * zipped with that model's model.json. Loading either gives a model or a {@link ModelFormatException}: any other
 * exception, a crash or an allocation past the limits is a finding. Seeds in ModelFileFuzzTestInputs.
 */
class ModelFileFuzzTest {
    private static final byte[] VALID = resource("ModelFileFuzzTestInputs/modelFilesLoadOrFailWithAFormatError/tiny.osprey");
    private static final byte[] VALID_JSON = entry(VALID, "model.json");
    private static final byte[] VALID_WEIGHTS = entry(VALID, "weights.safetensors");

    @FuzzTest(maxDuration = "30s")
    void modelFilesLoadOrFailWithAFormatError(byte[] input) throws IOException {
        byte[] file;
        if (input.length >= 2 && input[0] == 'P' && input[1] == 'K') {
            file = input;
        } else if (input.length >= 1 && input[0] == '{') {
            file = zip(input, VALID_WEIGHTS);
        } else {
            file = zip(VALID_JSON, input);
        }
        try (Model model = ModelFile.fromBytes(file, Device.cpu())) {
            model.countParams();
        } catch (ModelFormatException expected) {
            // the loader's answer to a damaged, truncated or hostile file
        }
        if (file == input) { // a whole file: also through Model.load's path, which reads the zip's directory
            java.nio.file.Files.write(ON_DISK, file);
            try (Model model = Model.load(ON_DISK, Device.cpu())) {
                model.countParams();
            } catch (ModelFormatException expected) {
                // as above
            }
        }
    }

    private static final java.nio.file.Path ON_DISK = temporaryFile();

    private static java.nio.file.Path temporaryFile() {
        try {
            java.nio.file.Path p = java.nio.file.Files.createTempFile("osprey-fuzz", ".osprey");
            p.toFile().deleteOnExit();
            return p;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] zip(byte[] json, byte[] weights) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            zip.putNextEntry(new ZipEntry("model.json"));
            zip.write(json);
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("weights.safetensors"));
            zip.write(weights);
            zip.closeEntry();
        }
        return bytes.toByteArray();
    }

    private static byte[] resource(String name) {
        try (InputStream in = ModelFileFuzzTest.class.getResourceAsStream(name)) {
            return in.readAllBytes();
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("missing test resource " + name, e);
        }
    }

    private static byte[] entry(byte[] zipBytes, String name) {
        try (ZipInputStream zip = new ZipInputStream(new java.io.ByteArrayInputStream(zipBytes))) {
            for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
                if (e.getName().equals(name)) {
                    return zip.readAllBytes();
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalStateException("no " + name);
    }
}
