package dev.osprey.bench;

import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * Osprey's side of benchmarks/run-threads.sh: the tutorial CNN predicting from one thread and from 8, and batch-1
 * latency before and after a second thread has predicted with a model of its own (the OpenMP effect the hardening
 * issue measured: 0.087 ms became 0.575 ms). Prints "RESULT threads FIGURE VALUE" lines.
 *
 * <p>Usage: ThreadsBenchmark SECONDS (per latency figure; the throughput rounds take 4x that in all)
 */
public final class ThreadsBenchmark {
    private static final int BATCH = 32;

    private ThreadsBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        double seconds = Double.parseDouble(args[0]);
        Random r = new Random(7);
        float[] x = new float[BATCH * 784];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat();
        }
        NDArray batch = new NDArray(x, BATCH, 28, 28, 1);
        NDArray one = batch.slice(0, 1);
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            model.predict(batch, BATCH);
            System.out.println("INFO deviceThread=" + System.getProperty("osprey.cpu.deviceThread", "true"));

            double alone = latencyMs(model, one, seconds);
            List<dev.osprey.Model> copies = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                copies.add(model.copy(Device.cpu()));
            }
            // Interleaved rounds: this machine's speed swings between minutes, so each round's ratio compares
            // windows seconds apart, and the medians are reported.
            int rounds = 5;
            double[] single = new double[rounds], shared = new double[rounds], own = new double[rounds];
            double[] sharedRatio = new double[rounds], ownRatio = new double[rounds];
            for (int round = 0; round < rounds; round++) {
                single[round] = throughput(List.of(model), 1, batch, seconds / rounds);
                shared[round] = throughput(List.of(model), 8, batch, seconds / rounds);
                own[round] = throughput(copies, 8, batch, seconds / rounds);
                double after = throughput(List.of(model), 1, batch, seconds / rounds);
                sharedRatio[round] = shared[round] / ((single[round] + after) / 2);
                ownRatio[round] = own[round] / ((single[round] + after) / 2);
            }
            copies.forEach(dev.osprey.Model::close);

            // A second thread predicts once with a model of its own, then stays alive, idle.
            CountDownLatch predicted = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Thread other = new Thread(() -> {
                try (dev.osprey.Model ownModel = model.copy(Device.cpu())) {
                    ownModel.predict(batch, BATCH);
                    predicted.countDown();
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            other.start();
            predicted.await();
            double withOther = latencyMs(model, one, seconds);
            release.countDown();
            other.join();

            print("predict_b32_1_thread_img_s", median(single));
            print("predict_b32_8_threads_shared_model_img_s", median(shared));
            print("predict_b32_8_threads_own_copies_img_s", median(own));
            print("ratio_8_threads_shared_vs_1", median(sharedRatio));
            print("ratio_8_threads_copies_vs_1", median(ownRatio));
            print("latency_b1_p50_ms_alone", alone);
            print("latency_b1_p50_ms_after_another_thread_predicted", withOther);
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static void print(String figure, double value) {
        System.out.println(String.format(Locale.ROOT, "RESULT threads %s %.4f", figure, value));
    }

    /** Images per second with {@code threads} threads, thread i predicting on models[i % models.size()]. */
    private static double throughput(List<? extends dev.osprey.Model> models, int threads, NDArray batch, double seconds)
            throws InterruptedException {
        LongAdder images = new LongAdder();
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch ready = new CountDownLatch(threads);
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            dev.osprey.Model m = models.get(t % models.size());
            Thread w = new Thread(() -> {
                m.predict(batch, BATCH); // warm this thread's path
                ready.countDown();
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                while (!stop.get()) {
                    m.predict(batch, BATCH);
                    images.add(BATCH);
                }
            });
            w.start();
            workers.add(w);
        }
        ready.await();
        long start = System.nanoTime();
        go.countDown();
        Thread.sleep((long) (seconds * 1000)); // the measuring window, not an ordering of events
        stop.set(true);
        for (Thread w : workers) {
            w.join();
        }
        return images.sum() / ((System.nanoTime() - start) / 1e9);
    }

    private static double latencyMs(dev.osprey.Model model, NDArray one, double seconds) {
        List<Long> samples = new ArrayList<>();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            model.predict(one, 1);
            samples.add(System.nanoTime() - t0);
        }
        long[] s = samples.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(s);
        return s[s.length / 2] / 1e6;
    }
}
