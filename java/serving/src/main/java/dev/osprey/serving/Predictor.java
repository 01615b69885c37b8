package dev.osprey.serving;

import dev.osprey.NDArray;
import dev.osprey.Model;
import dev.osprey.Shape;
import dev.osprey.backend.Device;
import dev.osprey.io.ModelFile;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Thread-safe inference with dynamic batching. Any number of threads call {@link #predict}; one worker thread owns
 * its own copy of the model and turns whatever requests are waiting (up to maxBatchSize) into one batch; under
 * load it also waits up to maxDelay for as many requests as the previous batch held. The copy is built on the
 * worker thread: for full speed, oneDNN should run on one thread per process (see {@link Model}). A predictor built from a {@link Model} snapshots its weights at build time. Each batch runs padded to a power-of-two shape of at least 2 (capped at maxBatchSize), so every
 * model plan is made once and a request's result does not depend on what it was batched with. Answers are class
 * probabilities: a model that outputs logits ({@link Model#outputsLogits}, as most classifiers imported from PyTorch do)
 * has their softmax returned.
 * {@link #close()} stops intake, finishes every accepted request, then frees the predictor's model.
 */
public final class Predictor implements AutoCloseable {
    private final int maxBatchSize;
    private final boolean acceptNonFinite;
    private final dev.osprey.Precision precision;
    private final long maxDelayNanos;
    private final CountDownLatch started = new CountDownLatch(1);
    private Model model;          // created, used and closed by the worker thread only
    private Shape inputShape;          // written by the worker before `started` opens
    private List<String> classNames;
    private dev.osprey.data.images.Preprocessing preprocessing;
    private int classes;
    /** The model outputs logits ({@link Model#outputsLogits}): answers are their softmax, as class probabilities. */
    private boolean softmaxLogits;
    private int sampleSize;
    private int[] sampleDims;
    private Throwable startFailure;
    private final BlockingQueue<Request> queue;
    /** The queue's capacity, kept apart: size() + remainingCapacity() is not one atomic read while others queue. */
    private final int queueCapacity;
    private final Thread worker;
    private final Map<Integer, float[]> inputBuffers = new HashMap<>();
    private final AtomicInteger maxQueueDepth = new AtomicInteger();
    private final List<java.util.function.IntConsumer> batchListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean accepting = true;
    private volatile boolean running = true;
    private volatile Throwable workerFailure;

    private record Request(float[] input, CompletableFuture<float[]> result) {
    }

    private Predictor(Builder b) {
        this.maxBatchSize = b.maxBatchSize;
        this.acceptNonFinite = b.acceptNonFinite;
        this.precision = b.precision;
        this.maxDelayNanos = b.maxDelay.toNanos();
        this.queue = new ArrayBlockingQueue<>(b.queueCapacity);
        this.queueCapacity = b.queueCapacity;
        this.worker = new Thread(() -> start(b.factory), "osprey-predictor");
        this.worker.setDaemon(true);
        worker.start();
        try {
            started.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Predictor: interrupted while starting", e);
        }
        if (startFailure != null) {
            if (startFailure instanceof RuntimeException re) {
                throw re;
            }
            String why = startFailure instanceof java.nio.file.NoSuchFileException missing
                    ? "no such file: " + missing.getFile() : String.valueOf(startFailure);
            throw new IllegalStateException("Predictor: could not start: " + why, startFailure);
        }
    }

    /** The worker's whole life: make the model, plan every batch shape, serve, free the model. */
    private void start(Callable<Model> factory) {
        try {
            model = factory.call();
            model.acceptNonFiniteInputs(acceptNonFinite);
            model.inferencePrecision(precision);
            // one plan per bucket, or two where the backend runs a bucket in slices (the slice and what remains);
            // plans are made only for sizes that run, so the room costs nothing where a model runs whole
            model.keepInferencePlans(2 * (Integer.numberOfTrailingZeros(Integer.highestOneBit(maxBatchSize)) + 2));
            inputShape = model.inputShape();
            classNames = model.classNames();
            preprocessing = model.preprocessing();
            classes = model.outputShape().size();
            softmaxLogits = model.outputsLogits();
            sampleSize = inputShape.size();
            sampleDims = inputShape.dims();
            // Plan every batch shape before the first request, so no request pays for planning.
            for (int bucket = bucket(1); ; bucket = bucket(bucket + 1)) {
                model.predict(NDArray.zeros(withBatch(bucket)), bucket);
                if (bucket == maxBatchSize) {
                    break;
                }
            }
        } catch (Throwable t) {
            startFailure = t;
            if (model != null) {
                model.close();
            }
            started.countDown();
            return;
        }
        started.countDown();
        try {
            work();
        } finally {
            model.close();
        }
    }

    /**
     * A predictor over a copy of this model's weights as they are when {@link Builder#build()} runs, on the model's
     * device. Each build makes its own copy (the layers are shared, the weights copied), so training the model later
     * doesn't change what the predictor answers, and closing one predictor leaves the others alone.
     */
    public static Builder builder(Model model) {
        return new Builder(() -> model.copy(null));
    }

    /** A predictor over a model file, loaded on the predictor's own thread. */
    public static Builder builder(Path modelFile) {
        return new Builder(() -> Model.load(modelFile));
    }

    /** Configuration: max batch size 64, max delay 200 microseconds, queue capacity 1,024 samples. */
    public static final class Builder {
        private final Callable<Model> factory;
        private int maxBatchSize = 64;
        private Duration maxDelay = Duration.ofNanos(200_000);
        private int queueCapacity = 1024;
        private boolean acceptNonFinite;
        private dev.osprey.Precision precision = dev.osprey.Precision.FP32;

        private Builder(Callable<Model> factory) {
            this.factory = factory;
        }

        /**
         * The most samples run as one batch. At start the worker plans the batch shapes 2, 4, 8, ... below it, and it
         * itself. Default 64; throws IllegalArgumentException unless positive.
         */
        public Builder maxBatchSize(int n) {
            if (n <= 0) {
                throw new IllegalArgumentException("Predictor: expected max batch size > 0, received " + n);
            }
            maxBatchSize = n;
            return this;
        }

        /** How long the worker waits for more requests once it has one (0: batch only what is already queued). */
        public Builder maxDelay(Duration d) {
            if (d.isNegative()) {
                throw new IllegalArgumentException("Predictor: expected max delay >= 0, received " + d);
            }
            maxDelay = d;
            return this;
        }

        /** Samples waiting beyond this are refused ({@link QueueFullException}) instead of piling up. */
        public Builder queueCapacity(int n) {
            if (n <= 0) {
                throw new IllegalArgumentException("Predictor: expected queue capacity > 0, received " + n);
            }
            queueCapacity = n;
            return this;
        }

        /** Accept NaN and infinite inputs (see {@link Model#acceptNonFiniteInputs}). Default false: refused. */
        public Builder acceptNonFiniteInputs(boolean accept) {
            acceptNonFinite = accept;
            return this;
        }

        /** The precision to infer in (see {@link Model#inferencePrecision(dev.osprey.Precision)}). Default fp32. */
        public Builder precision(dev.osprey.Precision p) {
            precision = java.util.Objects.requireNonNull(p, "precision");
            return this;
        }

        /**
         * Starts the worker thread and waits until it has made the model and planned every batch shape. What making the
         * model throws is rethrown (a checked exception, such as an unreadable model file, inside an
         * IllegalStateException). The caller owns the predictor and must close it.
         */
        public Predictor build() {
            return new Predictor(this);
        }
    }

    /** The model's input shape for one sample, e.g. (28, 28, 1). */
    public Shape inputShape() {
        return inputShape;
    }

    /** The class names saved with the model, in output order; empty when it has none. */
    public List<String> classNames() {
        return classNames;
    }

    /** How the model's training turned image files into inputs, or null when it was trained on arrays. */
    public dev.osprey.data.images.Preprocessing preprocessing() {
        return preprocessing;
    }

    /** Number of output classes (the length of each result). */
    public int classes() {
        return classes;
    }

    /** Probabilities for one sample of the model's input size; waits for room in the queue if it is full. */
    public float[] predict(float[] sample) {
        checkSample(sample);
        return await(enqueue(sample, true));
    }

    /** Probabilities (N, classes) for a batch; its rows join whatever else is being batched. */
    public NDArray predict(NDArray batch) {
        if (batch.rowSize() != sampleSize) {
            throw new IllegalArgumentException("Predictor: expected samples of shape " + inputShape
                    + ", received a batch of shape " + batch.shapeString());
        }
        List<CompletableFuture<float[]>> futures = new ArrayList<>();
        for (int i = 0; i < batch.rows(); i++) {
            float[] row = new float[sampleSize];
            System.arraycopy(batch.data(), i * sampleSize, row, 0, sampleSize);
            checkSample(row);
            futures.add(enqueue(row, true));
        }
        float[] out = new float[batch.rows() * classes];
        for (int i = 0; i < futures.size(); i++) {
            System.arraycopy(await(futures.get(i)), 0, out, i * classes, classes);
        }
        return new NDArray(out, batch.rows(), classes);
    }

    /** Queues one sample without waiting for room: a full queue is a {@link QueueFullException}. */
    public CompletableFuture<float[]> submit(float[] sample) {
        checkSample(sample);
        return enqueue(sample, false);
    }

    /** Checked here, per sample, so that one bad sample fails its own request and not the batch it would join. */
    private void checkSample(float[] sample) {
        if (sample == null || sample.length != sampleSize) {
            throw new IllegalArgumentException("Predictor: expected " + sampleSize + " values (one sample of shape "
                    + inputShape + "), received " + (sample == null ? "null" : sample.length));
        }
        if (!acceptNonFinite) {
            for (int i = 0; i < sample.length; i++) {
                if (!Float.isFinite(sample[i])) {
                    throw new IllegalArgumentException("Predictor: expected finite inputs, received " + sample[i]
                            + " at index " + i);
                }
            }
        }
    }

    /** Whether NaN and infinite inputs are accepted (see {@link Builder#acceptNonFiniteInputs}). */
    public boolean acceptsNonFiniteInputs() {
        return acceptNonFinite;
    }

    private CompletableFuture<float[]> enqueue(float[] sample, boolean wait) {
        if (!accepting) {
            throw new IllegalStateException("Predictor: closed, no new requests are accepted");
        }
        if (workerFailure != null) {
            throw new IllegalStateException("Predictor: the worker stopped: " + workerFailure, workerFailure);
        }
        Request r = new Request(sample, new CompletableFuture<>());
        try {
            if (wait) {
                queue.put(r);
            } else if (!queue.offer(r)) {
                throw new QueueFullException("Predictor: the queue of " + queueCapacity
                        + " samples is full");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Predictor: interrupted while waiting for room in the queue", e);
        }
        maxQueueDepth.accumulateAndGet(queue.size(), Math::max);
        return r.result();
    }

    private static float[] await(CompletableFuture<float[]> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Predictor: interrupted while waiting for a result", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof RuntimeException re ? re : new CompletionException(cause);
        }
    }

    /** The deepest the queue has been, in samples (never more than its capacity). */
    public int maxQueueDepth() {
        return maxQueueDepth.get();
    }

    /** Samples waiting for the worker now, a snapshot (an {@link InferenceServer} reports it as osprey.queue.depth). */
    public int queueDepth() {
        return queue.size();
    }

    /** The most samples that can wait at once (see {@link Builder#queueCapacity}). */
    public int queueCapacity() {
        return queueCapacity;
    }

    /** Calls {@code listener} with the number of requests in each batch run (on the worker thread: keep it short). */
    public void onBatch(java.util.function.IntConsumer listener) {
        batchListeners.add(java.util.Objects.requireNonNull(listener, "listener"));
    }

    // ---- the worker --------------------------------------------------------------------------------------

    private void work() {
        List<Request> batch = new ArrayList<>(maxBatchSize);
        int lastBatchSize = 0;
        try {
            while (running || !queue.isEmpty()) {
                Request first = queue.poll(50, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, maxBatchSize - batch.size());
                // Wait (at most maxDelay) only for the company the last batch suggests is coming: a lone caller is
                // answered at once, and 8 callers don't wait for a ninth. Larger loads still grow the batch, since
                // everything queued meanwhile is drained in.
                int expected = Math.min(maxBatchSize, lastBatchSize);
                long deadline = System.nanoTime() + maxDelayNanos;
                while (batch.size() < expected && maxDelayNanos > 0) {
                    long left = deadline - System.nanoTime();
                    Request next = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : null;
                    if (next == null) {
                        break;
                    }
                    batch.add(next);
                    queue.drainTo(batch, maxBatchSize - batch.size());
                }
                run(batch);
                lastBatchSize = batch.size();
                batch.clear();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            workerFailure = t;
            batch.forEach(r -> r.result().completeExceptionally(t));
            Request r;
            while ((r = queue.poll()) != null) {
                r.result().completeExceptionally(t);
            }
        }
    }

    private void run(List<Request> batch) {
        int n = batch.size();
        int bucket = bucket(n);
        float[] input = inputBuffers.computeIfAbsent(bucket, b -> new float[b * sampleSize]);
        for (int i = 0; i < n; i++) {
            System.arraycopy(batch.get(i).input(), 0, input, i * sampleSize, sampleSize);
        }
        // Rows n..bucket keep whatever they held: rows are computed independently and their results are dropped.
        NDArray out;
        try {
            out = model.predict(new NDArray(input, withBatch(bucket)), bucket);
        } catch (RuntimeException e) {
            batch.forEach(r -> r.result().completeExceptionally(e));
            return;
        }
        int classes = out.rowSize();
        for (int i = 0; i < n; i++) {
            float[] p = new float[classes];
            System.arraycopy(out.data(), i * classes, p, 0, classes);
            if (softmaxLogits) {
                Model.softmaxRows(p, classes);
            }
            batch.get(i).result().complete(p);
        }
        for (java.util.function.IntConsumer listener : batchListeners) {
            listener.accept(n);
        }
    }

    /** The batch shape for n requests: the next power of two, at least 2, at most maxBatchSize. */
    private int bucket(int n) {
        if (maxBatchSize == 1) {
            return 1;
        }
        int b = Integer.highestOneBit(Math.max(2, n) - 1) << 1;
        return Math.min(b, maxBatchSize);
    }

    private int[] withBatch(int batch) {
        int[] s = new int[sampleDims.length + 1];
        s[0] = batch;
        System.arraycopy(sampleDims, 0, s, 1, sampleDims.length);
        return s;
    }

    /** Refuses new requests, completes every accepted one, stops the worker and frees its model. Idempotent. */
    @Override
    public void close() {
        if (!accepting && !worker.isAlive()) {
            return;
        }
        accepting = false;
        running = false;
        try {
            worker.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // A request that slipped in while intake was closing is answered, not left waiting forever.
        Request late;
        while ((late = queue.poll()) != null) {
            late.result().completeExceptionally(new IllegalStateException("Predictor: closed before this request ran"));
        }
    }
}
