package dev.osprey.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.io.Json;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP server on loopback: formats, errors, overload and shutdown. Every request loop is bounded. */
class InferenceServerTest {
    @TempDir
    static Path dir;
    static Path modelFile;
    static NDArray images;
    static final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void saveAModel() throws Exception {
        images = Datasets.fashionMnistSample().testX().slice(0, 64);
        modelFile = dir.resolve("m.osprey");
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            model.classNames(Datasets.FASHION_MNIST_CLASSES);
            model.save(modelFile);
        }
    }

    static InferenceServer start(Predictor p, long maxBody) throws Exception {
        return new InferenceServer(p, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), maxBody, 4);
    }

    static HttpResponse<String> post(InferenceServer s, String type, byte[] body) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/predict"))
                .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (type != null) {
            r.header("Content-Type", type);
        }
        return client.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    static float[] sample(int i) {
        return Arrays.copyOfRange(images.data(), i * 784, (i + 1) * 784);
    }

    @SuppressWarnings("unchecked")
    static float[] probabilities(String json, int index) {
        Map<String, Object> doc = (Map<String, Object>) Json.parse(json);
        Map<String, Object> p = (Map<String, Object>) ((List<Object>) doc.get("predictions")).get(index);
        List<Object> values = (List<Object>) p.get("probabilities");
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) values.get(i)).floatValue();
        }
        return out;
    }

    static String jsonOf(float[]... samples) {
        List<Object> instances = new ArrayList<>();
        for (float[] s : samples) {
            List<Object> values = new ArrayList<>();
            for (float v : s) {
                values.add((double) v);
            }
            instances.add(values);
        }
        return Json.write(Map.of("instances", instances));
    }

    @Test
    void jsonFloat32AndImageRequestsGiveThePredictorsAnswers() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build(); InferenceServer s = start(p, 1 << 20)) {
            float[] expected0 = p.predict(sample(0));
            float[] expected1 = p.predict(sample(1));
            HttpResponse<String> json = post(s, "application/json", jsonOf(sample(0), sample(1)).getBytes());
            assertEquals(200, json.statusCode(), json.body());
            assertArrayEquals(expected0, probabilities(json.body(), 0), 0f);
            assertArrayEquals(expected1, probabilities(json.body(), 1), 0f);
            assertTrue(json.body().contains("\"label\":"), json.body());
            List<Object> values = new ArrayList<>();
            for (float v : sample(1)) {
                values.add((double) v);
            }
            HttpResponse<String> byName = post(s, "application/json", Json.write(Map.of("instances",
                    List.of(Map.of(p.inputNames().get(0), values)))).getBytes());
            assertEquals(200, byName.statusCode(), byName.body());
            assertArrayEquals(expected1, probabilities(byName.body(), 0), 0f, "a sample of the one input by its name");

            ByteBuffer raw = ByteBuffer.allocate(784 * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : sample(0)) {
                raw.putFloat(v);
            }
            HttpResponse<String> bytes = post(s, "application/octet-stream", raw.array());
            assertEquals(200, bytes.statusCode(), bytes.body());
            assertArrayEquals(expected0, probabilities(bytes.body(), 0), 0f);

            // A PNG of the same pixels: decoding and scaling by 1/255 reproduces the IDX values exactly.
            BufferedImage png = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            for (int y = 0; y < 28; y++) {
                for (int x = 0; x < 28; x++) {
                    png.getRaster().setSample(x, y, 0, Math.round(sample(0)[y * 28 + x] * 255));
                }
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(png, "png", out);
            HttpResponse<String> image = post(s, "image/png", out.toByteArray());
            assertEquals(200, image.statusCode(), image.body());
            assertArrayEquals(expected0, probabilities(image.body(), 0), 0f);

            HttpResponse<String> health = client.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + s.port() + "/health")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, health.statusCode());
            assertTrue(health.body().contains("\"status\":\"ok\""), health.body());
        }
    }

    @Test
    void badRequestsGetFourHundredsWithAMessage() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build(); InferenceServer s = start(p, 64 * 1024)) {
            HttpResponse<String> wrongSize = post(s, "application/json", "{\"instances\": [[1, 2, 3]]}".getBytes());
            assertEquals(400, wrongSize.statusCode());
            assertTrue(wrongSize.body().contains("sample 0: expected 784 numbers (shape (28, 28, 1)), received 3"),
                    wrongSize.body());
            HttpResponse<String> text = post(s, "application/json", "{\"instances\": [[\"a\", \"b\"]]}".getBytes());
            assertEquals(400, text.statusCode());
            assertTrue(text.body().contains("expected numbers, received 'a'"), text.body());
            HttpResponse<String> malformed = post(s, "application/json", "{\"instances\": [[1, 2".getBytes());
            assertEquals(400, malformed.statusCode());
            assertTrue(malformed.body().contains("malformed JSON"), malformed.body());
            assertTrue(!malformed.body().contains("Source:") && !malformed.body().contains("StreamReadFeature"),
                    "no parser internals: " + malformed.body());
            HttpResponse<String> empty = post(s, "application/json", new byte[0]);
            assertEquals(400, empty.statusCode());
            assertTrue(empty.body().contains("received an empty one"), empty.body());
            HttpResponse<String> truncated = post(s, "image/png", Arrays.copyOf(pngBytes(), 40));
            assertEquals(400, truncated.statusCode(), truncated.body());
            HttpResponse<String> odd = post(s, "application/octet-stream", new byte[1000]);
            assertEquals(400, odd.statusCode());
            HttpResponse<String> big = post(s, "application/json", new byte[200 * 1024]);
            assertEquals(413, big.statusCode(), big.body());
            HttpResponse<String> type = post(s, "text/plain", "hello".getBytes());
            assertEquals(415, type.statusCode(), "Unsupported Media Type");
            assertTrue(type.body().contains("expected Content-Type application/json"), type.body());
            HttpResponse<String> headers = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
                    + "/health")).header("X-Big", "x".repeat(10_000)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(431, headers.statusCode());
            assertEquals("{\"error\":\"Request Header Fields Too Large\"}", headers.body(),
                    "Jetty's own errors in the shape of ours");
            HttpResponse<String> get = client.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + s.port() + "/v1/predict")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, get.statusCode());
            // None of that disturbed normal service.
            HttpResponse<String> ok = post(s, "application/json", jsonOf(sample(3)).getBytes());
            assertEquals(200, ok.statusCode(), ok.body());
        }
    }

    static byte[] pngBytes() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY), "png", out);
        return out.toByteArray();
    }

    @Test
    void overloadIsRefusedWith503AndServiceRecovers() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).maxBatchSize(4).queueCapacity(4).maxDelay(Duration.ZERO).build();
             InferenceServer s = start(p, 1 << 20)) {
            byte[] body = jsonOf(sample(0), sample(1), sample(2)).getBytes();
            List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                inFlight.add(client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
                        + "/v1/predict")).header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            int ok = 0, busy = 0;
            for (CompletableFuture<HttpResponse<String>> f : inFlight) {
                HttpResponse<String> r = f.get(60, TimeUnit.SECONDS);
                assertTrue(r.statusCode() == 200 || r.statusCode() == 503, r.statusCode() + " " + r.body());
                if (r.statusCode() == 200) {
                    ok++;
                } else {
                    busy++;
                    assertTrue(r.body().contains("busy"), r.body());
                }
            }
            assertTrue(busy > 0, "300 requests at once should overflow a queue of 4 samples");
            assertTrue(ok > 0);
            assertTrue(p.maxQueueDepth() <= 4, "queue depth " + p.maxQueueDepth());
            assertEquals(200, post(s, "application/json", jsonOf(sample(5)).getBytes()).statusCode());
        }
    }

    /** Sends the start of a request on a raw socket; the rest is written by {@link #finish}. */
    static java.net.Socket startRequest(InferenceServer s, String type, byte[] body, int sendFirst) throws Exception {
        java.net.Socket socket = new java.net.Socket(InetAddress.getLoopbackAddress(), s.port());
        socket.setSoTimeout(30_000);
        var out = socket.getOutputStream();
        out.write(("POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + type + "\r\nContent-Length: "
                + body.length + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.write(body, 0, sendFirst);
        out.flush();
        return socket;
    }

    /** Writes the rest of the body and returns the response's status line. */
    static String finish(java.net.Socket socket, byte[] body, int sent) throws Exception {
        try (socket) {
            socket.getOutputStream().write(body, sent, body.length - sent);
            socket.getOutputStream().flush();
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
                    java.nio.charset.StandardCharsets.US_ASCII));
            return in.readLine();
        }
    }

    /** Waits for a condition the server reports (not for time to pass), failing after 30 s. */
    static void awaitCondition(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(1); // polling a reported state; the order of events comes from the state itself
        }
    }

    /**
     * Findings 2 and 7 of the hardening issue: close() under load dropped accepted requests, and this test used to
     * order its events with a 200 ms sleep. Now the requests are provably inside the server (half their bodies
     * sent, admitted past the shutdown check) when close() begins, and they finish their bodies only once it has: every one is
     * answered 200, and close() returns only after that.
     */
    @Test
    void shutdownFinishesAcceptedRequests() throws Exception {
        Predictor p = Predictor.builder(modelFile).build();
        InferenceServer s = start(p, 1 << 20);
        List<java.net.Socket> sockets = new ArrayList<>();
        List<byte[]> bodies = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            byte[] body = jsonOf(sample(i)).getBytes();
            bodies.add(body);
            sockets.add(startRequest(s, "application/json", body, body.length / 2));
        }
        // Jetty counts a request in flight a moment before our handler admits it; close() may refuse one that is
        // counted but not admitted (503, as it must), so wait until all 20 are admitted (CI caught that race).
        awaitCondition(() -> s.admittedPredictions() == 20 && s.requestsInFlight() == 20,
                "the server has admitted all 20 requests");
        CompletableFuture<Void> closing = CompletableFuture.runAsync(s::close);
        awaitCondition(s::isStopping, "close() has begun");
        assertTrue(!closing.isDone(), "close() must wait for the requests in flight");
        // a request arriving now is refused in our JSON shape (Jetty's HTML page before), asked to come back, with the
        // same words whether Jetty's graceful stop or our handler (close() has begun) refuses it: CI caught the two
        // answering differently
        String lateAnswer;
        try (java.net.Socket late = new java.net.Socket(InetAddress.getLoopbackAddress(), s.port())) {
            late.setSoTimeout(30_000);
            late.getOutputStream().write(("POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + bodies.get(0).length + "\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            late.getOutputStream().write(bodies.get(0));
            late.getOutputStream().flush();
            lateAnswer = new String(late.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        assertTrue(lateAnswer.startsWith("HTTP/1.1 503"), lateAnswer);
        assertTrue(lateAnswer.contains("Retry-After: 1") && lateAnswer.contains("X-Request-Id: "), lateAnswer);
        assertTrue(lateAnswer.endsWith("{\"error\":\"the server is stopping: retry elsewhere or later\"}"), lateAnswer);
        for (int i = 0; i < 20; i++) {
            assertEquals("HTTP/1.1 200 OK", finish(sockets.get(i), bodies.get(i), bodies.get(i).length / 2), "request " + i);
        }
        closing.get(30, TimeUnit.SECONDS);
        assertEquals(0, s.requestsInFlight());
    }

    /**
     * A client still sending an admitted request's body when close() begins is answered, however slowly it sends
     * (within the idle and drain timeouts). Jetty cut such connections after 1 s of silence once a graceful stop had
     * begun: the test command caught requests of the test above answered 500 under load. The pause here is the slow
     * client under test, not a way of ordering events: those are ordered by the states the server reports.
     */
    @Test
    void aClientPausingMidBodyDuringTheDrainIsStillAnswered() throws Exception {
        Predictor p = Predictor.builder(modelFile).build();
        InferenceServer s = start(p, 1 << 20);
        byte[] body = jsonOf(sample(0)).getBytes();
        java.net.Socket socket = startRequest(s, "application/json", body, body.length / 2);
        awaitCondition(() -> s.admittedPredictions() == 1 && s.requestsInFlight() == 1, "the request is admitted");
        CompletableFuture<Void> closing = CompletableFuture.runAsync(s::close);
        awaitCondition(s::isStopping, "close() has begun");
        Thread.sleep(1_500); // the client is silent for longer than Jetty's 1 s shutdown idle timeout
        assertEquals("HTTP/1.1 200 OK", finish(socket, body, body.length / 2));
        closing.get(30, TimeUnit.SECONDS);
    }

    /**
     * Finding 2 of the hardening issue: 200 connections trickling their headers held every HTTP thread of the JDK
     * server, and normal clients starved. Slow clients now cost a socket each, not a thread.
     */
    @Test
    void slowClientsDoNotStarveOthers() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build(); InferenceServer s = start(p, 1 << 20)) {
            List<java.net.Socket> slow = new ArrayList<>();
            try {
                for (int i = 0; i < 200; i++) {
                    java.net.Socket socket = new java.net.Socket(InetAddress.getLoopbackAddress(), s.port());
                    socket.getOutputStream().write("POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Le".getBytes());
                    socket.getOutputStream().flush();
                    slow.add(socket);
                }
                for (int i = 0; i < 5; i++) {
                    HttpResponse<String> r = post(s, "application/json", jsonOf(sample(i)).getBytes());
                    assertEquals(200, r.statusCode(), r.body());
                }
            } finally {
                for (java.net.Socket socket : slow) {
                    socket.close();
                }
            }
        }
    }

    /** Finding 2 of the hardening issue: a 100 MB body got a connection reset instead of a readable 413. */
    @Test
    void anOversizedBodyGetsAReadable413() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build(); InferenceServer s = start(p, 1 << 20)) {
            HttpResponse<String> r = post(s, "application/octet-stream", new byte[100 << 20]);
            assertEquals(413, r.statusCode(), r.body());
            assertTrue(r.body().contains("larger than the limit of 1048576 bytes"), r.body());
            assertEquals(200, post(s, "application/json", jsonOf(sample(0)).getBytes()).statusCode());
        }
    }

    /**
     * Findings 3 and 5 of the hardening issue: a deeply nested JSON body killed the handler thread and the client
     * never heard back; raw float32 NaNs got 200 with meaningless probabilities.
     */
    @Test
    void nestedJsonAndNonFiniteInputsGet400UnlessAllowed() throws Exception {
        byte[] nan = new byte[784 * 4];
        ByteBuffer.wrap(nan).order(ByteOrder.LITTLE_ENDIAN).putFloat(4 * 3, Float.NaN);
        try (Predictor p = Predictor.builder(modelFile).build(); InferenceServer s = start(p, 1 << 20)) {
            HttpResponse<String> r = post(s, "application/json", ("{\"instances\":" + "[".repeat(100_000)).getBytes());
            assertEquals(400, r.statusCode(), r.body());
            assertTrue(r.body().contains("osprey.limits.maxJsonDepth"), r.body());
            r = post(s, "application/octet-stream", nan);
            assertEquals(400, r.statusCode(), r.body());
            assertTrue(r.body().contains("expected finite numbers, received NaN at index 3"), r.body());
            assertTrue(r.body().contains("--allow-non-finite"), r.body());
        }
        try (Predictor p = Predictor.builder(modelFile).acceptNonFiniteInputs(true).build();
             InferenceServer s = start(p, 1 << 20)) {
            assertEquals(200, post(s, "application/octet-stream", nan).statusCode());
        }
    }

    /** A request of more samples than the queue can ever hold is a 413 naming the capacity, not an endless 503. */
    @Test
    void aRequestLargerThanTheQueueGetsA413() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).queueCapacity(4).build(); InferenceServer s = start(p, 1 << 20)) {
            HttpResponse<String> r = post(s, "application/json", jsonOf(sample(0), sample(1), sample(2), sample(3),
                    sample(4)).getBytes());
            assertEquals(413, r.statusCode(), r.body());
            assertTrue(r.body().contains("holds 5 samples; this server queues at most 4"), r.body());
        }
    }

    /** Answers Jetty gives itself (here 431 for headers over 8 KiB) are JSON too, not an HTML page. */
    @Test
    void headersOverTheLimitGetAJson431() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build(); InferenceServer s = start(p, 1 << 20)) {
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
                    + "/v1/predict")).header("Content-Type", "application/json").header("X-Big", "a".repeat(10_000))
                    .POST(HttpRequest.BodyPublishers.ofString(jsonOf(sample(0)))).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(431, r.statusCode(), r.body());
            assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.headers().map().toString());
            assertEquals(200, post(s, "application/json", jsonOf(sample(0)).getBytes()).statusCode());
        }
    }

    /** /metrics speaks Prometheus' text format: request counts and latency by status, queue depth, batch sizes. */
    @Test
    void metricsAndRequestIdsAreExposed() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build(); InferenceServer s = start(p, 1 << 20)) {
            HttpResponse<String> ok = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
                    + "/v1/predict")).header("Content-Type", "application/json").header("X-Request-Id", "abc-123")
                    .POST(HttpRequest.BodyPublishers.ofString(jsonOf(sample(0), sample(1)))).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, ok.statusCode());
            assertEquals("abc-123", ok.headers().firstValue("X-Request-Id").orElse(null));
            HttpResponse<String> bad = post(s, "application/json", "{".getBytes());
            assertEquals(400, bad.statusCode());
            assertTrue(bad.headers().firstValue("X-Request-Id").isPresent());
            HttpResponse<String> metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
                    + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, metrics.statusCode());
            String text = metrics.body();
            // by route: /health probes do not land in the predictions' latency
            assertTrue(text.contains("osprey_requests_seconds_count{route=\"predict\",status=\"200\"} 1"), text);
            assertTrue(text.contains("osprey_requests_seconds_count{route=\"predict\",status=\"400\"} 1"), text);
            assertTrue(text.contains("osprey_requests_seconds_bucket{route=\"predict\",status=\"200\",le="), text);
            assertTrue(text.contains("osprey_queue_depth"), text);
            assertTrue(text.contains("osprey_batch_size_count"), text);
        }
    }
}
