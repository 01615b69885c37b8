package dev.osprey.engine;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Checks;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Memory a plan's layers share for values that live only while one layer runs (an attention's heads and weights in an
 * inference plan): each layer's request is laid out from the start of one arena, which grows to the largest request.
 * Layers run one after another under the plan's lock, and a backend runs their ops in order, so no layer reads what
 * another wrote here. Owned by the plan's memory and freed with it.
 */
final class LayerScratch {
    /** Each tensor starts on a 64-byte boundary. */
    private static final long ALIGN_FLOATS = 16;

    private final Backend backend;
    private final Memory memory;
    private Tensor arena;

    LayerScratch(Backend backend, Memory memory) {
        this.backend = backend;
        this.memory = memory;
    }

    /** Tensors of these shapes, side by side at the start of the arena (made larger first where they don't fit). */
    List<Tensor> take(int[]... shapes) {
        long total = 0;
        long[] offsets = new long[shapes.length];
        for (int i = 0; i < shapes.length; i++) {
            offsets[i] = total;
            total += (Checks.elements(shapes[i]) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
        }
        if (arena == null || arena.size() < total) {
            // the last arena stays with the plan's memory until the plan closes: a later, larger request makes a new
            // one (requests of one size, a transformer's layers, make exactly one)
            arena = memory.allocate(Math.toIntExact(total));
        }
        List<Tensor> views = new ArrayList<>(shapes.length);
        for (int i = 0; i < shapes.length; i++) {
            views.add(backend.view(arena, offsets[i], shapes[i]));
        }
        return views;
    }
}
