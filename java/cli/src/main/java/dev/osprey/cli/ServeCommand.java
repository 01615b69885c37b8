package dev.osprey.cli;

import dev.osprey.serving.InferenceServer;
import dev.osprey.serving.Predictor;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over HTTP: POST /v1/predict (JSON, float32 bytes or an image), GET /health, GET /metrics.")
final class ServeCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "Model file written by train.")
    Path modelFile;

    @Option(names = "--port", defaultValue = "8080", description = "Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "Address to bind; 0.0.0.0 exposes the service beyond this machine. Default: ${DEFAULT-VALUE}.")
    String host;

    @Option(names = "--max-batch", defaultValue = "64", description = "Largest batch formed from concurrent requests. Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--max-delay-us", defaultValue = "200", description = "Longest wait for more requests under load, microseconds. Default: ${DEFAULT-VALUE}.")
    long maxDelayMicros;

    @Option(names = "--queue", defaultValue = "1024", description = "Samples waiting beyond this get 503. Default: ${DEFAULT-VALUE}.")
    int queue;

    @Option(names = "--max-body-kb", defaultValue = "4096", description = "Larger request bodies get 413. Default: ${DEFAULT-VALUE}.")
    long maxBodyKb;

    @Option(names = "--http-threads", defaultValue = "8", description = "Request-decoding threads. Default: ${DEFAULT-VALUE}.")
    int httpThreads;

    @Option(names = "--idle-timeout-s", defaultValue = "30", description = "Connections silent this long are closed. Default: ${DEFAULT-VALUE}.")
    long idleTimeoutSeconds;

    @Option(names = "--max-connections", defaultValue = "1024", description = "Open connections at most; beyond, accepting pauses. Default: ${DEFAULT-VALUE}.")
    int maxConnections;

    @Option(names = "--precision", defaultValue = "fp32",
            description = "fp32, bf16 (bfloat16 products on CPUs with AVX512_BF16 or AMX and GPUs from Ampere on), "
                    + "fp16 (half-precision products on GPUs with tensor cores) or int8 (a model written by osprey "
                    + "quantize; CPUs with AVX2). Where the device lacks the kernels: fp32, with the reason logged. "
                    + "Default: "
                    + "${DEFAULT-VALUE}.")
    String precision;

    @Option(names = "--allow-non-finite", description = "Accept NaN and infinite inputs instead of answering 400.")
    boolean allowNonFinite;

    @Option(names = "--threads", description = "CPU threads for inference (sets OMP_NUM_THREADS; the osprey launcher applies it).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        Threads.check(threads);
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("expected --port from 0 to 65535, received " + port);
        }
        Predictor predictor = Predictor.builder(modelFile).maxBatchSize(maxBatch)
                .maxDelay(Duration.ofNanos(maxDelayMicros * 1000)).queueCapacity(queue)
                .acceptNonFiniteInputs(allowNonFinite).precision(dev.osprey.Precision.parse(precision)).build();
        InferenceServer server;
        try {
            server = InferenceServer.builder(predictor).address(new InetSocketAddress(host, port))
                    .maxBodyBytes(maxBodyKb * 1024).handlerThreads(httpThreads)
                    .idleTimeout(Duration.ofSeconds(idleTimeoutSeconds)).maxConnections(maxConnections)
                    .build();
        } catch (RuntimeException | java.io.IOException e) {
            predictor.close();
            throw e;
        }
        CountDownLatch stop = new CountDownLatch(1);
        stopOn(stop, "TERM");
        stopOn(stop, "INT");
        // where the signals can't be taken (java -Xrs) or the JVM ends another way: drain in a shutdown hook, and the
        // process exits with 128 + the signal's number, as the JVM's own handling makes it
        Thread hook = new Thread(() -> {
            stopping(server);
            stop.countDown();
        }, "osprey-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        System.out.printf("osprey: serving %s on http://%s:%d (POST /v1/predict, GET /health, GET /metrics); Ctrl-C stops%n",
                modelFile, host, server.port());
        stop.await();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException exiting) {
            return 0; // the JVM is exiting (the hook counted down): the hook drains, and the JVM sets the exit code
        }
        stopping(server);
        return 0; // SIGTERM and Ctrl-C are how a service is stopped: a clean exit, not 143 (systemd, containers)
    }

    private static void stopping(InferenceServer server) {
        System.out.println("osprey: stopping: finishing accepted requests");
        server.close();
    }

    /**
     * Turns the signal (TERM, INT) into a request to stop that serve's main thread carries out, draining and exiting 0;
     * where the JVM won't hand the signal over (-Xrs, or the signal is reserved), the JVM's handling stays.
     */
    private static void stopOn(CountDownLatch stop, String signal) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal(signal), s -> stop.countDown());
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // the JVM keeps the signal: its shutdown hook drains instead, and the exit status is the JVM's
            System.err.println("osprey: SIG" + signal + " stays with the JVM (" + e.getMessage() + "): serve drains on it, "
                    + "then exits with status " + (128 + new sun.misc.Signal(signal).getNumber()));
        }
    }
}
