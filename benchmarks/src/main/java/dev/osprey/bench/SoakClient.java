package dev.osprey.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The load side of benchmarks/run-soak.sh, against an `osprey serve` of the tutorial model: good requests (JSON,
 * float32 and PNG) at a fixed rate, hostile ones beside them (nested JSON, NaNs, a PNG declaring 30000x30000 pixels,
 * bodies over the limit, garbage, wrong types), and slowloris connections trickling a byte a second each. Samples
 * the server's resident memory every 10 s. Prints "RESULT soak FIGURE VALUE" lines and the RSS series.
 *
 * <p>Usage: SoakClient PORT SERVER_PID SECONDS GOOD_PER_SECOND HOSTILE_PER_SECOND SLOW_CONNECTIONS
 */
public final class SoakClient {
    private SoakClient() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        long pid = Long.parseLong(args[1]);
        int seconds = Integer.parseInt(args[2]);
        int goodRate = Integer.parseInt(args[3]);
        int hostileRate = Integer.parseInt(args[4]);
        int slowCount = Integer.parseInt(args[5]);
        URI predict = URI.create("http://127.0.0.1:" + port + "/v1/predict");
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
                .executor(Executors.newFixedThreadPool(4)).build();

        List<HttpRequest> good = goodRequests(predict);
        List<HttpRequest> hostile = hostileRequests(predict);
        LongAdder goodSent = new LongAdder(), goodOk = new LongAdder(), goodOther = new LongAdder();
        LongAdder goodFailed = new LongAdder(), goodRefused = new LongAdder(), hostileSent = new LongAdder(), hostile4xx = new LongAdder();
        LongAdder hostileOther = new LongAdder(), hostileFailed = new LongAdder();
        Map<Integer, LongAdder> hostileStatus = new ConcurrentHashMap<>();
        ConcurrentLinkedQueue<Long> latencies = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        Semaphore inFlight = new Semaphore(256); // bounded: a stalled server shows as failures, not as a client OOM
        Random random = new Random(11);

        List<Socket> slow = new ArrayList<>();
        AtomicLong slowReopened = new AtomicLong();
        for (int i = 0; i < slowCount; i++) {
            slow.add(openSlow(port));
        }
        ScheduledExecutorService timers = Executors.newScheduledThreadPool(3);
        timers.scheduleAtFixedRate(() -> {
            for (int i = 0; i < slow.size(); i++) {
                try {
                    slow.get(i).getOutputStream().write('a');
                    slow.get(i).getOutputStream().flush();
                } catch (IOException e) {
                    try {
                        slow.get(i).close();
                        slow.set(i, openSlow(port)); // the server closed it (header limit or timeout): come back
                        slowReopened.incrementAndGet();
                    } catch (IOException ignored) {
                        // retried next second
                    }
                }
            }
        }, 1, 1, TimeUnit.SECONDS);
        List<String> rss = new ArrayList<>();
        long start = System.nanoTime();
        timers.scheduleAtFixedRate(() -> rss.add(String.format(Locale.ROOT, "%d %d",
                (System.nanoTime() - start) / 1_000_000_000L, rssKb(pid))), 0, 10, TimeUnit.SECONDS);

        long end = start + seconds * 1_000_000_000L;
        long goodGap = 1_000_000_000L / goodRate;
        long next = start;
        int hostileEvery = Math.max(1, goodRate / Math.max(1, hostileRate));
        long tick = 0;
        while (System.nanoTime() < end) {
            long now = System.nanoTime();
            if (now < next) {
                TimeUnit.NANOSECONDS.sleep(Math.min(next - now, 5_000_000)); // pacing the sender at a fixed rate
                continue;
            }
            next += goodGap;
            tick++;
            inFlight.acquire();
            HttpRequest r = good.get(random.nextInt(good.size()));
            long t0 = System.nanoTime();
            goodSent.increment();
            client.sendAsync(r, HttpResponse.BodyHandlers.ofString()).whenComplete((resp, err) -> {
                inFlight.release();
                if (err != null && refused(err)) {
                    goodRefused.increment(); // no connection: the server had stopped accepting (not accepted)
                } else if (err != null) {
                    goodFailed.increment();
                    failures.add("good: " + err);
                } else if (resp.statusCode() == 200) {
                    goodOk.increment();
                    latencies.add(System.nanoTime() - t0);
                } else {
                    goodOther.increment();
                    failures.add("good: " + resp.statusCode() + " " + resp.body());
                }
            });
            if (tick % hostileEvery == 0) {
                inFlight.acquire();
                HttpRequest h = hostile.get(random.nextInt(hostile.size()));
                hostileSent.increment();
                client.sendAsync(h, HttpResponse.BodyHandlers.ofString()).whenComplete((resp, err) -> {
                    inFlight.release();
                    if (err != null) {
                        hostileFailed.increment();
                        failures.add("hostile " + h.uri() + " " + h.headers().firstValue("Content-Type").orElse("")
                                + ": " + err);
                    } else {
                        hostileStatus.computeIfAbsent(resp.statusCode(), s -> new LongAdder()).increment();
                        if (resp.statusCode() >= 400 && resp.statusCode() < 500) {
                            hostile4xx.increment();
                        } else {
                            hostileOther.increment();
                            failures.add("hostile: " + resp.statusCode() + " " + resp.body());
                        }
                    }
                });
            }
        }
        if (!inFlight.tryAcquire(256, 60, TimeUnit.SECONDS)) {
            failures.add((256 - inFlight.availablePermits()) + " requests still unanswered 60 s after the end");
        }
        timers.shutdownNow();
        rss.add(String.format(Locale.ROOT, "%d %d", (System.nanoTime() - start) / 1_000_000_000L, rssKb(pid)));
        for (Socket s : slow) {
            s.close();
        }
        long[] l = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
        print("seconds", seconds);
        print("good_sent", goodSent.sum());
        print("good_200", goodOk.sum());
        print("good_other_status", goodOther.sum());
        print("good_failed_or_unanswered", goodFailed.sum());
        print("good_connection_refused", goodRefused.sum());
        print("good_latency_p50_ms", l.length == 0 ? -1 : l[l.length / 2] / 1e6);
        print("good_latency_p99_ms", l.length == 0 ? -1 : l[(int) (l.length * 0.99)] / 1e6);
        print("good_latency_max_ms", l.length == 0 ? -1 : l[l.length - 1] / 1e6);
        print("hostile_sent", hostileSent.sum());
        print("hostile_4xx", hostile4xx.sum());
        print("hostile_other_status", hostileOther.sum());
        print("hostile_failed_or_unanswered", hostileFailed.sum());
        print("slowloris_connections", slowCount);
        print("slowloris_reopened", slowReopened.get());
        hostileStatus.forEach((status, n) -> print("hostile_status_" + status, n.sum()));
        rss.forEach(line -> System.out.println("RSS " + line));
        failures.stream().limit(20).forEach(f -> System.out.println("FAILURE " + f));
        System.exit(0);
    }

    private static boolean refused(Throwable err) {
        for (Throwable t = err; t != null; t = t.getCause()) {
            if (t instanceof java.net.ConnectException) {
                return true;
            }
        }
        return false;
    }

    private static Socket openSlow(int port) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
        OutputStream out = s.getOutputStream();
        out.write("POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
        out.flush();
        return s;
    }

    private static long rssKb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    private static void print(String figure, double value) {
        System.out.println(String.format(Locale.ROOT, "RESULT soak %s %s", figure,
                value == Math.rint(value) ? String.valueOf((long) value) : String.format(Locale.ROOT, "%.3f", value)));
    }

    private static List<HttpRequest> goodRequests(URI predict) throws IOException {
        Random r = new Random(5);
        float[] sample = new float[784];
        for (int i = 0; i < sample.length; i++) {
            sample[i] = r.nextFloat();
        }
        StringBuilder json = new StringBuilder("{\"instances\":[[");
        for (int i = 0; i < sample.length; i++) {
            json.append(i == 0 ? "" : ",").append(sample[i]);
        }
        json.append("]]}");
        ByteBuffer floats = ByteBuffer.allocate(784 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : sample) {
            floats.putFloat(v);
        }
        return List.of(
                post(predict, "application/json", json.toString().getBytes(StandardCharsets.UTF_8)),
                post(predict, "application/octet-stream", floats.array()),
                post(predict, "image/png", png(28, 28)));
    }

    private static List<HttpRequest> hostileRequests(URI predict) throws IOException {
        ByteBuffer nan = ByteBuffer.allocate(784 * 4).order(ByteOrder.LITTLE_ENDIAN);
        nan.putFloat(40, Float.NaN);
        ByteBuffer hugePng = ByteBuffer.allocate(33);
        hugePng.put(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10}).putInt(13).put("IHDR".getBytes())
                .putInt(30_000).putInt(30_000).put(new byte[] {8, 0, 0, 0, 0});
        byte[] garbage = new byte[4096];
        new Random(3).nextBytes(garbage);
        return List.of(
                post(predict, "application/json", ("{\"instances\":" + "[".repeat(100_000)).getBytes()),
                post(predict, "application/json", "{\"instances\": [[1, 2, 3]]}".getBytes()),
                post(predict, "application/json", "{\"instances\": [[1, 2,".getBytes()),
                post(predict, "application/octet-stream", nan.array()),
                post(predict, "image/png", hugePng.array()),
                post(predict, "image/png", garbage),
                post(predict, "application/octet-stream", new byte[6 << 20]), // over the 4 MiB default limit
                post(predict, "text/plain", "hello".getBytes()),
                HttpRequest.newBuilder(URI.create(predict + "?top_k=-1")).timeout(Duration.ofSeconds(30))
                        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}")).build());
    }

    private static HttpRequest post(URI uri, String type, byte[] body) {
        return HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).header("Content-Type", type)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
    }

    private static byte[] png(int h, int w) throws IOException {
        java.awt.image.BufferedImage image = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.getRaster().setSample(x, y, 0, (x * 7 + y * 3) & 0xff);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        javax.imageio.ImageIO.write(image, "png", out);
        return out.toByteArray();
    }
}
