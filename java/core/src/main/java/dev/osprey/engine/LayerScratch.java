package dev.osprey.engine;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Checks;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Memory a plan's layers share for values that live only while one layer runs (an attention's heads and weights in an
 * inference plan): the i-th tensor of each layer's request is a view at the start of the i-th arena, which grows to
 * the largest i-th tensor requested. Layers run one after another under the plan's lock, and a backend runs their ops
 * in order, so no layer reads what another wrote here. Each tensor keeps a backend's limit on one tensor's size (an
 * arena for the whole request would have to hold their sum). Owned by the plan's memory and freed with it.
 */
final class LayerScratch {
    private final Backend backend;
    private final Memory memory;
    private final List<Tensor> arenas = new ArrayList<>();

    LayerScratch(Backend backend, Memory memory) {
        this.backend = backend;
        this.memory = memory;
    }

    /** Tensors of these shapes, each at the start of its arena (made larger first where it doesn't fit). */
    List<Tensor> take(int[]... shapes) {
        for (int[] shape : shapes) { // all checked before any is allocated
            if (Checks.elements(shape) > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("layer scratch: expected a tensor of at most " + Integer.MAX_VALUE
                        + " values, received shape " + Tensor.describe(shape) + "; use a smaller batch");
            }
        }
        List<Tensor> views = new ArrayList<>(shapes.length);
        for (int i = 0; i < shapes.length; i++) {
            long elements = Checks.elements(shapes[i]);
            if (arenas.size() == i) {
                arenas.add(null);
            }
            Tensor arena = arenas.get(i);
            if (arena == null || arena.size() < elements) {
                // the last arena stays with the plan's memory until the plan closes: a later, larger request makes a
                // new one (requests of one size, a transformer's layers, make exactly one per position)
                arena = memory.allocate((int) Math.max(elements, 1));
                arenas.set(i, arena);
            }
            views.add(backend.view(arena, 0, shapes[i]));
        }
        return views;
    }
}
