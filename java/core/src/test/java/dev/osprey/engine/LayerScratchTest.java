package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The scratch memory a plan's layers share (PlanContext.scratch): a Vision Transformer's inference plan holds its
 * attention intermediates once, not once per block; a layer asking twice (which would lay its tensors over each other)
 * is refused.
 */
class LayerScratchTest {
    private static long inferencePlanBytes(int blocks, int batch) {
        Backend backend = Device.cpu().backend();
        try (Model m = Models.visionTransformer("ViT", Shape.of(32, 32, 3), 10, 4, 48, blocks, 3, 96);
             Network network = new Network(new Graph(m.inputs(), m.outputs()), backend)) {
            network.parameters().initialize(1);
            network.inferencePlan(batch);
            return network.planBytes();
        }
    }

    @Test
    void attentionIntermediatesAreHeldOncePerPlan() {
        int batch = 8, tokens = 65, width = 48, heads = 3;
        // one block's: the packed query, key and value rows, the context rows and the attention weights
        long perBlock = 4L * (4L * batch * tokens * width + (long) batch * heads * tokens * tokens);
        long one = inferencePlanBytes(1, batch);
        long four = inferencePlanBytes(4, batch);
        assertTrue(four - one < perBlock, "three more blocks added " + (four - one) + " bytes; their attention "
                + "intermediates alone would be " + 3 * perBlock + " (" + perBlock + " a block)");
    }

    /**
     * Each tensor of a request gets an arena of its own, so a request's tensors never overlap, whatever the sizes of
     * earlier requests; and a tensor past a backend's limit on one tensor is refused with its shape before anything
     * is allocated (an arena for the whole request would have refused sums of tensors that each fit).
     */
    @Test
    void aRequestsTensorsNeverOverlapAndAnOversizedOneIsRefused() {
        Backend backend = Device.cpu().backend();
        try (dev.osprey.backend.Memory memory = backend.newMemory()) {
            LayerScratch scratch = new LayerScratch(backend, memory);
            scratch.take(new int[] {10}, new int[] {20});
            List<dev.osprey.backend.Tensor> views = scratch.take(new int[] {30}, new int[] {5});
            backend.fill(views.get(0), 1f);
            backend.fill(views.get(1), 2f);
            float[] first = new float[30];
            float[] second = new float[5];
            backend.copyOut(views.get(0), first, 0);
            backend.copyOut(views.get(1), second, 0);
            for (float v : first) {
                assertTrue(v == 1f, "the first tensor was overwritten by the second");
            }
            for (float v : second) {
                assertTrue(v == 2f, "the second tensor lost its values");
            }
            long before = memory.bytes();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> scratch.take(new int[] {4}, new int[] {65536, 32768}));
            assertTrue(e.getMessage().contains("received shape (65536, 32768)"), e.getMessage());
            assertTrue(memory.bytes() == before, "nothing allocated for a refused request");
        }
    }

    /** A layer that asks for scratch twice. */
    static final class Greedy extends Layer {
        @Override
        public Shape outputShape(List<Shape> inputs) {
            return single(inputs);
        }

        @Override
        public LayerRun plan(PlanContext ctx) {
            ctx.scratch(new int[] {4});
            ctx.scratch(new int[] {4});
            return LayerRun.passThrough(ctx.input());
        }

        @Override
        protected Map<String, Object> layerConfig() {
            return Map.of();
        }
    }

    @Test
    void aLayerAskingTwiceIsRefused() {
        Input in = Input.shape(3);
        SymbolicTensor out = new Greedy().apply(in);
        try (Network network = new Network(new Graph(List.of(in), List.of(out)), Device.cpu().backend())) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> network.inferencePlan(2));
            Throwable cause = e;
            while (cause.getCause() != null && !cause.getMessage().contains("one request per layer")) {
                cause = cause.getCause();
            }
            assertTrue(cause.getMessage().contains("one request per layer"), e.toString());
        }
    }
}
