package dev.osprey.cli;

import dev.osprey.Model;
import dev.osprey.backend.Device;
import dev.osprey.data.LabeledData;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Loss and accuracy of a saved model on a data set's test split.")
final class EvaluateCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "Model file written by train.")
    Path modelFile;

    @Mixin
    DataOptions data = new DataOptions();

    @Option(names = "--device", defaultValue = "auto", description = "auto or cpu. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--report", description = "Also print precision, recall, F1 and one-vs-rest AUC per class with "
            + "their macro averages and top-k accuracy, and write the confusion matrix as MODEL.confusion.png.")
    boolean report;

    @Option(names = "--top-k", defaultValue = "3", description = "k of the report's top-k accuracy. Default: "
            + "${DEFAULT-VALUE}.")
    int topK;

    @Override
    public Integer call() throws Exception {
        try (Model model = Model.load(modelFile, Device.parse(device))) {
            LabeledData d = data.load();
            Evaluation.requireInputShape(model, d, "evaluate");
            Evaluation.compiled(model, "evaluate");
            Map<String, Double> r = model.evaluate(d.testX(), d.testY(), 256);
            StringBuilder figures = new StringBuilder();
            r.forEach((k, v) -> figures.append(figures.isEmpty() ? "" : " - ")
                    .append(String.format(Locale.ROOT, "%s: %.4f", k, v)));
            System.out.printf(Locale.ROOT, "%s (%,d images from %s)%n", figures, d.testX().rows(), d.source());
            if (report) {
                dev.osprey.metrics.ClassificationReport rep = model.classificationReport(d.testX(), d.testY(), 256);
                System.out.print(rep.toTable(topK));
                Path png = TrainCommand.sibling(modelFile, ".confusion.png");
                try {
                    dev.osprey.charts.Charts.confusionMatrix(rep, png);
                    System.out.println("Confusion matrix: " + png.toAbsolutePath());
                } catch (LinkageError e) {
                    System.out.println("Confusion matrix: not drawn, this Java runtime has no imaging (" + e + ")");
                }
            }
        }
        return 0;
    }
}
