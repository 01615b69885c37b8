package dev.osprey.data.images;

import dev.osprey.BatchSource;
import dev.osprey.Shape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Batches from an image folder, decoded and augmented by a bounded pool of worker threads while the model trains.
 * Each batch is built whole by one worker into one of a fixed set of reusable buffers; batches are handed out in
 * order, so a run repeats exactly. Bad files fail with their name, or with skipBadFiles are reported once and
 * their slot is filled by another image of the same batch.
 */
public final class ImageBatchSource implements BatchSource {
    private final ImageFolder data;
    private final Preprocessing preprocessing;
    private final Augmentation augmentation;
    private final long augmentationSeed;
    private final boolean skipBadFiles;
    private final int window;
    private final ExecutorService workers;
    private final ThreadLocal<ImageDecoder> decoders = ThreadLocal.withInitial(ImageDecoder::new);
    private final BlockingQueue<Buffer> free;
    private final Deque<CompletableFuture<Buffer>> pending = new ArrayDeque<>();
    private final Set<String> skipped = Collections.synchronizedSet(new LinkedHashSet<>());
    private int[] order;
    private int epoch;
    private int batchSize;
    private int nextToSubmit;
    private int batches;
    private Buffer current;
    private long waitNanos;

    private static final class Buffer {
        float[] x = new float[0];
        float[] labels = new float[0];
        int[] samples = new int[0];
        int count;
    }

    /**
     * @param workers  decoding threads
     * @param prefetch batches kept ready beyond those being decoded
     */
    public ImageBatchSource(ImageFolder data, Preprocessing preprocessing, Augmentation augmentation, long seed,
                            int workers, int prefetch, boolean skipBadFiles) {
        if (workers <= 0 || prefetch < 0) {
            throw new IllegalArgumentException("expected workers > 0 and prefetch >= 0, received " + workers + " and " + prefetch);
        }
        this.data = data;
        this.preprocessing = preprocessing;
        this.augmentation = augmentation;
        this.augmentationSeed = seed;
        this.skipBadFiles = skipBadFiles;
        this.window = workers + prefetch;
        this.workers = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "osprey-images");
            t.setDaemon(true);
            return t;
        });
        // Load OpenCV's native libraries now (a few hundred ms once), not inside the first batch of training.
        org.bytedeco.javacpp.Loader.load(org.bytedeco.opencv.global.opencv_imgcodecs.class);
        org.bytedeco.javacpp.Loader.load(org.bytedeco.opencv.global.opencv_imgproc.class);
        ImageDecoder.loadNative(); // and its one-time thread setting
        this.free = new ArrayBlockingQueue<>(window + 1);
        for (int i = 0; i <= window; i++) {
            free.add(new Buffer());
        }
    }

    @Override
    public int size() {
        return data.size();
    }

    @Override
    public Shape sampleShape() {
        return Shape.of(preprocessing.height(), preprocessing.width(), preprocessing.channels());
    }

    @Override
    public int labelRowSize() {
        return 1;
    }

    /** The folder's class names, in label order. */
    public List<String> classNames() {
        return data.classNames();
    }

    /** Files skipped so far because they could not be decoded (with skipBadFiles). */
    public List<String> skippedFiles() {
        synchronized (skipped) {
            return List.copyOf(skipped);
        }
    }

    @Override
    public void startEpoch(int epoch, int batchSize, boolean shuffle, long seed) {
        drain();
        if (!pending.isEmpty()) { // interrupted while batches were in flight: they would come out as this epoch's
            throw new IllegalStateException("interrupted while finishing the previous epoch's batches");
        }
        this.epoch = epoch;
        this.batchSize = batchSize;
        this.waitNanos = 0;
        this.nextToSubmit = 0;
        this.batches = (data.size() + batchSize - 1) / batchSize;
        order = BatchSource.epochOrder(data.size(), shuffle, seed, epoch);
        while (nextToSubmit < batches && pending.size() < window) {
            submit();
        }
    }

    private void submit() {
        Buffer buffer = free.poll();
        if (buffer == null) {
            throw new IllegalStateException("no free batch buffer");
        }
        int k = nextToSubmit++;
        int[] epochOrder = order;
        int e = epoch;
        int size = batchSize;
        pending.add(CompletableFuture.supplyAsync(() -> fill(buffer, epochOrder, e, k, size), workers));
    }

    @Override
    public Batch next() {
        if (current != null) {
            free.add(current);
            current = null;
        }
        if (pending.isEmpty()) {
            return null;
        }
        long t0 = System.nanoTime();
        Buffer b;
        try {
            b = pending.peek().get(); // taken off pending once it came: interrupted, it stays there for drain
            pending.poll();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a batch", e);
        } catch (ExecutionException e) {
            pending.poll();
            free.add(new Buffer()); // the failed task's buffer is gone with it: the source stays usable
            drain();
            Throwable cause = e.getCause();
            if (cause instanceof UncheckedIOException u) {
                throw u;
            }
            throw cause instanceof RuntimeException r ? r : new IllegalStateException(cause);
        }
        waitNanos += System.nanoTime() - t0;
        if (nextToSubmit < batches) {
            submit();
        }
        current = b;
        return new Batch(b.x, b.labels, b.count, b.samples);
    }

    /**
     * Jumps: the batches in flight are dropped and decoding goes on from the batch after the skipped ones (each image's
     * augmentation is drawn from (seed, epoch, sample), whatever was decoded before).
     */
    @Override
    public void skip(int batches) {
        if (order == null || batches <= 0) {
            return;
        }
        int nextToRead = nextToSubmit - pending.size();
        drain();
        if (!pending.isEmpty()) { // interrupted while batches were in flight: they would come out after the skip
            throw new IllegalStateException("interrupted while skipping batches");
        }
        nextToSubmit = (int) Math.min(this.batches, nextToRead + (long) batches);
        while (nextToSubmit < this.batches && pending.size() < window) {
            submit();
        }
    }

    /** Decodes batch k of an epoch into the buffer (runs on a worker). */
    private Buffer fill(Buffer buffer, int[] epochOrder, int e, int k, int size) {
        int start = k * size;
        int count = Math.min(size, epochOrder.length - start);
        int sampleSize = preprocessing.sampleSize();
        if (buffer.x.length < size * sampleSize) {
            buffer.x = new float[size * sampleSize];
            buffer.labels = new float[size];
        }
        if (buffer.samples.length < size) {
            buffer.samples = new int[size];
        }
        System.arraycopy(epochOrder, start, buffer.samples, 0, count);
        ImageDecoder decoder = decoders.get();
        List<Integer> good = new ArrayList<>();
        List<Integer> bad = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int index = epochOrder[start + i];
            try {
                byte[] bytes = readImageFile(data.file(index));
                decoder.decode(bytes, data.file(index).toString(), preprocessing,
                        augmentation.draw(augmentationSeed, e, index), augmentation.fillMode(), buffer.x, i * sampleSize);
                buffer.labels[i] = data.label(index);
                good.add(i);
            } catch (IOException ex) {
                if (!skipBadFiles) {
                    throw new UncheckedIOException(ex);
                }
                skipped.add(ex.getMessage());
                bad.add(i);
            }
        }
        if (!bad.isEmpty()) {
            if (good.isEmpty()) {
                throw new UncheckedIOException(new ImageDecodeException("every image of a batch failed to decode, e.g. "
                        + skippedFiles().get(0)));
            }
            for (int j = 0; j < bad.size(); j++) { // a skipped slot takes another image of the same batch
                int from = good.get(j % good.size()), to = bad.get(j);
                System.arraycopy(buffer.x, from * sampleSize, buffer.x, to * sampleSize, sampleSize);
                buffer.labels[to] = buffer.labels[from];
                buffer.samples[to] = buffer.samples[from];
            }
        }
        buffer.count = count;
        return buffer;
    }

    /** The largest image file read: a file beyond it is a bad file (skippable), not an OutOfMemoryError. */
    static final long MAX_FILE_BYTES = 1L << 30;

    private static byte[] readImageFile(java.nio.file.Path file) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) {
            throw new ImageDecodeException(file + ": expected an image file of at most " + MAX_FILE_BYTES
                    + " bytes, received " + size);
        }
        return Files.readAllBytes(file);
    }

    /** Waits for batches in flight (e.g. after an early stop) and returns their buffers. */
    private void drain() {
        while (!pending.isEmpty()) {
            try {
                free.add(pending.peek().get()); // off pending once it came: interrupted, it stays for the next drain
                pending.poll();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (ExecutionException e) {
                pending.poll();
                free.add(new Buffer()); // the failed task's buffer is gone with it
            }
        }
        if (current != null) {
            free.add(current);
            current = null;
        }
    }

    @Override
    public double waitSeconds() {
        return waitNanos / 1e9;
    }

    @Override
    public void close() {
        drain();
        workers.shutdownNow();
    }
}
