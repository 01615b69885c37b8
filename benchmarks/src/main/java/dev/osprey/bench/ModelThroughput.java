package dev.osprey.bench;

import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.benchmark.ModelBenchmark;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.util.Arrays;
import java.util.Locale;

/**
 * Whole-model figures for the tutorial CNN on real Fashion-MNIST images as one JSON line, for the side-by-side
 * scripts (benchmarks/run-cpu-vs-pytorch.sh, benchmarks/gpu/run-gpu.sh). The measuring is the library's
 * {@link ModelBenchmark}, the same code as `osprey bench`.
 * Usage: ModelThroughput [seconds-per-figure] [device: cpu|cuda|cuda:N] [extra training batch sizes...]
 */
public final class ModelThroughput {
    private ModelThroughput() {
    }

    public static void main(String[] args) {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 5;
        Device device = args.length > 1 ? Device.parse(args[1]) : Device.cpu();
        LabeledData data = Datasets.fashionMnistSample();
        NDArray x = concat(data.trainX(), data.testX());
        NDArray y = concat(data.trainY(), data.testY());
        try (Sequential model = Models.compiledTutorialCnn(device)) {
            StringBuilder json = new StringBuilder(String.format(Locale.ROOT,
                    "{\"framework\": \"osprey\", \"backend\": \"%s\"", model.backendDescription()));
            for (int batch : batchSizes(args)) {
                json.append(String.format(Locale.ROOT, ", \"train_b%d_img_s\": %.1f", batch,
                        ModelBenchmark.trainImagesPerSecond(model, x, y, batch, seconds)));
            }
            json.append(String.format(Locale.ROOT, ", \"infer_b256_img_s\": %.1f",
                    ModelBenchmark.inferenceImagesPerSecond(model, x, 256, seconds)));
            double[] latency = ModelBenchmark.batchOneLatencyMillis(model, x, seconds);
            json.append(String.format(Locale.ROOT, ", \"latency_b1_median_ms\": %.4f, \"latency_b1_p99_ms\": %.4f}",
                    latency[0], latency[1]));
            System.out.println(json);
        }
    }

    private static int[] batchSizes(String[] args) {
        int[] extra = Arrays.stream(args).skip(2).mapToInt(Integer::parseInt).toArray();
        int[] all = Arrays.copyOf(new int[] {32, 256}, 2 + extra.length);
        System.arraycopy(extra, 0, all, 2, extra.length);
        return all;
    }

    private static NDArray concat(NDArray a, NDArray b) {
        float[] d = Arrays.copyOf(a.data(), a.data().length + b.data().length);
        System.arraycopy(b.data(), 0, d, a.data().length, b.data().length);
        int[] shape = a.shape();
        shape[0] = a.rows() + b.rows();
        return new NDArray(d, shape);
    }
}
