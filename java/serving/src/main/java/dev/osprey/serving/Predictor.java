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
 * A model of several inputs or outputs is served by name: {@link #predict(Map)} takes one sample's values for each
 * input and answers each output's values (as they are: softmax is for a classifier's one output), batched alike.
 * {@link #close()} stops intake, finishes every accepted request, then frees the predictor's model.
 */
public final class Predictor implements AutoCloseable {
    private final int maxBatchSize;
    private final boolean acceptNonFinite;
    private final dev.osprey.Precision precision;
    private final long maxDelayNanos;
    private final CountDownLatch started = new CountDownLatch(1);
    private Model model;          // created, used and closed by the worker thread only
    // written by the worker before `started` opens
    private List<String> inputNames;
    private List<Shape> inputShapes;
    private int[] inputSizes;
    private List<String> outputNames;
    private List<Shape> outputShapes;
    private List<String> classNames;
    private dev.osprey.data.images.Preprocessing preprocessing;
    private int classes;
    /** The model outputs logits ({@link Model#outputsLogits}): answers are their softmax, as class probabilities. */
    private boolean softmaxLogits;
    private Throwable startFailure;
    private final BlockingQueue<Request> queue;
    /** The queue's capacity, kept apart: size() + remainingCapacity() is not one atomic read while others queue. */
    private final int queueCapacity;
    private final Thread worker;
    /** Per batch shape, a buffer for each input (the worker's only). */
    private final Map<Integer, float[][]> inputBuffers = new HashMap<>();
    private final AtomicInteger maxQueueDepth = new AtomicInteger();
    private final List<java.util.function.IntConsumer> batchListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean accepting = true;
    private volatile boolean running = true;
    private volatile Throwable workerFailure;

    /** One sample: its values for each input in the model's order; answered with each output's values. */
    private record Request(float[][] inputs, CompletableFuture<float[][]> result) {
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
            inputNames = model.inputs().stream().map(dev.osprey.Input::name).toList();
            inputShapes = model.inputs().stream().map(dev.osprey.SymbolicTensor::shape).toList();
            inputSizes = inputShapes.stream().mapToInt(Shape::size).toArray();
            outputNames = List.copyOf(model.outputNames());
            outputShapes = model.outputs().stream().map(dev.osprey.SymbolicTensor::shape).toList();
            classNames = model.classNames();
            preprocessing = model.preprocessing();
            classes = outputShapes.get(0).size();
            softmaxLogits = model.outputsLogits();
            // Plan every batch shape before the first request, so no request pays for planning.
            for (int bucket = bucket(1); ; bucket = bucket(bucket + 1)) {
                float[][] zeros = new float[inputSizes.length][];
                for (int in = 0; in < zeros.length; in++) {
                    zeros[in] = new float[bucket * inputSizes[in]];
                }
                predict(zeros, bucket); // the buffers for requests are made when a batch of this shape first runs
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

    /** The shape of one sample of the model's (first) input, e.g. (28, 28, 1). */
    public Shape inputShape() {
        return inputShapes.get(0);
    }

    /** The model's input names, in its order: the keys {@link #predict(Map)} takes. */
    public List<String> inputNames() {
        return inputNames;
    }

    /** The shape of one sample of each input, in the model's order. */
    public List<Shape> inputShapes() {
        return inputShapes;
    }

    /** The model's output names, in its order: the keys {@link #predict(Map)} answers with. */
    public List<String> outputNames() {
        return outputNames;
    }

    /** The shape of one sample of each output, in the model's order. */
    public List<Shape> outputShapes() {
        return outputShapes;
    }

    /** The class names saved with the model, in output order; empty when it has none. */
    public List<String> classNames() {
        return classNames;
    }

    /** How the model's training turned image files into inputs, or null when it was trained on arrays. */
    public dev.osprey.data.images.Preprocessing preprocessing() {
        return preprocessing;
    }

    /** Number of output classes: the length of each result (of the first output's, for a model of several). */
    public int classes() {
        return classes;
    }

    /**
     * Probabilities for one sample of the model's input size; waits for room in the queue if it is full. For a model of
     * one input and one output; others are served by {@link #predict(Map)}.
     */
    public float[] predict(float[] sample) {
        requireOneInputAndOutput("predict(float[])");
        float[][] inputs = {sample};
        checkSample(inputs);
        return await(enqueue(inputs, true))[0];
    }

    /** Probabilities (N, classes) for a batch; its rows join whatever else is being batched. One input and output. */
    public NDArray predict(NDArray batch) {
        requireOneInputAndOutput("predict(NDArray)");
        int sampleSize = inputSizes[0];
        if (batch.rowSize() != sampleSize) {
            throw new IllegalArgumentException("Predictor: expected samples of shape " + inputShape()
                    + ", received a batch of shape " + batch.shapeString());
        }
        List<CompletableFuture<float[][]>> futures = new ArrayList<>();
        for (int i = 0; i < batch.rows(); i++) {
            float[] row = new float[sampleSize];
            System.arraycopy(batch.data(), i * sampleSize, row, 0, sampleSize);
            float[][] inputs = {row};
            checkSample(inputs);
            futures.add(enqueue(inputs, true));
        }
        float[] out = new float[batch.rows() * classes];
        for (int i = 0; i < futures.size(); i++) {
            System.arraycopy(await(futures.get(i))[0], 0, out, i * classes, classes);
        }
        return new NDArray(out, batch.rows(), classes);
    }

    /**
     * Queues one sample without waiting for room: a full queue is a {@link QueueFullException}. For a model of one
     * input and one output.
     */
    public CompletableFuture<float[]> submit(float[] sample) {
        requireOneInputAndOutput("submit(float[])");
        float[][] inputs = {sample == null ? null : sample.clone()}; // reusing the array can't change a queued sample
        checkSample(inputs);
        return answerWith(enqueue(inputs, false), outputs -> outputs[0]);
    }

    /**
     * One sample of a model of any number of inputs and outputs: each input's values by its name ({@link #inputNames},
     * every one of them, nothing else), answered with each output's values by its name, in the model's output order.
     * Waits for room in the queue if it is full. A model of one output of logits is answered with their softmax, as
     * {@link #predict(float[])}; several outputs are answered as they are.
     */
    public Map<String, float[]> predict(Map<String, float[]> sample) {
        return named(await(enqueue(checkSample(inOrder(sample)), true)));
    }

    /** {@link #predict(Map)} without waiting for room: a full queue is a {@link QueueFullException}. */
    public CompletableFuture<Map<String, float[]>> submit(Map<String, float[]> sample) {
        float[][] inputs = inOrder(sample);
        for (int in = 0; in < inputs.length; in++) {
            inputs[in] = inputs[in].clone(); // a caller reusing its arrays can't change a queued sample
        }
        return answerWith(enqueue(checkSample(inputs), false), this::named);
    }

    /**
     * A future of the worker's answer made into what the caller asked for; a failure reaches the caller's callbacks
     * as it was raised (thenApply would wrap it in a CompletionException).
     */
    private static <T> CompletableFuture<T> answerWith(CompletableFuture<float[][]> answer,
                                                       java.util.function.Function<float[][], T> shape) {
        CompletableFuture<T> out = new CompletableFuture<>();
        answer.whenComplete((outputs, failure) -> {
            if (failure != null) {
                out.completeExceptionally(failure);
            } else {
                out.complete(shape.apply(outputs));
            }
        });
        return out;
    }

    /**
     * For the server: one sample's values for each input, in the model's order (checked here as any sample is), queued
     * without waiting for room; answered with each output's values in order.
     */
    CompletableFuture<float[][]> submitInputs(float[][] inputs) {
        return enqueue(checkSample(inputs), false);
    }

    private void requireOneInputAndOutput(String method) {
        if (inputNames.size() != 1 || outputNames.size() != 1) {
            throw new UnsupportedOperationException("Predictor: " + method + " serves a model of one input and one "
                    + "output; this one has " + inputNames.size() + " inputs " + inputNames + " and "
                    + outputNames.size() + " outputs " + outputNames + ": use predict(Map<String, float[]>) with a value for each input");
        }
    }

    /** The sample's arrays in the model's input order, or a clear error naming what is missing or unknown. */
    private float[][] inOrder(Map<String, float[]> sample) {
        java.util.Objects.requireNonNull(sample, "sample");
        for (String name : sample.keySet()) {
            if (!inputNames.contains(name)) {
                throw new IllegalArgumentException("Predictor: expected values for the inputs " + inputNames
                        + ", received an input named '" + name + "' this model lacks");
            }
        }
        float[][] inputs = new float[inputNames.size()][];
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = sample.get(inputNames.get(i));
            if (inputs[i] == null) {
                throw new IllegalArgumentException("Predictor: expected values for the inputs " + inputNames
                        + ", received none for '" + inputNames.get(i) + "' (shape " + inputShapes.get(i) + ")");
            }
        }
        return inputs;
    }

    /** Each output's values by name, in the model's output order. */
    private Map<String, float[]> named(float[][] outputs) {
        Map<String, float[]> byName = new java.util.LinkedHashMap<>();
        for (int o = 0; o < outputs.length; o++) {
            byName.put(outputNames.get(o), outputs[o]);
        }
        return java.util.Collections.unmodifiableMap(byName);
    }

    /**
     * Checked here, per sample, so that one bad sample fails its own request and not the batch it would join. Returns
     * inputs.
     */
    private float[][] checkSample(float[][] inputs) {
        if (inputs.length != inputSizes.length) { // the worker copies one array per input: never fewer
            throw new IllegalArgumentException("Predictor: expected values for " + inputSizes.length + " inputs "
                    + inputNames + ", received " + inputs.length);
        }
        for (int in = 0; in < inputs.length; in++) {
            float[] sample = inputs[in];
            String which = inputs.length == 1 ? "" : "input '" + inputNames.get(in) + "': ";
            if (sample == null || sample.length != inputSizes[in]) {
                throw new IllegalArgumentException("Predictor: " + which + "expected " + inputSizes[in]
                        + " values (one sample of shape " + inputShapes.get(in) + "), received "
                        + (sample == null ? "null" : sample.length));
            }
            if (!acceptNonFinite) {
                for (int i = 0; i < sample.length; i++) {
                    if (!Float.isFinite(sample[i])) {
                        throw new IllegalArgumentException("Predictor: " + which + "expected finite inputs, received "
                                + sample[i] + " at index " + i);
                    }
                }
            }
        }
        return inputs;
    }

    /** Whether NaN and infinite inputs are accepted (see {@link Builder#acceptNonFiniteInputs}). */
    public boolean acceptsNonFiniteInputs() {
        return acceptNonFinite;
    }

    private CompletableFuture<float[][]> enqueue(float[][] sample, boolean wait) {
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

    private static <T> T await(CompletableFuture<T> f) {
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
        float[][] inputs = inputBuffers(bucket);
        for (int i = 0; i < n; i++) {
            for (int in = 0; in < inputs.length; in++) {
                System.arraycopy(batch.get(i).inputs()[in], 0, inputs[in], i * inputSizes[in], inputSizes[in]);
            }
        }
        // Rows n..bucket keep whatever they held: rows are computed independently and their results are dropped.
        List<NDArray> outputs;
        try {
            outputs = predict(inputs, bucket);
        } catch (RuntimeException e) {
            batch.forEach(r -> r.result().completeExceptionally(e));
            return;
        }
        for (int i = 0; i < n; i++) {
            float[][] answer = new float[outputs.size()][];
            for (int o = 0; o < answer.length; o++) {
                NDArray out = outputs.get(o);
                int width = out.rowSize();
                answer[o] = new float[width];
                System.arraycopy(out.data(), i * width, answer[o], 0, width);
            }
            if (softmaxLogits) {
                Model.softmaxRows(answer[0], answer[0].length);
            }
            batch.get(i).result().complete(answer);
        }
        for (java.util.function.IntConsumer listener : batchListeners) {
            listener.accept(n);
        }
    }

    /** The worker's input buffers for a batch shape, made once. */
    private float[][] inputBuffers(int bucket) {
        return inputBuffers.computeIfAbsent(bucket, b -> {
            float[][] buffers = new float[inputSizes.length][];
            for (int in = 0; in < buffers.length; in++) {
                buffers[in] = new float[b * inputSizes[in]];
            }
            return buffers;
        });
    }

    /** Every output for a batch of this shape held in the input buffers. */
    private List<NDArray> predict(float[][] inputs, int bucket) {
        if (inputs.length == 1 && outputNames.size() == 1) {
            return List.of(model.predict(new NDArray(inputs[0], withBatch(bucket, 0)), bucket));
        }
        List<NDArray> arrays = new ArrayList<>(inputs.length);
        for (int in = 0; in < inputs.length; in++) {
            arrays.add(new NDArray(inputs[in], withBatch(bucket, in)));
        }
        return model.predict(arrays, bucket);
    }

    /** The batch shape for n requests: the next power of two, at least 2, at most maxBatchSize. */
    private int bucket(int n) {
        if (maxBatchSize == 1) {
            return 1;
        }
        int b = Integer.highestOneBit(Math.max(2, n) - 1) << 1;
        return Math.min(b, maxBatchSize);
    }

    private int[] withBatch(int batch, int input) {
        int[] sampleDims = inputShapes.get(input).dims();
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
