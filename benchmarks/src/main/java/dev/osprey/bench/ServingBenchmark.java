package dev.osprey.bench;

import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.serving.Predictor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;

/**
 * In-process serving: C caller threads each send single-image requests in a closed loop for a fixed time, through
 * one Predictor, batched (max batch 64) and unbatched (max batch 1). Prints throughput and p50/p99 latency as JSON
 * lines. Bounded: every run stops after its time. Usage: ServingBenchmark [seconds=5] [callers...=1 8 64]
 */
public final class ServingBenchmark {
    private ServingBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 5;
        int[] callers = args.length > 1 ? Arrays.stream(args).skip(1).mapToInt(Integer::parseInt).toArray()
                : new int[] {1, 8, 64};
        LabeledData d = Datasets.fashionMnistSample();
        // The model's weights don't change the speed, and this thread must not run oneDNN itself: OpenMP work from a
        // second thread in one process runs several times slower (see Sequential's class comment).
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            for (int c : callers) {
                for (int maxBatch : new int[] {64, 1}) {
                    try (Predictor p = Predictor.builder(model).maxBatchSize(maxBatch).queueCapacity(4096).build()) {
                        run(p, d.testX(), c, 1.0); // warm-up
                        double[] r = run(p, d.testX(), c, seconds);
                        System.out.printf(Locale.ROOT, "{\"transport\": \"in-process\", \"callers\": %d, \"max_batch\": %d, "
                                + "\"requests_per_s\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f}%n", c, maxBatch, r[0], r[1], r[2]);
                    }
                }
            }
        }
    }

    /** {requests/s, p50 ms, p99 ms}. */
    static double[] run(Predictor p, NDArray images, int callers, double seconds) throws InterruptedException {
        List<double[]> latencies = new ArrayList<>();
        int[] counts = new int[callers];
        List<Thread> threads = new ArrayList<>();
        CountDownLatch start = new CountDownLatch(1);
        long end = System.nanoTime() + (long) (seconds * 1e9);
        for (int t = 0; t < callers; t++) {
            int id = t;
            double[] mine = new double[(int) Math.min(2_000_000, 400_000 * seconds / Math.max(1, callers) + 1000)];
            latencies.add(mine);
            Thread th = new Thread(() -> {
                float[] sample = new float[784];
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                int i = 0;
                while (System.nanoTime() < end && i < mine.length) {
                    System.arraycopy(images.data(), ((id * 37 + i) % images.rows()) * 784, sample, 0, 784);
                    long t0 = System.nanoTime();
                    p.predict(sample);
                    mine[i++] = (System.nanoTime() - t0) / 1e6;
                }
                counts[id] = i;
            });
            threads.add(th);
            th.start();
        }
        long t0 = System.nanoTime();
        start.countDown();
        for (Thread th : threads) {
            th.join();
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        int total = Arrays.stream(counts).sum();
        double[] all = new double[total];
        int k = 0;
        for (int t = 0; t < callers; t++) {
            System.arraycopy(latencies.get(t), 0, all, k, counts[t]);
            k += counts[t];
        }
        Arrays.sort(all);
        return new double[] {total / elapsed, all[total / 2], all[(int) Math.min(total - 1, Math.ceil(total * 0.99) - 1)]};
    }
}
