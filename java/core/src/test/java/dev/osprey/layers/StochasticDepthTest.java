package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.engine.ExecutionPlan;
import dev.osprey.engine.Graph;
import dev.osprey.engine.Network;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Stochastic depth on a residual branch: in inference the identity; while training each sample's branch is either
 * dropped whole or scaled by 1 / (1 - rate), about a share rate of samples dropped, the same samples for the same
 * seed, and a batch split by rows (data-parallel replicas) drops what the whole batch drops.
 */
class StochasticDepthTest {
    private static final Backend CPU = Device.cpu().backend();
    private static final int H = 3, W = 2, C = 4, SIZE = H * W * C;

    private static Graph branch(double rate) {
        Input in = Input.shape(H, W, C);
        SymbolicTensor y = new StochasticDepth(rate).apply(new Rescaling(2.0).apply(in));
        return new Graph(List.of(in), List.of(y));
    }

    private static float[] images(int batch) {
        Random r = new Random(5);
        float[] x = new float[batch * SIZE];
        for (int i = 0; i < x.length; i++) {
            x[i] = 1f + r.nextFloat(); // never 0: a dropped sample shows as all zeros
        }
        return x;
    }

    private static float[] trainingForward(Graph graph, float[] x, int batch, long seed, int firstRow) {
        try (Network network = new Network(graph, CPU); ExecutionPlan plan = network.trainingPlan(batch)) {
            CPU.copyIn(x, 0, plan.input(0));
            plan.forward(seed, firstRow);
            float[] y = new float[batch * SIZE];
            CPU.copyOut(plan.output(0), y, 0);
            return y;
        }
    }

    @Test
    void eachSampleIsDroppedWholeOrScaledAndAboutRateOfThemDrop() {
        int batch = 400;
        double rate = 0.3;
        float[] x = images(batch);
        float[] y = trainingForward(branch(rate), x, batch, 17, 0);
        int dropped = 0;
        for (int n = 0; n < batch; n++) {
            boolean zero = y[n * SIZE] == 0f;
            dropped += zero ? 1 : 0;
            for (int i = n * SIZE; i < (n + 1) * SIZE; i++) {
                float expected = zero ? 0f : (float) (2 * x[i] / (1 - rate));
                assertEquals(expected, y[i], 1e-5f * Math.abs(expected), "sample " + n + ", value " + i);
            }
        }
        assertTrue(dropped > 0.2 * batch && dropped < 0.4 * batch, dropped + " of " + batch + " samples dropped");
        assertArrayEquals(y, trainingForward(branch(rate), x, batch, 17, 0), "the same seed drops the same samples");
    }

    /** Rows 5.. of a batch of 12, planned on their own and skipped to row 5, drop what the whole batch drops there. */
    @Test
    void aBatchSplitByRowsDropsWhatTheWholeBatchDrops() {
        float[] x = images(12);
        float[] whole = trainingForward(branch(0.5), x, 12, 99, 0);
        float[] tail = java.util.Arrays.copyOfRange(x, 5 * SIZE, 12 * SIZE);
        assertArrayEquals(java.util.Arrays.copyOfRange(whole, 5 * SIZE, 12 * SIZE),
                trainingForward(branch(0.5), tail, 7, 99, 5));
    }

    /**
     * Rate 0 (torchvision gives its first ConvNeXt block one) trains like no layer at all: the same weights after a
     * step as the model without it. Three residual blocks, so that the training plan lays the input gradients out in
     * its shared arena and checks that the layer writes its own, as its mark promises.
     */
    @Test
    void rateZeroTrainsAsIfTheLayerWereNotThere() {
        int batch = 4, side = 8;
        Random r = new Random(9);
        float[] x = new float[batch * side * side * C];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] labels = {0, 1, 2, 0};
        float[][] weights = new float[2][];
        for (int withLayer = 0; withLayer < 2; withLayer++) {
            Input in = Input.shape(side, side, C);
            SymbolicTensor h = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(in);
            for (int block = 0; block < 3; block++) {
                SymbolicTensor branch = new Conv2D(8, 3, dev.osprey.Activation.TANH).padding(dev.osprey.Padding.SAME)
                        .apply(h);
                branch = new Conv2D(8, 3).padding(dev.osprey.Padding.SAME).apply(branch);
                if (withLayer == 1) {
                    branch = new StochasticDepth(0.0).apply(branch);
                }
                h = new Add().apply(h, branch);
            }
            SymbolicTensor out = new Dense(3, dev.osprey.Activation.SOFTMAX).apply(new GlobalAveragePooling2D()
                    .apply(h));
            try (Model model = new Model(in, out)) {
                model.seed(3).compile(new dev.osprey.optim.Adam(), dev.osprey.loss.Loss.sparseCategoricalCrossentropy());
                model.fit(new NDArray(x, batch, side, side, C), new NDArray(labels, batch), new dev.osprey.FitOptions()
                        .epochs(1).batchSize(batch).verbose(false).shuffle(false));
                weights[withLayer] = model.getWeights().get(0).data();
            }
        }
        assertArrayEquals(weights[0], weights[1], 0f);
    }

    @Test
    void inferenceIsTheIdentityAndBadRatesAreRefused() {
        Input in = Input.shape(H, W, C);
        try (Model model = new Model(in, new StochasticDepth(0.9).apply(in))) {
            float[] x = images(3);
            assertArrayEquals(x, model.predict(new NDArray(x, 3, H, W, C)).data(), 0f);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new StochasticDepth(1.0));
        assertTrue(e.getMessage().contains("0 <= rate < 1") && e.getMessage().contains("1.0"), e.getMessage());
    }
}
