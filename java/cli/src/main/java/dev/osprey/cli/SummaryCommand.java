package dev.osprey.cli;

import dev.osprey.Model;
import dev.osprey.backend.Device;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(name = "summary", mixinStandardHelpOptions = true,
        description = "Print a model's layers, shapes and parameter counts: a model file, or a built-in model "
                + "(the tutorial CNN if neither is given).")
final class SummaryCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", description = "Model file.")
    Path modelFile;

    @Mixin
    BuiltInModelOptions builtIn = new BuiltInModelOptions();

    @Override
    public Integer call() throws Exception {
        builtIn.checkNotBoth(modelFile);
        if (modelFile != null) {
            try (Model model = Model.load(modelFile, Device.cpu())) {
                model.summary();
            }
            return 0;
        }
        // Only the shapes are needed: nothing is allocated, so even ResNet-50 prints at once.
        builtIn.model("tutorial").summary();
        return 0;
    }
}
