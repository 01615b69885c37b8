package dev.osprey.benchmark;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.NDArray;
import dev.osprey.Model;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Device;
import dev.osprey.backend.Tensor;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.Training;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Whole-model figures on one device: training images/s at three batch sizes (fit over shuffled batches), inference
 * images/s at one, batch-1 latency (median, p99), and each as a share of the device's measured peak FLOP rate. The
 * batch sizes follow the image size ({@link Batches#forInput}): 32, 256 and 1024, and 256 for inference, up to 64x64
 * pixels; 8, 16 and 32, and 32, above (a 224x224 model's training plan at batch 1024 would need far more memory than
 * a machine has). Each figure runs for a fixed time after a warm-up. Call from the thread that built the model.
 */
public final class ModelBenchmark {
    /** The batch sizes a benchmark measures: three for training, ascending, and one for inference. */
    public record Batches(List<Integer> training, int inference) {
        /** For images of up to 64x64 pixels (Fashion-MNIST, CIFAR): training 32, 256 and 1024, inference 256. */
        public static final Batches SMALL_IMAGES = new Batches(List.of(32, 256, 1024), 256);
        /** For larger images (ImageNet's 224x224): training 8, 16 and 32, inference 32. */
        public static final Batches LARGE_IMAGES = new Batches(List.of(8, 16, 32), 32);

        public Batches {
            training = List.copyOf(training);
            for (int i = 0; i < training.size(); i++) {
                if (training.get(i) < 1 || (i > 0 && training.get(i) <= training.get(i - 1))) {
                    throw new IllegalArgumentException("expected training batch sizes of at least 1, ascending, "
                            + "received " + training);
                }
            }
            if (training.isEmpty() || inference < 1) {
                throw new IllegalArgumentException("expected one training batch size at least and an inference batch "
                        + "size of at least 1, received " + training + " and " + inference);
            }
        }

        /** The batch sizes for a model of this input shape (height, width, channels). */
        public static Batches forInput(dev.osprey.Shape input) {
            long pixels = input.rank() >= 2 ? (long) input.dim(0) * input.dim(1) : input.size();
            return pixels <= 64 * 64 ? SMALL_IMAGES : LARGE_IMAGES;
        }

        /**
         * These batch sizes without the training sizes whose plans would hold more than budget bytes at bytesPerImage
         * (a transformer's activations take far more memory an image than a CNN's); the smallest is always kept.
         */
        public Batches within(long bytesPerImage, long budget) {
            List<Integer> kept = new java.util.ArrayList<>();
            for (int b : training) {
                if (kept.isEmpty() || (double) b * bytesPerImage <= budget) {
                    kept.add(b);
                }
            }
            return new Batches(kept, inference);
        }

        /** The largest batch measured: data for a benchmark needs at least this many images. */
        public int largest() {
            return Math.max(training.get(training.size() - 1), inference);
        }
    }

    /**
     * One device's figures.
     *
     * @param device               the device, as {@link Device#toString()} names it
     * @param backend              the backend's description
     * @param peakGflops           the measured peak of {@link ModelBenchmark#peakGflops}, GFLOP/s
     * @param batches              the batch sizes measured
     * @param trainImagesPerSecond training images/s at each of the batches' training sizes, in their order
     * @param inferImagesPerSecond inference images/s at the batches' inference size
     * @param latencyP50Ms         median latency of predict on one image, milliseconds
     * @param latencyP99Ms         99th percentile of that latency, milliseconds
     * @param trainShareOfPeak     training at the smallest batch as a share of the peak, counting a step as three
     *                             forward passes
     * @param inferShareOfPeak     inference as a share of the peak
     */
    public record Result(String device, String backend, double peakGflops, Batches batches,
                         List<Double> trainImagesPerSecond, double inferImagesPerSecond, double latencyP50Ms,
                         double latencyP99Ms, double trainShareOfPeak, double inferShareOfPeak) {
        public Result {
            trainImagesPerSecond = List.copyOf(trainImagesPerSecond);
            if (trainImagesPerSecond.size() != batches.training().size()) {
                throw new IllegalArgumentException("expected " + batches.training().size() + " training figures, "
                        + "received " + trainImagesPerSecond.size());
            }
        }

        /** Training images/s at this batch size; throws IllegalArgumentException for a batch size not measured. */
        public double trainImagesPerSecond(int batch) {
            int i = batches.training().indexOf(batch);
            if (i < 0) {
                throw new IllegalArgumentException("expected one of the batch sizes measured, " + batches.training()
                        + ", received " + batch);
            }
            return trainImagesPerSecond.get(i);
        }

        /** Milliseconds per training step at a measured batch size, from its images/s figure. */
        public double msPerStep(int batch) {
            return 1000.0 * batch / trainImagesPerSecond(batch);
        }

        /**
         * Every figure (and the ms per step of each training batch) under snake_case keys naming the batch sizes
         * ("train_b32_img_s", "infer_b256_img_s"), in a fixed order, for JSON reports.
         */
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("device", device);
            m.put("backend", backend);
            m.put("peak_gflops", peakGflops);
            for (int batch : batches.training()) {
                m.put("train_b" + batch + "_img_s", trainImagesPerSecond(batch));
                m.put("train_b" + batch + "_ms_per_step", msPerStep(batch));
            }
            m.put("infer_b" + batches.inference() + "_img_s", inferImagesPerSecond);
            m.put("latency_b1_p50_ms", latencyP50Ms);
            m.put("latency_b1_p99_ms", latencyP99Ms);
            m.put("train_share_of_peak", trainShareOfPeak);
            m.put("infer_share_of_peak", inferShareOfPeak);
            return m;
        }
    }

    private ModelBenchmark() {
    }

    /**
     * Bytes a training plan of this compiled model holds per image of batch: one step at the smallest training batch
     * size, its plans' memory over that size (fixed costs included, so an overestimate). The plans are released after.
     */
    public static long trainingBytesPerImage(Model model, NDArray x, NDArray y, Batches batches) {
        int batch = Math.min(batches.training().get(0), x.rows());
        model.releasePlans();
        model.trainOnBatch(x.slice(0, batch), y.slice(0, batch));
        long bytes = model.planBytes();
        model.releasePlans();
        return (bytes + batch - 1) / batch;
    }

    /** A third of this machine's memory: what a benchmark's training plans may hold. */
    public static long memoryBudget() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory
                .getOperatingSystemMXBean();
        long total = os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getTotalMemorySize() : 0;
        return total > 0 ? total / 3 : 4L << 30;
    }

    /** Measures a compiled model at its input shape's batch sizes, on data of that shape (labels as class numbers). */
    public static Result run(Model model, NDArray x, NDArray y, double seconds) {
        return run(model, x, y, seconds, Batches.forInput(model.inputShape()));
    }

    /** The same at these batch sizes. */
    public static Result run(Model model, NDArray x, NDArray y, double seconds, Batches batches) {
        double peak = peakGflops(model.device(), Math.min(seconds, 2));
        List<Double> train = new java.util.ArrayList<>();
        for (int batch : batches.training()) {
            train.add(trainImagesPerSecond(model, x, y, batch, seconds));
        }
        double infer = inferenceImagesPerSecond(model, x, batches.inference(), seconds);
        double[] latency = batchOneLatencyMillis(model, x, seconds);
        double flops = model.forwardFlopsPerSample();
        // A training step is a forward pass plus backward-data and backward-weights passes of the same size.
        double trainShare = train.get(0) * 3 * flops / (peak * 1e9);
        double inferShare = infer * flops / (peak * 1e9);
        return new Result(model.device().toString(), model.backendDescription(), peak, batches, train, infer,
                latency[0], latency[1], trainShare, inferShare);
    }

    /**
     * The device's FLOP rate on a large fp32 matrix product (2048 x 2048 x 2048 through the backend's dense op),
     * the best of repeated runs: what the hardware gives this library, the yardstick for the model's figures.
     */
    public static double peakGflops(Device device, double seconds) {
        Backend b = device.backend();
        try (Memory memory = b.newMemory()) {
            int n = 2048;
            DenseSpec spec = new DenseSpec(n, n, n, Activation.LINEAR);
            Tensor x = memory.allocate(n, n);
            Tensor k = memory.allocate(n, n);
            Tensor bias = memory.allocate(n);
            Tensor out = memory.allocate(n, n);
            b.fill(x, 0.5f);
            b.fill(k, 0.25f);
            float[] sync = new float[1];
            Tensor probe = b.view(out, 0, 1);
            b.denseForward(spec, x, k, bias, out);
            b.copyOut(probe, sync, 0);
            double best = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9);
            do {
                long t0 = System.nanoTime();
                b.denseForward(spec, x, k, bias, out);
                b.copyOut(probe, sync, 0); // waits for the device
                best = Math.max(best, spec.forwardFlops() / ((System.nanoTime() - t0) / 1e9) / 1e9);
            } while (System.nanoTime() < end);
            return best;
        }
    }

    /**
     * Training images/s over a 9,600-image slice: one fit call of as many epochs as fit in the time, timed from
     * the end of its first epoch, which pays the one-off costs real training pays once per fit (handing the set to
     * the device, planning the batch sizes).
     */
    public static double trainImagesPerSecond(Model model, NDArray x, NDArray y, int batch, double seconds) {
        int n = Math.min(x.rows(), 9600);
        NDArray xs = x.slice(0, n);
        NDArray ys = y.slice(0, n);
        int warm = Math.min(n, batch * 20);
        model.fit(xs.slice(0, warm), ys.slice(0, warm),
                FitOptions.defaults().epochs(1).batchSize(batch).verbose(false));
        long[] start = new long[1];
        long[] end = new long[1];
        long[] images = new long[1];
        Callback timer = new Callback() {
            @Override
            public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
                long now = System.nanoTime(); // the epoch's loss was just read back, so the device is done
                if (epoch > 0) {
                    images[0] += n;
                }
                end[0] = now;
                if (epoch == 0) {
                    start[0] = now;
                } else if (now - start[0] >= seconds * 1e9) {
                    training.stopTraining();
                }
            }
        };
        model.fit(xs, ys, FitOptions.defaults().epochs(Integer.MAX_VALUE).batchSize(batch).verbose(false)
                .callbacks(timer));
        return images[0] / ((end[0] - start[0]) / 1e9);
    }

    /** Predict images/s over all of x at this batch size, after a short warm-up, repeated for about seconds. */
    public static double inferenceImagesPerSecond(Model model, NDArray x, int batch, double seconds) {
        model.predict(x.slice(0, Math.min(x.rows(), batch * 4)), batch);
        long images = 0;
        long start = System.nanoTime();
        while (System.nanoTime() - start < seconds * 1e9) {
            model.predict(x, batch);
            images += x.rows();
        }
        return images / ((System.nanoTime() - start) / 1e9);
    }

    /** Batch-1 calls before the latency is measured, at the least. */
    public static final int WARM_UP_CALLS = 500;

    /**
     * How long batch-1 calls warm up before a latency figure of {@code seconds} is measured: the figure's own length,
     * at most 4 s. Java compiles the predict path over the first few thousand calls, on compiler threads that share
     * the cores with the computation: on 2 cores ResNet-20's p99 was 4-13x its median in each of the first 4 seconds
     * (about 10,000 calls) and 1.3-1.7x after (2026-12-04).
     */
    public static long warmUpNanos(double seconds) {
        return (long) (Math.min(4.0, seconds) * 1e9);
    }

    /** {median, p99} in milliseconds of predict on one image, cycling through real images, after a warm-up. */
    public static double[] batchOneLatencyMillis(Model model, NDArray x, double seconds) {
        NDArray[] singles = new NDArray[Math.min(256, x.rows())];
        for (int i = 0; i < singles.length; i++) {
            singles[i] = x.slice(i, i + 1);
        }
        long warmUpEnd = System.nanoTime() + warmUpNanos(seconds);
        for (int i = 0; i < WARM_UP_CALLS || System.nanoTime() < warmUpEnd; i++) {
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
}
