package dev.osprey.cli;

import dev.osprey.Model;
import dev.osprey.backend.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Import an image classifier from an ONNX file (exported by PyTorch, Keras/tf2onnx, ...) into an "
                + "Osprey model file, to predict, serve, fine-tune or benchmark like any Osprey model. The model takes "
                + "NHWC input (the ONNX file's NCHW weights are converted once).")
final class ImportCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "The ONNX file.")
    Path onnxFile;

    @Option(names = {"-o", "--output"}, required = true, description = "The Osprey model file to write.")
    Path output;

    @Option(names = "--class-names", description = "The classes' names, comma-separated, or @FILE with one per line "
            + "(default: none; predictions then name class indices).")
    String classNames;

    @Option(names = "--input-layout", defaultValue = "nhwc", description = "nhwc: the model takes (H, W, C) images "
            + "like every Osprey model; nchw: it keeps the ONNX file's (C, H, W) input, turned NHWC inside by a "
            + "Permute layer. Default: ${DEFAULT-VALUE}.")
    String inputLayout;

    @Option(names = "--verify", description = "An ONNX test data set (a folder of input_0.pb and output_0.pb, as "
            + "exporters and ONNX's tests write them): predict its inputs and compare with its outputs.")
    Path verify;

    @Option(names = "--tolerance", defaultValue = "1e-4", description = "Largest error --verify accepts, relative to "
            + "the outputs' scale. Default: ${DEFAULT-VALUE}.")
    double tolerance;

    @Override
    public Integer call() throws Exception {
        long start = System.nanoTime();
        boolean nchw = switch (inputLayout.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "nhwc" -> false;
            case "nchw" -> true;
            default -> throw new IllegalArgumentException("expected --input-layout nhwc or nchw, received '"
                    + inputLayout + "'");
        };
        try (Model model = dev.osprey.io.OnnxSupport.find().importModel(onnxFile, Device.cpu(), nchw)) {
            if (classNames != null) {
                List<String> names = classNames.startsWith("@")
                        ? Files.readAllLines(Path.of(classNames.substring(1))).stream().map(String::strip)
                                .filter(s -> !s.isEmpty()).toList()
                        : Arrays.stream(classNames.split(",")).map(String::strip).toList();
                model.classNames(names);
            }
            if (verify != null) {
                double error = dev.osprey.io.OnnxSupport.find().verify(model, verify);
                System.out.printf("verified against %s: largest error %.3g of the outputs' scale (tolerance %.3g)%n",
                        verify, error, tolerance);
                if (!(error <= tolerance)) {
                    System.err.println("the imported model does not reproduce the test data set's outputs; not saved");
                    return 1;
                }
            }
            model.save(output);
            System.out.printf("imported %s: %d layers, %,d parameters, input %s -> output %s, in %.2f s; wrote %s%n",
                    onnxFile, model.layers().size(), model.countParams(), model.inputShape(), model.outputShape(),
                    (System.nanoTime() - start) / 1e9, output);
        }
        return 0;
    }
}
