package dev.osprey.io;

import dev.osprey.Model;
import dev.osprey.backend.Device;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ServiceLoader;

/**
 * What the osprey-onnx module provides to {@link Model#importOnnx}: the core stays free of protobuf, and a user who
 * never reads ONNX never loads it. Found through {@link ServiceLoader}.
 */
public interface OnnxSupport {
    /** Reads an ONNX image classifier into a built model on this device (null: {@link Device#auto()}). */
    default Model importModel(Path path, Device device) throws IOException {
        return importModel(path, device, false);
    }

    /**
     * Reads an ONNX image classifier; with nchwInput the model keeps the file's (C, H, W) image inputs at its edge
     * (a Permute layer turns them NHWC inside), else it takes (H, W, C) like every Osprey model.
     */
    Model importModel(Path path, Device device, boolean nchwInput) throws IOException;

    /**
     * Predicts an ONNX test data set (a folder of input_0.pb, ... and output_0.pb, ... TensorProto files, as ONNX's
     * test suites and exporters write them) with the model and returns the largest difference from the stored
     * outputs relative to their scale: max |actual - expected| / max |expected|, over every output.
     */
    double verify(Model model, Path testDataSet) throws IOException;

    /** Writes the model as ONNX (opset 17, NHWC input with a dynamic batch), atomically. */
    void exportModel(Model model, Path path) throws IOException;

    /** The implementation on the class path, or a clear error naming the artifact to add. */
    static OnnxSupport find() {
        return ServiceLoader.load(OnnxSupport.class, OnnxSupport.class.getClassLoader()).findFirst()
                .or(() -> ServiceLoader.load(OnnxSupport.class).findFirst())
                .orElseThrow(() -> new UnsupportedOperationException("ONNX support is not on the class path: add "
                        + "the dev.osprey:osprey-onnx artifact (built where Debian's libonnx-dev provides "
                        + "/usr/include/onnx/onnx.proto)"));
    }
}
