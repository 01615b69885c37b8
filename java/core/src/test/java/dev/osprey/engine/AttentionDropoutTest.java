package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Tensor;
import dev.osprey.layers.MultiHeadAttention;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * MultiHeadAttention's dropout acts while training: a training forward pass differs from inference, the same seed
 * drops the same weights, another seed others; with dropout 0 training and inference agree.
 */
class AttentionDropoutTest {
    private static float[] forward(Backend backend, ExecutionPlan plan, float[] x, long seed) {
        backend.copyIn(x, 0, plan.input(0));
        plan.forward(seed);
        float[] out = new float[(int) plan.output(0).size()];
        backend.copyOut(plan.output(0), out, 0);
        return out;
    }

    private static float[][] run(double rate) {
        Input in = Input.shape(7, 6);
        SymbolicTensor out = new MultiHeadAttention(2, 3).dropout(rate).apply(in, in);
        Graph graph = new Graph(List.of(in), List.of(out));
        Backend backend = Device.cpu().backend();
        try (Network network = new Network(graph, backend)) {
            network.parameters().initialize(5);
            float[] x = new float[4 * 7 * 6];
            Random r = new Random(9);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            ExecutionPlan training = network.trainingPlan(4); // the network's own: closed with it
            ExecutionPlan inference = network.inferencePlan(4);
            return new float[][] {forward(backend, inference, x, 0), forward(backend, training, x, 1),
                    forward(backend, training, x, 1), forward(backend, training, x, 2)};
        }
    }

    @Test
    void dropsAttentionWeightsWhileTrainingOnly() {
        float[][] r = run(0.5);
        assertFalse(java.util.Arrays.equals(r[0], r[1]), "a training pass drops weights");
        assertArrayEquals(r[1], r[2], 0f, "the same seed drops the same weights");
        assertFalse(java.util.Arrays.equals(r[1], r[3]), "another seed drops others");
        float[][] none = run(0);
        assertArrayEquals(none[0], none[1], 1e-6f, "without dropout training and inference agree");
        assertTrue(none[0].length == 4 * 7 * 6);
    }
}
