package dev.osprey.bench;

import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.serving.InferenceServer;
import dev.osprey.serving.Predictor;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;

/**
 * Serving: C callers each send single-image requests in a closed loop for a fixed time, batched (max batch 64) and
 * unbatched (max batch 1); first in process through a Predictor, then over HTTP on loopback through `osprey
 * serve`'s server (raw float32 bodies). Prints throughput and p50/p99 latency as JSON lines. Bounded: every run
 * stops after its time, and traffic goes to 127.0.0.1 only. Usage: ServingBenchmark [seconds=5] [callers...=1 8 64]
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
            // What a caller writes without a Predictor: one shared model, each caller thread predicting under a lock.
            for (int c : callers) {
                try (Sequential shared = Models.compiledTutorialCnn(Device.cpu())) {
                    Caller locked = sample -> {
                        synchronized (shared) {
                            return shared.predict(new NDArray(sample, 1, 28, 28, 1), 1).data();
                        }
                    };
                    run(locked, d.testX(), c, 1.0);
                    double[] r = run(locked, d.testX(), c, seconds);
                    System.out.printf(Locale.ROOT, "{\"transport\": \"in-process\", \"callers\": %d, \"max_batch\": 0, "
                            + "\"mode\": \"shared model under a lock, no Predictor\", \"requests_per_s\": %.0f, "
                            + "\"p50_ms\": %.3f, \"p99_ms\": %.3f}%n", c, r[0], r[1], r[2]);
                }
            }
            for (String transport : new String[] {"in-process", "http"}) {
                for (int c : callers) {
                    for (int maxBatch : new int[] {64, 1}) {
                        try (Predictor p = Predictor.builder(model).maxBatchSize(maxBatch).queueCapacity(4096).build()) {
                            Caller caller = transport.equals("http") ? HttpCaller.start(p) : p::predict;
                            try {
                                run(caller, d.testX(), c, 1.0); // warm-up
                                double[] r = run(caller, d.testX(), c, seconds);
                                System.out.printf(Locale.ROOT, "{\"transport\": \"%s\", \"callers\": %d, \"max_batch\": %d, "
                                        + "\"requests_per_s\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f}%n", transport, c,
                                        maxBatch, r[0], r[1], r[2]);
                            } finally {
                                if (caller instanceof AutoCloseable closeable) {
                                    closeable.close();
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** One request: a single image in, probabilities out. */
    interface Caller {
        float[] call(float[] sample) throws Exception;
    }

    /** Requests over HTTP to an in-process InferenceServer on 127.0.0.1, as raw float32 bodies. */
    static final class HttpCaller implements Caller, AutoCloseable {
        private final InferenceServer server;
        private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        private final URI uri;

        private HttpCaller(InferenceServer server) {
            this.server = server;
            this.uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/predict?top_k=1");
        }

        static HttpCaller start(Predictor p) throws java.io.IOException {
            return new HttpCaller(new InferenceServer(p, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    1 << 20, 8));
        }

        @Override
        public float[] call(float[] sample) throws Exception {
            ByteBuffer body = ByteBuffer.allocate(sample.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            body.asFloatBuffer().put(sample);
            HttpResponse<byte[]> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/octet-stream")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body.array())).build(), HttpResponse.BodyHandlers.ofByteArray());
            if (r.statusCode() != 200) {
                throw new IllegalStateException("HTTP " + r.statusCode() + ": " + new String(r.body()));
            }
            return null;
        }

        @Override
        public void close() {
            server.close(); // closes the predictor too (the try-with-resources close is then a no-op)
        }
    }

    /** {requests/s, p50 ms, p99 ms}. */
    static double[] run(Caller p, NDArray images, int callers, double seconds) throws InterruptedException {
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
                    try {
                        p.call(sample);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
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
