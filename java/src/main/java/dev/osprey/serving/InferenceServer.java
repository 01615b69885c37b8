package dev.osprey.serving;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.osprey.io.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Logger;
import java.util.stream.IntStream;

/**
 * HTTP inference on the JDK's built-in server, over a {@link Predictor}.
 * POST /v1/predict (JSON, float32 bytes or an image file, decoded with the model's own preprocessing; ?top_k=N)
 * and GET /health. Handlers only parse and queue;
 * the response is written when the predictor's result arrives. A full queue answers 503, a body over the limit
 * 413, bad input 400 with a message. {@link #close()} stops accepting, finishes accepted requests, then stops.
 */
public final class InferenceServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(InferenceServer.class.getName());

    static {
        // The JDK server writes headers and body separately; without TCP_NODELAY, Nagle's algorithm and delayed
        // ACKs add ~40 ms to every response. It reads this once, when its first server is made in the JVM.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    private final Predictor predictor;
    private final HttpServer server;
    private final ExecutorService handlers;
    private final ExecutorService responders;
    private final RequestDecoder decoder;
    private final long maxBodyBytes;
    private final int drainSeconds;
    private final java.util.concurrent.atomic.AtomicInteger active = new java.util.concurrent.atomic.AtomicInteger();
    private volatile boolean closed;

    /**
     * @param address      where to listen (use 127.0.0.1 unless the service must be reachable from elsewhere)
     * @param maxBodyBytes larger bodies are refused with 413
     */
    public InferenceServer(Predictor predictor, InetSocketAddress address, long maxBodyBytes, int handlerThreads)
            throws IOException {
        this.predictor = predictor;
        this.decoder = new RequestDecoder(predictor.inputShape(), predictor.preprocessing());
        this.maxBodyBytes = maxBodyBytes;
        this.drainSeconds = 10;
        this.server = HttpServer.create(address, 512);
        this.handlers = Executors.newFixedThreadPool(handlerThreads, daemon("osprey-http"));
        this.responders = Executors.newFixedThreadPool(2, daemon("osprey-http-respond"));
        server.setExecutor(handlers);
        server.createContext("/v1/predict", this::predict);
        server.createContext("/health", this::health);
        server.createContext("/", exchange -> respond(exchange, 404, error("no such endpoint: use POST /v1/predict or GET /health")));
        server.start();
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private void health(HttpExchange exchange) throws IOException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", closed ? "stopping" : "ok");
        body.put("input_shape", java.util.Arrays.stream(predictor.inputShape().dims()).boxed().toList());
        body.put("classes", predictor.classes());
        body.put("queue_depth", predictor.queueDepth());
        respond(exchange, closed ? 503 : 200, body);
    }

    private void predict(HttpExchange exchange) throws IOException {
        active.incrementAndGet();
        boolean answeredLater = false;
        try {
            answeredLater = handlePredict(exchange);
        } finally {
            if (!answeredLater) {
                active.decrementAndGet();
            }
        }
    }

    /** Returns true when the response will be written later, when the predictions arrive. */
    private boolean handlePredict(HttpExchange exchange) throws IOException {
        if (closed) {
            respond(exchange, 503, error("the server is shutting down"));
            return false;
        }
        if (!"POST".equals(exchange.getRequestMethod())) {
            exchange.getResponseHeaders().set("Allow", "POST");
            respond(exchange, 405, error("expected POST, received " + exchange.getRequestMethod()));
            return false;
        }
        int topK;
        List<float[]> samples;
        try {
            topK = topK(exchange.getRequestURI().getRawQuery());
            byte[] body = readBody(exchange);
            if (body == null) {
                discardRest(exchange);
                exchange.getResponseHeaders().set("Connection", "close");
                respond(exchange, 413, error("the body is larger than the limit of " + maxBodyBytes + " bytes"));
                return false;
            }
            samples = decoder.decode(exchange.getRequestHeaders().getFirst("Content-Type"), body);
        } catch (RequestDecoder.BadRequest e) {
            respond(exchange, 400, error(e.getMessage()));
            return false;
        }
        List<CompletableFuture<float[]>> results = new ArrayList<>();
        try {
            for (float[] s : samples) {
                results.add(predictor.submit(s));
            }
        } catch (QueueFullException e) {
            exchange.getResponseHeaders().set("Retry-After", "1");
            respond(exchange, 503, error("the server is busy (queue full); retry shortly"));
            return false;
        } catch (IllegalStateException e) {
            respond(exchange, 503, error("the server is shutting down"));
            return false;
        }
        int k = topK;
        CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).whenCompleteAsync((ignored, failure) -> {
            try {
                if (failure != null) {
                    respond(exchange, 500, error("inference failed: " + failure.getMessage()));
                } else {
                    respond(exchange, 200, predictions(results, k));
                }
            } catch (IOException e) {
                LOG.fine(() -> "client went away: " + e.getMessage());
            } finally {
                active.decrementAndGet();
            }
        }, responders);
        return true;
    }

    private Map<String, Object> predictions(List<CompletableFuture<float[]>> results, int topK) {
        List<String> names = predictor.classNames();
        List<Object> out = new ArrayList<>();
        for (CompletableFuture<float[]> f : results) {
            float[] p = f.join();
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
                entry.put("probability", (double) p[c]);
                top.add(entry);
            });
            one.put("top", top);
            List<Object> probabilities = new ArrayList<>();
            for (float v : p) {
                probabilities.add((double) v);
            }
            one.put("probabilities", probabilities);
            out.add(one);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("predictions", out);
        return body;
    }

    private int topK(String query) throws RequestDecoder.BadRequest {
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
                throw new RequestDecoder.BadRequest("expected top_k to be a positive integer, received '" + part.substring(6) + "'");
            }
        }
        return 3;
    }

    /** The body, or null when it is over the limit (by its Content-Length or by what arrives). */
    private byte[] readBody(HttpExchange exchange) throws IOException {
        String length = exchange.getRequestHeaders().getFirst("Content-Length");
        if (length != null) {
            try {
                if (Long.parseLong(length.trim()) > maxBodyBytes) {
                    return null;
                }
            } catch (NumberFormatException ignored) {
                // the server itself rejects malformed lengths; read what comes
            }
        }
        InputStream in = exchange.getRequestBody(); // closed with the exchange; discardRest may still read it
        byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBodyBytes + 1));
        return body.length > maxBodyBytes ? null : body;
    }

    /**
     * Reads and drops what is left of an oversized body (up to 64 MiB), so that closing the connection after the
     * 413 does not reset it under the client before the response is read.
     */
    private static void discardRest(HttpExchange exchange) {
        try (InputStream in = exchange.getRequestBody()) {
            byte[] sink = new byte[1 << 16];
            long left = 64L << 20;
            int n;
            while (left > 0 && (n = in.read(sink, 0, (int) Math.min(sink.length, left))) > 0) {
                left -= n;
            }
        } catch (IOException ignored) {
            // the client gave up; nothing to answer
        }
    }

    private static Map<String, Object> error(String message) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", message);
        return body;
    }

    private static void respond(HttpExchange exchange, int status, Map<String, Object> body) throws IOException {
        byte[] bytes = Json.write(body).getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    /**
     * Answers new requests 503, waits (up to 10 s) until every accepted request has its response, then stops the
     * listener and the predictor. (JDK 17's HttpServer.stop(delay) always waits the whole delay, hence the count.)
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + drainSeconds * 1_000_000_000L;
        while (active.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        server.stop(0);
        predictor.close();
        responders.shutdown();
        handlers.shutdown();
    }
}
