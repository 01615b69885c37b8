package dev.osprey.bench;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * ONNX Runtime for Java as a side-by-side inference peer (benchmarks/run-graph-models-vs-peers.sh,
 * benchmarks/run-inference-vs-peers.sh): loads a model exported by benchmarks/peers/pytorch_models.py and measures
 * inference images/s at batch BATCH (256 unless given) and batch-1 latency (median, p99), each in a time-based loop
 * after a warm-up (at batch 1 the one Osprey's figure gets).
 *
 * <p>Inputs are random normal values in the shape the file declares (NCHW, any image size) with the batch axis set
 * to BATCH or 1, wrapped once, before timing, in direct buffers that ONNX Runtime reads without a copy. Each timed
 * call runs the session, copies the logits into a Java array and applies a softmax over them in Java, as the
 * PyTorch side applies a softmax to its output.
 *
 * <p>Session: intra-op threads = THREADS, inter-op threads 1, graph optimization level ALL, sequential execution.
 * Prints {@code RESULT onnxruntime <model> <figure> <value>} lines for infer_b&lt;BATCH&gt; (infer_b256 by default),
 * latency_p50_ms, latency_p99_ms.
 *
 * <p>Usage: OrtPeer MODEL_NAME FILE.onnx SECONDS THREADS [BATCH=256]
 */
public final class OrtPeer {
    private static final int DEFAULT_BATCH = 256;
    private static final int SINGLES = 256;
    private static final String USAGE = "usage: OrtPeer MODEL_NAME FILE.onnx SECONDS THREADS [BATCH=256]";

    private OrtPeer() {
    }

    public static void main(String[] args) throws OrtException {
        if (args.length != 4 && args.length != 5) {
            System.err.println(USAGE);
            System.exit(2);
        }
        String name = args[0];
        String file = args[1];
        double seconds = Double.parseDouble(args[2]);
        int threads = Integer.parseInt(args[3]);
        int batch = args.length == 5 ? Integer.parseInt(args[4]) : DEFAULT_BATCH;
        if (batch < 1) {
            System.err.println("BATCH must be at least 1, received " + batch + "\n" + USAGE);
            System.exit(2);
        }

        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            try (OrtSession session = env.createSession(file, options)) {
                Map.Entry<String, NodeInfo> input = session.getInputInfo().entrySet().iterator().next();
                long[] shape = ((TensorInfo) input.getValue().getInfo()).getShape(); // e.g. [-1, 3, 32, 32]
                System.out.printf(Locale.ROOT,
                        "INFO onnxruntime version=%s threads=%d softmax=java input=%s%s batch=%d%n",
                        env.getVersion(), threads, input.getKey(), Arrays.toString(shape).replace(" ", ""), batch);
                Random random = new Random(42);
                double imagesPerSecond = inferenceImagesPerSecond(env, session, input.getKey(), shape, batch,
                        random, seconds);
                double[] latency = latencyMillis(env, session, input.getKey(), shape, random, seconds);
                System.out.printf(Locale.ROOT, "RESULT onnxruntime %s infer_b%d %.1f%n", name, batch,
                        imagesPerSecond);
                System.out.printf(Locale.ROOT, "RESULT onnxruntime %s latency_p50_ms %.4f%n", name, latency[0]);
                System.out.printf(Locale.ROOT, "RESULT onnxruntime %s latency_p99_ms %.4f%n", name, latency[1]);
            }
        }
    }

    private static double inferenceImagesPerSecond(OrtEnvironment env, OrtSession session, String inputName,
            long[] shape, int batch, Random random, double seconds) throws OrtException {
        try (OnnxTensor x = randomTensor(env, withBatch(shape, batch), random)) {
            Map<String, OnnxTensor> feed = Map.of(inputName, x);
            for (int i = 0; i < 3; i++) {
                runWithSoftmax(session, feed);
            }
            long images = 0;
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            long now;
            do {
                runWithSoftmax(session, feed);
                images += batch;
                now = System.nanoTime();
            } while (now < end);
            return images / ((now - start) / 1e9);
        }
    }

    /** Batch-1 latency in ms over the images of a pool, cycled: {median, p99}. */
    private static double[] latencyMillis(OrtEnvironment env, OrtSession session, String inputName, long[] shape,
            Random random, double seconds) throws OrtException {
        List<OnnxTensor> singles = new ArrayList<>();
        try {
            for (int i = 0; i < SINGLES; i++) {
                singles.add(randomTensor(env, withBatch(shape, 1), random));
            }
            // the warm-up Osprey's figure gets (ModelBenchmark.batchOneLatencyMillis)
            long warmUpEnd = System.nanoTime() + dev.osprey.benchmark.ModelBenchmark.warmUpNanos(seconds);
            for (int i = 0; i < dev.osprey.benchmark.ModelBenchmark.WARM_UP_CALLS || System.nanoTime() < warmUpEnd;
                    i++) {
                runWithSoftmax(session, Map.of(inputName, singles.get(i % SINGLES)));
            }
            double[] samples = new double[200_000];
            int n = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (n < samples.length && System.nanoTime() < end) {
                Map<String, OnnxTensor> feed = Map.of(inputName, singles.get(n % SINGLES));
                long t0 = System.nanoTime();
                runWithSoftmax(session, feed);
                samples[n++] = (System.nanoTime() - t0) / 1e6;
            }
            double[] sorted = Arrays.copyOf(samples, n);
            Arrays.sort(sorted);
            return new double[] {sorted[n / 2], sorted[Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)]};
        } finally {
            for (OnnxTensor t : singles) {
                t.close();
            }
        }
    }

    /** One forward pass: the logits copied into Java, then a softmax over each row in Java. */
    private static float[] runWithSoftmax(OrtSession session, Map<String, OnnxTensor> feed) throws OrtException {
        try (OrtSession.Result result = session.run(feed)) {
            OnnxTensor logits = (OnnxTensor) result.get(0);
            long[] shape = logits.getInfo().getShape();
            FloatBuffer buffer = logits.getFloatBuffer();
            float[] p = new float[buffer.remaining()];
            buffer.get(p);
            int classes = (int) shape[shape.length - 1];
            for (int row = 0; row < p.length; row += classes) {
                float max = Float.NEGATIVE_INFINITY;
                for (int j = row; j < row + classes; j++) {
                    max = Math.max(max, p[j]);
                }
                float sum = 0;
                for (int j = row; j < row + classes; j++) {
                    p[j] = (float) Math.exp(p[j] - max);
                    sum += p[j];
                }
                for (int j = row; j < row + classes; j++) {
                    p[j] /= sum;
                }
            }
            return p;
        }
    }

    private static long[] withBatch(long[] shape, int batch) {
        long[] s = shape.clone();
        s[0] = batch;
        for (long d : s) {
            if (d <= 0) {
                throw new IllegalArgumentException("input has a dynamic axis besides the batch: "
                        + Arrays.toString(shape));
            }
        }
        return s;
    }

    private static OnnxTensor randomTensor(OrtEnvironment env, long[] shape, Random random) throws OrtException {
        long count = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        FloatBuffer values = ByteBuffer.allocateDirect(Math.toIntExact(count * Float.BYTES))
                .order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (long i = 0; i < count; i++) {
            values.put((float) random.nextGaussian());
        }
        values.rewind();
        return OnnxTensor.createTensor(env, values, shape);
    }
}
