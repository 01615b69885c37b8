package dev.osprey.bench;

import dev.osprey.FitOptions;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.util.Arrays;
import java.util.Locale;

/**
 * Whole-model figures for the tutorial CNN on real Fashion-MNIST images: training images/s at batch 32 and 256
 * (fit over shuffled batches, Adam), inference images/s at batch 256 (predict), and batch-1 latency (median and
 * p99 of single-image predict calls). Prints one JSON object; benchmarks/run-cpu-vs-pytorch.sh runs it beside
 * PyTorch. Usage: ModelThroughput [seconds-per-figure]
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
            json.append(String.format(Locale.ROOT, ", \"train_b32_img_s\": %.1f", trainImagesPerSecond(model, x, y, 32, seconds)));
            json.append(String.format(Locale.ROOT, ", \"train_b256_img_s\": %.1f", trainImagesPerSecond(model, x, y, 256, seconds)));
            for (int i = 2; i < args.length; i++) {
                int batch = Integer.parseInt(args[i]);
                json.append(String.format(Locale.ROOT, ", \"train_b%d_img_s\": %.1f", batch,
                        trainImagesPerSecond(model, x, y, batch, seconds)));
            }
            json.append(String.format(Locale.ROOT, ", \"infer_b256_img_s\": %.1f", inferenceImagesPerSecond(model, x, 256, seconds)));
            double[] latency = batchOneLatencyMillis(model, x, seconds);
            json.append(String.format(Locale.ROOT, ", \"latency_b1_median_ms\": %.4f, \"latency_b1_p99_ms\": %.4f}",
                    latency[0], latency[1]));
            System.out.println(json);
        }
    }

    /** One warm-up pass, then as many fit passes over 9,600-image slices as fit in the time. */
    static double trainImagesPerSecond(Sequential model, NDArray x, NDArray y, int batch, double seconds) {
        NDArray xs = x.slice(0, 9600);
        NDArray ys = y.slice(0, 9600);
        FitOptions options = FitOptions.defaults().epochs(1).batchSize(batch).verbose(false);
        model.fit(xs.slice(0, batch * 20), ys.slice(0, batch * 20), options);
        long images = 0;
        long start = System.nanoTime();
        while (System.nanoTime() - start < seconds * 1e9) {
            model.fit(xs, ys, options);
            images += xs.rows();
        }
        return images / ((System.nanoTime() - start) / 1e9);
    }

    static double inferenceImagesPerSecond(Sequential model, NDArray x, int batch, double seconds) {
        model.predict(x.slice(0, batch * 4), batch);
        long images = 0;
        long start = System.nanoTime();
        while (System.nanoTime() - start < seconds * 1e9) {
            model.predict(x, batch);
            images += x.rows();
        }
        return images / ((System.nanoTime() - start) / 1e9);
    }

    /** {median, p99} in milliseconds of predict on one image, cycling through real images. */
    static double[] batchOneLatencyMillis(Sequential model, NDArray x, double seconds) {
        NDArray[] singles = new NDArray[256];
        for (int i = 0; i < singles.length; i++) {
            singles[i] = x.slice(i, i + 1);
        }
        for (int i = 0; i < 500; i++) {
            model.predict(singles[i % singles.length], 1);
        }
        double[] samples = new double[200_000];
        int n = 0;
        long start = System.nanoTime();
        while (n < samples.length && System.nanoTime() - start < seconds * 1e9) {
            long t0 = System.nanoTime();
            model.predict(singles[n % singles.length], 1);
            samples[n++] = (System.nanoTime() - t0) / 1e6;
        }
        double[] sorted = Arrays.copyOf(samples, n);
        Arrays.sort(sorted);
        return new double[] {sorted[n / 2], sorted[(int) Math.min(n - 1, Math.ceil(n * 0.99) - 1)]};
    }

    private static NDArray concat(NDArray a, NDArray b) {
        float[] d = Arrays.copyOf(a.data(), a.data().length + b.data().length);
        System.arraycopy(b.data(), 0, d, a.data().length, b.data().length);
        int[] shape = a.shape();
        shape[0] = a.rows() + b.rows();
        return new NDArray(d, shape);
    }
}
