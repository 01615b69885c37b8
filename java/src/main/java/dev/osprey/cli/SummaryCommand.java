package dev.osprey.cli;

import dev.osprey.Models;
import dev.osprey.Model;
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
        try (Model model = modelFile == null ? Models.tutorialCnn().device(Device.cpu())
                : Model.load(modelFile, Device.cpu())) {
            if (modelFile == null) {
                model.build();
            }
            model.summary();
        }
        return 0;
    }
}
