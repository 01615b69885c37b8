package dev.osprey.cli;

import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Idx;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "predict", mixinStandardHelpOptions = true,
        description = "Top-k classes for each image of an IDX file, batched.")
final class PredictCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "Model file written by train.")
    Path modelFile;

    @Parameters(index = "1", description = "IDX file of images (raw or .gz).")
    Path images;

    @Option(names = "--top-k", defaultValue = "3", description = "Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--limit", defaultValue = "10", description = "Print at most this many images (0: all). Default: ${DEFAULT-VALUE}.")
    int limit;

    @Option(names = "--batch-size", defaultValue = "256", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--device", defaultValue = "auto", description = "auto or cpu. Default: ${DEFAULT-VALUE}.")
    String device;

    @Override
    public Integer call() throws Exception {
        if (topK <= 0) {
            throw new IllegalArgumentException("expected --top-k > 0, received " + topK);
        }
        NDArray x = Idx.images(Idx.read(images), images.toString());
        int n = limit > 0 ? Math.min(limit, x.rows()) : x.rows();
        try (Sequential model = Sequential.load(modelFile, Device.parse(device))) {
            NDArray p = model.predict(x.slice(0, n), batchSize);
            int classes = p.rowSize();
            List<String> names = model.classNames();
            for (int i = 0; i < n; i++) {
                final int row = i;
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%6d:", i));
                IntStream.range(0, classes).boxed()
                        .sorted(Comparator.comparingDouble(c -> -p.data()[row * classes + c]))
                        .limit(Math.min(topK, classes))
                        .forEach(c -> line.append(String.format(Locale.ROOT, "  %s %.3f",
                                c < names.size() ? names.get(c) : "class " + c, p.data()[row * classes + c])));
                System.out.println(line);
            }
        }
        return 0;
    }
}
