package dev.osprey.cli;

import dev.osprey.Model;
import dev.osprey.backend.Device;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write an Osprey model file as ONNX (opset 17) for ONNX Runtime, TensorRT, OpenVINO, ...: the "
                + "input stays NHWC with a dynamic batch; BatchNorm and activations stay ONNX nodes.")
final class ExportCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "The Osprey model file.")
    Path modelFile;

    @Parameters(index = "1", description = "The ONNX file to write.")
    Path onnxFile;

    @Override
    public Integer call() throws Exception {
        try (Model model = Model.load(modelFile, Device.cpu())) {
            model.exportOnnx(onnxFile);
            System.out.printf("exported %s (%d layers, %,d parameters, input %s) to %s%n", modelFile,
                    model.layers().size(), model.countParams(), model.inputShape(), onnxFile);
        }
        return 0;
    }
}
