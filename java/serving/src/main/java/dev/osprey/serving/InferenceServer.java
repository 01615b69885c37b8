package dev.osprey.serving;

import dev.osprey.io.Json;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP inference over a {@link Predictor}, on Jetty's non-blocking server: POST /v1/predict (JSON, float32 bytes or
 * an image file, decoded with the model's own preprocessing; ?top_k=N), GET /health and GET /metrics (Prometheus).
 * A model of several inputs takes JSON samples of its inputs by name ({"instances": [{"image": [...], "meta":
 * [...]}]}); a model of several outputs answers each sample with its outputs' values by name.
 *
 * <p>What a hostile or unlucky client can cost is bounded: connections are parsed by selectors, so a slow client
 * holds a socket, not a thread; idle connections close after {@code idleTimeout}; at most {@code maxConnections}
 * are open and {@code acceptQueue} wait to be accepted; headers are capped at 8 KiB; a body over the limit gets a
 * readable 413 (the rest of it is read and dropped, up to a bound, so closing doesn't reset the answer away);
 * non-finite inputs get 400 unless the predictor accepts them. Every response carries an {@code X-Request-Id} (the client's, if it sent
 * a sane one), which the log lines name. {@link #close()} stops accepting, answers every request already received
 * (new ones on open connections get 503), then stops the predictor.
 */
public final class InferenceServer implements AutoCloseable {
    /**
     * The one answer to a request that arrives while the server stops, whichever part of it refuses the request (Jetty's
     * graceful stop, or the handler once close() has begun): 503 with Retry-After.
     */
    static final String STOPPING = "the server is stopping: retry elsewhere or later";

    private static final Logger LOG = LoggerFactory.getLogger(InferenceServer.class);
    private static final Pattern SANE_ID = Pattern.compile("[A-Za-z0-9._:-]{1,64}");
    private static final long DISCARD_LIMIT = 256L << 20; // dropping bytes costs no memory; resetting loses the 413

    private final Predictor predictor;
    private final RequestDecoder decoder;
    private final long maxBodyBytes;
    private final Server server;
    private final ServerConnector connector;
    private final GracefulHandler graceful;
    private final Duration drainTimeout;
    private final PrometheusMeterRegistry metrics = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    /** Request timers by route (a fixed few, so the series stay bounded) and status. */
    private final Map<String, Timer> timers = new ConcurrentHashMap<>();
    private final Executor responders;
    private final AtomicLong requestCount = new AtomicLong();
    private final AtomicLong admittedPredictions = new AtomicLong();
    private final String idPrefix = Long.toHexString(System.nanoTime() & 0xffffffL);
    private volatile boolean closed;

    /** A server with the defaults for everything but the address, body limit and thread count. */
    public InferenceServer(Predictor predictor, InetSocketAddress address, long maxBodyBytes, int handlerThreads)
            throws IOException {
        this(builder(predictor).address(address).maxBodyBytes(maxBodyBytes).handlerThreads(handlerThreads));
    }

    private InferenceServer(Builder b) throws IOException {
        this.predictor = b.predictor;
        this.decoder = new RequestDecoder(predictor.inputNames(), predictor.inputShapes(), predictor.preprocessing(),
                predictor.acceptsNonFiniteInputs());
        this.maxBodyBytes = b.maxBodyBytes;

        QueuedThreadPool threads = new QueuedThreadPool(b.handlerThreads + 4, 2);
        threads.setName("osprey-http");
        threads.setDaemon(true);
        this.server = new Server(threads);
        this.responders = threads;
        HttpConfiguration http = new HttpConfiguration();
        http.setRequestHeaderSize(8 << 10);
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        this.connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(b.address.getHostString());
        connector.setPort(b.address.getPort());
        connector.setIdleTimeout(b.idleTimeout.toMillis());
        connector.setAcceptQueueSize(b.acceptQueue);
        server.addConnector(connector);
        NetworkConnectionLimit limit = new NetworkConnectionLimit(b.maxConnections, server);
        server.addBean(limit);
        this.graceful = new GracefulHandler(new Routes());
        server.setHandler(graceful);
        server.setStopTimeout(b.drainTimeout.toMillis());
        this.drainTimeout = b.drainTimeout;
        // Jetty's own answers (503 while stopping, 400 for malformed HTTP, 431 for huge headers) in our JSON shape.
        server.setErrorHandler(new JsonErrors(() -> closed, () -> idPrefix + "-" + requestCount.incrementAndGet()));
        server.setStopAtShutdown(false); // close() is the one way down, so the predictor stops after the drain

        Gauge.builder("osprey.queue.depth", predictor, Predictor::queueDepth)
                .description("Samples waiting for the predictor").register(metrics);
        Gauge.builder("osprey.connections", limit, NetworkConnectionLimit::getNetworkConnectionCount)
                .description("Open HTTP connections").register(metrics);
        DistributionSummary batches = DistributionSummary.builder("osprey.batch.size")
                .description("Samples per batch run by the predictor")
                .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256).register(metrics);
        predictor.onBatch(batches::record);
        try {
            server.start();
        } catch (Exception e) {
            stopQuietly();
            // a port another process holds: Jetty says "Failed to bind", and the cause says why
            Throwable cause = e.getCause() instanceof java.net.BindException bind ? bind : e;
            throw new IOException("could not serve on " + b.address.getHostString() + ":" + b.address.getPort() + ": "
                    + e.getMessage()
                    + (cause != e && cause.getMessage() != null ? " (" + cause.getMessage() + ")" : ""), e);
        }
    }

    /**
     * Options for a server over predictor. The server takes the predictor over once built: closing the server closes
     * it.
     */
    public static Builder builder(Predictor predictor) {
        return new Builder(predictor);
    }

    /** The port the server listens on: the one the system chose when the address asked for port 0. */
    public int port() {
        return connector.getLocalPort();
    }

    /** Requests received and not yet answered. */
    public long requestsInFlight() {
        return graceful.getCurrentRequestCount();
    }

    /**
     * Prediction requests that passed the shutdown check, so that close() drains them rather than refusing them. A
     * request Jetty counts in flight may still be short of that check; tests that order events against close() wait
     * for this count.
     */
    long admittedPredictions() {
        return admittedPredictions.get();
    }

    /** True once {@link #close()} has begun: new requests get 503 while those in flight finish. */
    public boolean isStopping() {
        return closed;
    }

    /** Everything the server exposes at /metrics, for callers that embed it. */
    public String scrapeMetrics() {
        return metrics.scrape();
    }

    /**
     * The routes; every request gets an id and is counted and timed under its status. Blocking in Jetty's sense:
     * decoding a body (JSON, an image) is real work, so it runs on a pool thread and never on a selector.
     */
    private final class Routes extends Handler.Abstract {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            long start = System.nanoTime();
            String given = request.getHeaders().get("X-Request-Id");
            String id = given != null && SANE_ID.matcher(given).matches() ? given
                    : idPrefix + "-" + requestCount.incrementAndGet();
            response.getHeaders().put("X-Request-Id", id);
            Exchange exchange = new Exchange(request, response, callback, id, start);
            String path = Request.getPathInContext(request);
            try {
                switch (path) {
                    case "/v1/predict" -> predict(exchange);
                    case "/health" -> exchange.respond(closed ? 503 : 200, health());
                    case "/metrics" -> exchange.respondText(200, "text/plain; version=0.0.4; charset=utf-8",
                            metrics.scrape());
                    default -> exchange.respond(404, error("no such endpoint: use POST /v1/predict, GET /health or "
                            + "GET /metrics"));
                }
            } catch (RuntimeException e) {
                LOG.error("request {}: {}", id, e.toString(), e);
                exchange.respond(500, error("internal error: " + e.getMessage()));
            }
            return true;
        }
    }

    /** One request in flight: answers it once, counts it, times it, logs it. */
    private final class Exchange {
        final Request request;
        final Response response;
        final Callback callback;
        final String id;
        final long start;

        Exchange(Request request, Response response, Callback callback, String id, long start) {
            this.request = request;
            this.response = response;
            this.callback = callback;
            this.id = id;
            this.start = start;
        }

        void respond(int status, Map<String, Object> body) {
            respondText(status, "application/json", Json.write(body));
        }

        void respondText(int status, String contentType, String body) {
            respondBytes(status, contentType, body.getBytes(StandardCharsets.UTF_8), callback);
        }

        void respondBytes(int status, String contentType, byte[] bytes, Callback done) {
            response.setStatus(status);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
            response.write(true, ByteBuffer.wrap(bytes), done);
            long nanos = System.nanoTime() - start;
            String route = route(Request.getPathInContext(request));
            timers.computeIfAbsent(route + " " + status, k -> Timer.builder("osprey.requests")
                    .description("HTTP requests by route and status").tag("route", route)
                    .tag("status", Integer.toString(status)).publishPercentileHistogram().register(metrics))
                    .record(nanos, TimeUnit.NANOSECONDS);
            if (status >= 500 && status != 503) { // 503 (busy, stopping) is load, not trouble: debug only
                LOG.warn("request {}: {} {} -> {} in {} us", id, request.getMethod(), Request.getPathInContext(request),
                        status, nanos / 1000);
            } else if (LOG.isDebugEnabled()) {
                LOG.debug("request {}: {} {} -> {} in {} us", id, request.getMethod(), Request.getPathInContext(request),
                        status, nanos / 1000);
            }
        }

        /** Answers 413 at once, then reads and drops the rest of the body (bounded), then lets the connection close. */
        void refuseBody() {
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
            byte[] bytes = Json.write(error("the body is larger than the limit of " + maxBodyBytes + " bytes (the server's "
                    + "maxBodyBytes; osprey serve --max-body-kb)"))
                    .getBytes(StandardCharsets.UTF_8);
            respondBytes(413, "application/json", bytes, Callback.from(() -> discard(request, DISCARD_LIMIT, callback),
                    callback::failed));
        }
    }

    private Map<String, Object> health() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", closed ? "stopping" : "ok");
        body.put("input_shape", java.util.Arrays.stream(predictor.inputShape().dims()).boxed().toList());
        body.put("classes", predictor.classes());
        body.put("inputs", tensors(predictor.inputNames(), predictor.inputShapes()));
        body.put("outputs", tensors(predictor.outputNames(), predictor.outputShapes()));
        body.put("queue_depth", predictor.queueDepth());
        return body;
    }

    /** [{"name": ..., "shape": [...]}, ...] for the model's inputs or outputs. */
    private static List<Object> tensors(List<String> names, List<dev.osprey.Shape> shapes) {
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("name", names.get(i));
            one.put("shape", java.util.Arrays.stream(shapes.get(i).dims()).boxed().toList());
            out.add(one);
        }
        return out;
    }

    private void predict(Exchange exchange) {
        Request request = exchange.request;
        if (!"POST".equals(request.getMethod())) {
            exchange.response.getHeaders().put(HttpHeader.ALLOW, "POST");
            exchange.respond(405, error("expected POST, received " + request.getMethod()));
            return;
        }
        if (closed) {
            exchange.response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            exchange.respond(503, error(STOPPING));
            return;
        }
        admittedPredictions.incrementAndGet(); // past the shutdown check: close() will wait for this one
        int topK;
        try {
            topK = topK(request.getHttpURI().getQuery());
        } catch (RequestDecoder.BadRequest e) {
            exchange.respond(e.status(), error(e.getMessage()));
            return;
        }
        if (request.getLength() > maxBodyBytes) {
            exchange.refuseBody();
            return;
        }
        // The buffer grows with the bytes that arrive: a Content-Length is only the client's claim.
        readBody(request, new ByteArrayOutputStream((int) Math.max(0, Math.min(request.getLength(), 64 << 10))),
                body -> {
                    try {
                        if (body == null) {
                            exchange.refuseBody();
                        } else {
                            answer(exchange, body, topK);
                        }
                    } catch (RuntimeException e) { // also when the body arrived later, off handle()'s own try
                        LOG.error("request {}: {}", exchange.id, e.toString(), e);
                        exchange.respond(500, error("internal error: " + e.getMessage()));
                    }
                },
                failure -> { // a client gone mid-body, or silent past the idle timeout: routine, and a hostile client's
                    LOG.debug("request {}: reading the body failed: {}", exchange.id, failure.toString());
                    exchange.callback.failed(failure);
                });
    }

    /** Decodes, queues and answers when the predictions arrive (on the server's pool, not the predictor's thread). */
    private void answer(Exchange exchange, byte[] body, int topK) {
        List<float[][]> samples;
        try {
            samples = decoder.decode(exchange.request.getHeaders().get(HttpHeader.CONTENT_TYPE), body);
        } catch (RequestDecoder.BadRequest e) {
            exchange.respond(e.status(), error(e.getMessage()));
            return;
        }
        if (samples.size() > predictor.queueCapacity()) {
            exchange.respond(413, error("the request holds " + samples.size() + " samples; this server queues at most "
                    + predictor.queueCapacity() + " at once: send them in smaller requests"));
            return;
        }
        List<CompletableFuture<float[][]>> results = new ArrayList<>();
        try {
            for (float[][] s : samples) {
                results.add(predictor.submitInputs(s));
            }
        } catch (QueueFullException e) {
            exchange.response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            exchange.respond(503, error("the server is busy (queue full); retry shortly"));
            return;
        } catch (IllegalStateException e) {
            exchange.response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            exchange.respond(503, error(STOPPING));
            return;
        }
        CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).whenCompleteAsync((ignored, failure) -> {
            Map<String, Object> answer;
            try {
                answer = failure == null ? predictions(results, topK) : null;
            } catch (RuntimeException e) {
                failure = e;
                answer = null;
            }
            if (answer == null) {
                LOG.error("request {}: inference failed", exchange.id, failure);
                exchange.respond(500, error("inference failed: " + failure.getMessage()));
            } else {
                exchange.respond(200, answer);
            }
        }, responders);
    }

    /**
     * Reads the body as it arrives, without a thread waiting for it: {@code done} gets the bytes, or null once more
     * than maxBodyBytes have come (chunked bodies have no length to check first).
     */
    private void readBody(Content.Source source, ByteArrayOutputStream into, java.util.function.Consumer<byte[]> done,
                          java.util.function.Consumer<Throwable> failed) {
        while (true) {
            Content.Chunk chunk = source.read();
            if (chunk == null) {
                source.demand(() -> readBody(source, into, done, failed));
                return;
            }
            if (Content.Chunk.isFailure(chunk)) {
                failed.accept(chunk.getFailure());
                return;
            }
            ByteBuffer bytes = chunk.getByteBuffer();
            boolean tooBig = into.size() + (long) bytes.remaining() > maxBodyBytes;
            if (!tooBig) {
                byte[] part = new byte[bytes.remaining()];
                bytes.get(part);
                into.write(part, 0, part.length);
            }
            boolean last = chunk.isLast();
            chunk.release();
            if (tooBig) {
                done.accept(null);
                return;
            }
            if (last) {
                done.accept(into.toByteArray());
                return;
            }
        }
    }

    /** Reads and drops up to {@code budget} more bytes of the body, then completes {@code callback}. */
    private static void discard(Content.Source source, long budget, Callback callback) {
        long left = budget;
        while (true) {
            Content.Chunk chunk = source.read();
            if (chunk == null) {
                long remaining = left;
                source.demand(() -> discard(source, remaining, callback));
                return;
            }
            if (Content.Chunk.isFailure(chunk)) {
                callback.succeeded(); // the client went away; the 413 was already sent
                return;
            }
            left -= chunk.remaining();
            boolean last = chunk.isLast();
            chunk.release();
            if (last || left < 0) {
                callback.succeeded();
                return;
            }
        }
    }

    /**
     * A model of one output: each sample's class, top classes and probabilities. Several outputs: each output's values
     * by its name.
     */
    private Map<String, Object> predictions(List<CompletableFuture<float[][]>> results, int topK) {
        List<String> outputs = predictor.outputNames();
        if (outputs.size() > 1) {
            List<Object> out = new ArrayList<>();
            for (CompletableFuture<float[][]> f : results) {
                float[][] values = f.join();
                Map<String, Object> one = new LinkedHashMap<>();
                for (int o = 0; o < values.length; o++) {
                    one.put(outputs.get(o), jsonNumbers(values[o]));
                }
                out.add(one);
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("predictions", out);
            return body;
        }
        List<String> names = predictor.classNames();
        List<Object> out = new ArrayList<>();
        for (CompletableFuture<float[][]> f : results) {
            float[] p = f.join()[0];
            Map<String, Object> one = new LinkedHashMap<>();
            int best = IntStream.range(0, p.length).reduce((a, b) -> p[b] > p[a] ? b : a).orElse(0);
            one.put("class", best);
            if (best < names.size()) {
                one.put("label", names.get(best));
            }
            List<Object> top = new ArrayList<>();
            IntStream.range(0, p.length).boxed().sorted(Comparator.comparingDouble(c -> -p[c])).limit(topK).forEach(c -> {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("class", c);
                if (c < names.size()) {
                    entry.put("label", names.get(c));
                }
                entry.put("probability", jsonNumber(p[c]));
                top.add(entry);
            });
            one.put("top", top);
            one.put("probabilities", jsonNumbers(p));
            out.add(one);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("predictions", out);
        return body;
    }

    /** JSON has no NaN or infinity: those (possible only when non-finite inputs are allowed) are written as null. */
    private static Double jsonNumber(float v) {
        return Float.isFinite(v) ? (double) v : null;
    }

    private static List<Object> jsonNumbers(float[] values) {
        List<Object> out = new ArrayList<>(values.length);
        for (float v : values) {
            out.add(jsonNumber(v));
        }
        return out;
    }

    private static int topK(String query) throws RequestDecoder.BadRequest {
        if (query == null) {
            return 3;
        }
        for (String part : query.split("&")) {
            if (part.startsWith("top_k=")) {
                try {
                    int k = Integer.parseInt(part.substring(6));
                    if (k > 0) {
                        return k;
                    }
                } catch (NumberFormatException ignored) {
                    // reported below
                }
                throw new RequestDecoder.BadRequest("expected top_k to be a positive integer, received '"
                        + abbreviate(part.substring(6)) + "'");
            }
        }
        return 3;
    }

    private static String abbreviate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }

    /** The route a path is counted under: one of the server's three, or "other" (so clients can't add series). */
    static String route(String path) {
        return switch (path == null ? "" : path) {
            case "/v1/predict" -> "predict";
            case "/health" -> "health";
            case "/metrics" -> "metrics";
            default -> "other";
        };
    }

    /**
     * Jetty's own error answers in the shape of ours, whatever the client accepts: {"error": "..."} with the status's
     * reason (Jetty's default is an HTML page, or for JSON clients another shape), the client's X-Request-Id echoed
     * where it sent a sane one, and Retry-After on a 503 (sent while the server drains).
     */
    static final class JsonErrors extends org.eclipse.jetty.server.handler.ErrorHandler {
        private final java.util.function.BooleanSupplier stopping;
        private final java.util.function.Supplier<String> newId;

        JsonErrors(java.util.function.BooleanSupplier stopping, java.util.function.Supplier<String> newId) {
            this.stopping = stopping;
            this.newId = newId;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            int status = request.getAttribute(ERROR_STATUS) instanceof Integer s ? s : response.getStatus();
            // a 4xx's reason is for the client; a 5xx's (an exception's text, in Jetty 12) is not
            String message = status < 500 && request.getAttribute(ERROR_MESSAGE) instanceof String m && !m.isBlank()
                    ? m : org.eclipse.jetty.http.HttpStatus.getMessage(status);
            if (status == 503) {
                if (stopping.getAsBoolean()) {
                    message = STOPPING;
                }
                response.getHeaders().put("Retry-After", "1");
            }
            String given = request.getHeaders().get("X-Request-Id");
            response.getHeaders().put("X-Request-Id", given != null && SANE_ID.matcher(given).matches() ? given
                    : newId.get());
            response.getHeaders().put(ERROR_CACHE_CONTROL);
            if (org.eclipse.jetty.http.HttpMethod.HEAD.is(request.getMethod())
                    || org.eclipse.jetty.http.HttpStatus.hasNoBody(status)) {
                response.write(true, org.eclipse.jetty.util.BufferUtil.EMPTY_BUFFER, callback); // status, headers
                return true;
            }
            response.getHeaders().put(org.eclipse.jetty.http.HttpHeader.CONTENT_TYPE, "application/json");
            response.write(true, java.nio.ByteBuffer.wrap(body(message)), callback);
            return true;
        }

        @Override
        public java.nio.ByteBuffer badMessageError(int status, String reason,
                                                   org.eclipse.jetty.http.HttpFields.Mutable fields) {
            fields.put(org.eclipse.jetty.http.HttpHeader.CONTENT_TYPE, "application/json");
            return java.nio.ByteBuffer.wrap(body(reason == null || reason.isBlank()
                    ? org.eclipse.jetty.http.HttpStatus.getMessage(status) : reason));
        }

        private static byte[] body(String message) {
            return dev.osprey.io.Json.write(error(message)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private static Map<String, Object> error(String message) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", message);
        return body;
    }

    /**
     * Answers every request already received, for up to the drain timeout in all, while new requests get 503; then
     * closes the connections and stops the predictor. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + drainTimeout.toNanos();
        drain();
        // Jetty's stop waits on the same requests: what is left of the drain timeout, not the whole of it again
        server.setStopTimeout(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        stopQuietly();
        predictor.close();
        metrics.close();
    }

    /**
     * Waits, up to the drain timeout, until every admitted request is answered, before Jetty's stop: that stop cuts
     * every connection silent for 1 s (its shutdown idle timeout, which lets idle keep-alive connections go at once),
     * so a client still sending an admitted request's body got a 500 when Jetty stopped first (the test command caught
     * it under load). Meanwhile new requests get 503.
     */
    private void drain() {
        try {
            graceful.shutdown().get(drainTimeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            LOG.warn("draining: {} requests still in flight after {}; stopping anyway", requestsInFlight(),
                    drainTimeout);
        } catch (java.util.concurrent.ExecutionException e) {
            LOG.warn("draining: {}", e.getCause().toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void stopQuietly() {
        try {
            server.stop(); // graceful: GracefulHandler waits for the requests in flight, up to the stop timeout
        } catch (Exception e) {
            LOG.warn("stopping the HTTP server: {}", e.toString());
        }
    }

    /** Options of a server; every one has a default fit for a service on a private network. */
    public static final class Builder {
        private final Predictor predictor;
        private InetSocketAddress address = new InetSocketAddress("127.0.0.1", 8080);
        private long maxBodyBytes = 4L << 20;
        private int handlerThreads = 8;
        private Duration idleTimeout = Duration.ofSeconds(30);
        private int maxConnections = 1024;
        private int acceptQueue = 128;
        private Duration drainTimeout = Duration.ofSeconds(10);

        private Builder(Predictor predictor) {
            this.predictor = Objects.requireNonNull(predictor, "predictor");
        }

        /** Where to listen (use 127.0.0.1 unless the service must be reachable from elsewhere). Default 127.0.0.1:8080. */
        public Builder address(InetSocketAddress a) {
            this.address = Objects.requireNonNull(a, "address");
            return this;
        }

        /** Larger bodies get 413. Default 4 MiB. */
        public Builder maxBodyBytes(long n) {
            this.maxBodyBytes = positive("maxBodyBytes", n);
            return this;
        }

        /** Threads that decode requests and write responses (selectors and the acceptor come on top). Default 8. */
        public Builder handlerThreads(int n) {
            this.handlerThreads = (int) positive("handlerThreads", n);
            return this;
        }

        /** A connection silent this long is closed. Default 30 s. */
        public Builder idleTimeout(Duration d) {
            this.idleTimeout = positive("idleTimeout", d);
            return this;
        }

        /** Connections open at once; beyond it, accepting pauses. Default 1024. */
        public Builder maxConnections(int n) {
            this.maxConnections = (int) positive("maxConnections", n);
            return this;
        }

        /** The listen backlog: connections waiting to be accepted. Default 128. */
        public Builder acceptQueue(int n) {
            this.acceptQueue = (int) positive("acceptQueue", n);
            return this;
        }

        /** How long {@link InferenceServer#close()} waits for requests in flight. Default 10 s. */
        public Builder drainTimeout(Duration d) {
            this.drainTimeout = positive("drainTimeout", d);
            return this;
        }

        /**
         * Starts the server, listening at once; throws IOException when it can't (the address is taken, say), leaving
         * the predictor open for the caller.
         */
        public InferenceServer build() throws IOException {
            return new InferenceServer(this);
        }

        private static long positive(String name, long n) {
            if (n <= 0) {
                throw new IllegalArgumentException("InferenceServer: expected " + name + " > 0, received " + n);
            }
            return n;
        }

        private static Duration positive(String name, Duration d) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("InferenceServer: expected " + name + " > 0, received " + d);
            }
            return d;
        }
    }
}
