package dev.osprey.cli;

import dev.osprey.Models;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "summary", mixinStandardHelpOptions = true,
        description = "Print a model's layers, shapes and parameter counts (the tutorial model if no file is given).")
final class SummaryCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", description = "Model file.")
    Path modelFile;

    @Override
    public Integer call() throws Exception {
        try (Sequential model = modelFile == null ? Models.tutorialCnn().device(Device.cpu())
                : Sequential.load(modelFile, Device.cpu())) {
            if (modelFile == null) {
                model.build(model.layers().get(0).declaredInputShape().orElseThrow());
            }
            model.summary();
        }
        return 0;
    }
}
