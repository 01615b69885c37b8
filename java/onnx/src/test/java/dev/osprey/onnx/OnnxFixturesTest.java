package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import java.net.URISyntaxException;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The fixtures benchmarks/onnx/make_fixtures.py exported from PyTorch predict PyTorch's outputs. */
class OnnxFixturesTest {
    static Path fixture(String name) throws URISyntaxException {
        return Path.of(OnnxFixturesTest.class.getResource("fixtures/" + name + "/model.onnx").toURI()).getParent();
    }

    @ParameterizedTest
    @ValueSource(strings = {"fmnist_cnn", "resnet_small", "mobilenet_v2"})
    void predictsPyTorchsOutputs(String name) throws Exception {
        Path dir = fixture(name);
        try (Model model = new OnnxImporter().device(Device.cpu()).importModel(dir.resolve("model.onnx"))) {
            NDArray input = OnnxTestData.toOsprey(OnnxTestData.tensor(dir.resolve("test_data_set_0/input_0.pb")));
            TensorData expected = OnnxTestData.tensor(dir.resolve("test_data_set_0/output_0.pb"));
            NDArray output = model.predict(input);
            assertArrayEquals(new int[] {(int) expected.dims[0], (int) expected.dims[1]}, output.shape());
            double error = OnnxTestData.relativeError(OnnxTestData.toOnnx(output), expected.floats);
            System.out.printf("%s: %d layers, relative error %.2e against PyTorch%n", name, model.layers().size(), error);
            assertTrue(error <= 1e-5, name + ": relative error " + error);
        }
    }
}
