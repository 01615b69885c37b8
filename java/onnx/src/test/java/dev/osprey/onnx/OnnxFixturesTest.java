package dev.osprey.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import java.net.URISyntaxException;
import java.nio.file.Path;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The fixtures benchmarks/onnx/make_fixtures.py exported from PyTorch predict PyTorch's outputs. */
class OnnxFixturesTest {
    static Path fixture(String name) throws URISyntaxException {
        return Path.of(OnnxFixturesTest.class.getResource("fixtures/" + name + "/model.onnx").toURI()).getParent();
    }

    @ParameterizedTest
    @ValueSource(strings = {"fmnist_cnn", "resnet_small", "mobilenet_v2", "convnext_small", "convnext_small_op14",
            "vit_small", "vit_small_static"})
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

    /** Asked to, the model keeps the file's NCHW input: PyTorch's own input tensor predicts PyTorch's outputs. */
    @ParameterizedTest
    @ValueSource(strings = {"resnet_small", "mobilenet_v2"})
    void anNchwInputCanStayNchw(String name) throws Exception {
        Path dir = fixture(name);
        try (Model model = new OnnxImporter().device(Device.cpu()).nchwInput(true)
                .importModel(dir.resolve("model.onnx"))) {
            TensorData in = OnnxTestData.tensor(dir.resolve("test_data_set_0/input_0.pb"));
            assertArrayEquals(new int[] {3, 32, 32}, model.inputShape().dims());
            NDArray output = model.predict(new NDArray(in.floats, 4, 3, 32, 32));
            TensorData expected = OnnxTestData.tensor(dir.resolve("test_data_set_0/output_0.pb"));
            double error = OnnxTestData.relativeError(output.data(), expected.floats);
            assertTrue(error <= 1e-5, name + " with NCHW input: relative error " + error);
            assertEquals(error, new OnnxImporter().verify(model, dir.resolve("test_data_set_0")), 1e-12);
        }
    }

    /**
     * The Fashion-MNIST CNN trained in PyTorch, imported, classifies all 10,000 test images as PyTorch did (every
     * one), so its accuracy is PyTorch's to the image.
     */
    @Test
    void theImportedFashionMnistModelGivesPyTorchsAccuracy() throws Exception {
        assumeTrue(Files.isDirectory(Datasets.DEBIAN_FASHION_MNIST), "Fashion-MNIST's test set is not installed at "
                + Datasets.DEBIAN_FASHION_MNIST + " (Debian: apt-get install dataset-fashion-mnist)");
        Path dir = fixture("fmnist_cnn");
        byte[] pytorch = Files.readAllBytes(dir.resolve("pytorch_predictions.bin"));
        String[] reported = Files.readString(dir.resolve("pytorch_accuracy.txt")).trim().split(" ");
        LabeledData data = Datasets.fromDirectory(Datasets.DEBIAN_FASHION_MNIST);
        try (Model model = new OnnxImporter().device(Device.cpu()).importModel(dir.resolve("model.onnx"))) {
            int[] predicted = model.predict(data.testX(), 500).argMax();
            float[] labels = data.testY().data(); // sparse: one class index per image
            assertEquals(pytorch.length, predicted.length);
            assertEquals(labels.length, predicted.length);
            int same = 0;
            int correct = 0;
            for (int i = 0; i < predicted.length; i++) {
                same += predicted[i] == pytorch[i] ? 1 : 0;
                correct += predicted[i] == labels[i] ? 1 : 0;
            }
            System.out.printf("fmnist_cnn on the 10,000 test images: %d correct (PyTorch reported %s), %d of %d "
                    + "predictions equal PyTorch's%n", correct, reported[1], same, predicted.length);
            assertEquals(predicted.length, same, "images classified otherwise than PyTorch did");
            assertEquals(Integer.parseInt(reported[1]), correct);
        }
    }
}
