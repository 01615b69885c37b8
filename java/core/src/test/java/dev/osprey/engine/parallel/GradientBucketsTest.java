package dev.osprey.engine.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Input;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.engine.Graph;
import dev.osprey.engine.Network;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Optimizer;
import dev.osprey.optim.SGD;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Gradients summed bucket by bucket while backward runs give the bits of one sum after it. */
class GradientBucketsTest {
    private static final Backend CPU = Device.cpu().backend();

    private static Graph graph(Dense shared) {
        Input in = Input.shape(6, 6, 2);
        SymbolicTensor x = new Flatten().apply(new Conv2D(4, 3, Activation.RELU).apply(new Conv2D(3, 1).apply(in)));
        x = new Dense(8, Activation.RELU).apply(x);
        if (shared != null) {
            x = shared.apply(shared.apply(x)); // one layer called twice: its gradient is final only at the end
        }
        SymbolicTensor out = new Dense(3, Activation.SOFTMAX).apply(x);
        return new Graph(List.of(in), List.of(out));
    }

    @Test
    void bucketsCoverTheArenaLastLayersFirstAndWaitForSharedLayers() {
        Graph g = graph(new Dense(8, Activation.RELU));
        try (Network n = new Network(g, CPU)) {
            GradientBuckets b = new GradientBuckets(g, n.parameters(), 1);
            List<GradientBuckets.Bucket> all = b.buckets();
            assertTrue(all.size() >= 5, "a bucket per weight at this size, received " + all.size());
            assertEquals(n.parameters().gradientArena().size(), all.get(0).end(), "bucket 0 ends the arena");
            assertEquals(0, all.get(all.size() - 1).start(), "the last bucket starts it");
            for (int i = 1; i < all.size(); i++) {
                assertEquals(all.get(i - 1).start(), all.get(i).end(), "buckets are contiguous");
            }
            assertFalse(all.get(0).atEnd(), "the output layer's bucket goes first");
            assertTrue(all.stream().anyMatch(GradientBuckets.Bucket::atEnd), "the shared layer's waits");
            GradientBuckets.Progress p = b.new Progress();
            int last = g.nodes().size() - 1;
            List<Integer> ready = p.afterCall(last);
            assertTrue(ready.contains(0), "the output layer's backward readies bucket 0: " + ready);
            List<Integer> rest = p.rest();
            assertEquals(all.size(), ready.size() + rest.size(), "every bucket is launched once");
        }
    }

    @Test
    void tinyBucketsGiveTheSameWeightsAsOneBucket() throws Exception {
        float[][] results = new float[2][];
        long[] sizes = {8, DataParallel.DEFAULT_BUCKET_FLOATS};
        int[] bucketCounts = new int[2];
        for (int k = 0; k < 2; k++) {
            Graph g = graph(null);
            Loss loss = Loss.sparseCategoricalCrossentropy();
            List<DataParallel.Replica> replicas = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Network n = new Network(g, CPU);
                n.parameters().initialize(5);
                Optimizer.Updater u = n.bindOptimizer(memory -> new SGD(0.05, 0.9, false).bind(CPU, memory,
                        n.parameters().trainableArena(), n.parameters().gradientArena(), null));
                n.trainWith(loss);
                replicas.add(new DataParallel.Replica(n, u));
            }
            try (DataParallel parallel = new DataParallel(replicas, new HostCommunicator(List.of(CPU, CPU, CPU)), loss,
                    false, sizes[k])) {
                bucketCounts[k] = parallel.buckets();
                Random r = new Random(9);
                for (int step = 0; step < 4; step++) {
                    int rows = 7;
                    float[] x = new float[rows * 72];
                    float[] targets = new float[rows * 3];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) r.nextGaussian();
                    }
                    for (int i = 0; i < rows; i++) {
                        targets[i * 3 + r.nextInt(3)] = 1f;
                    }
                    parallel.load(x, targets, 3, rows);
                    parallel.step(step);
                }
                float[] w = new float[Math.toIntExact(replicas.get(0).network().parameters().trainableArena().size())];
                CPU.copyOut(replicas.get(0).network().parameters().trainableArena(), w, 0);
                float[] other = new float[w.length];
                CPU.copyOut(replicas.get(2).network().parameters().trainableArena(), other, 0);
                assertArrayEquals(w, other, "every replica holds the same weights");
                results[k] = w;
            } finally {
                replicas.get(0).network().close();
            }
        }
        assertTrue(bucketCounts[0] > 1 && bucketCounts[1] == 1, "buckets: " + bucketCounts[0] + " and "
                + bucketCounts[1]);
        assertArrayEquals(results[1], results[0]);
    }
}
