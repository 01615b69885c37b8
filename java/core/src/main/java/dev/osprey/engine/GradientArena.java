package dev.osprey.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Where a training plan puts the input gradients of its {@link Fusion.OwnInputGradients} calls: one arena, each
 * gradient at an offset it shares with gradients whose lives do not overlap its own. A backward pass runs the calls in
 * reverse order, so a gradient lives from the backward of the call that writes it (its reader in the forward pass) down
 * to the backward of the last call that may read it:
 * <ul>
 *   <li>the producer of the value it is the gradient of, whose backward receives it;</li>
 *   <li>where that producer is not known to own its input gradients (an Add, a Flatten: it may hand the gradient it
 *       receives on as its inputs' gradients, or a view of it), on through it: to each of its inputs' producers in
 *       turn, or, where an input has several gradient contributions, to that input's first reader (the last backward
 *       to contribute, which sums the contributions: a gradient handed on is then added, never handed further).</li>
 * </ul>
 * Every gradient an owning call writes for a value is taken to be its whole gradient, handed to the producer (the last
 * contributor may write the sum in its own gradient), so gradients of values with several readers live a little
 * longer than they must. Training plans after two steps, one tensor per gradient against the arena
 * (benchmarks/results/gradient-arena-2026-12-05.md): ResNet-20 at batch 128 439.5 against 269.6 MB, MobileNetV2
 * 284.1 against 169.8 MB, ResNet-18 at 224x224 and batch 32 1,686.9 against 1,105.6 MB; training as fast.
 */
final class GradientArena {
    /** Offsets are multiples of 4 KiB, so that every gradient starts on a page (and a cache line). */
    static final int ALIGN_FLOATS = 1024;

    private GradientArena() {
    }

    /**
     * The layout: per call and input, the gradient's offset in floats (-1: none in the arena) and the lowest call whose
     * backward may read it (its life ends there); the arena's size; unshared: what the same gradients take one tensor
     * each.
     */
    record Layout(long[][] offsets, int[][] lowest, long floats, long unshared) {
    }

    /** One gradient: call `node`'s input `input`, its size, and the calls whose backwards it lives through. */
    private record Item(int node, int input, long floats, int lowest) {
        boolean overlaps(Item o) {
            return lowest <= o.node && o.lowest <= node;
        }
    }

    /**
     * @param reads         per call in plan order, the value ids it reads (empty for a call that runs nothing)
     * @param producer      per value id, the call that computes it, or -1 (a model input)
     * @param owns          per call: it owns its input gradients (the arena holds them)
     * @param needsGradient per value id: the plan computes its gradient
     * @param valueFloats   per value id, its size with the batch
     */
    static Layout plan(int[][] reads, int[] producer, boolean[] owns, boolean[] needsGradient, long[] valueFloats) {
        int calls = reads.length;
        int[] contributions = new int[valueFloats.length];
        int[] firstReader = new int[valueFloats.length];
        Arrays.fill(firstReader, Integer.MAX_VALUE);
        for (int n = 0; n < calls; n++) {
            for (int id : reads[n]) {
                if (needsGradient[id]) {
                    contributions[id]++;
                    firstReader[id] = Math.min(firstReader[id], n);
                }
            }
        }
        int[] lowest = new int[valueFloats.length];
        Arrays.fill(lowest, -2); // not worked out yet
        List<Item> items = new ArrayList<>();
        long unshared = 0;
        long[][] offsets = new long[calls][];
        int[][] lives = new int[calls][];
        for (int n = 0; n < calls; n++) {
            offsets[n] = new long[reads[n].length];
            Arrays.fill(offsets[n], -1);
            lives[n] = new int[reads[n].length];
            Arrays.fill(lives[n], -1);
            if (!owns[n]) {
                continue;
            }
            for (int i = 0; i < reads[n].length; i++) {
                int id = reads[n][i];
                if (!needsGradient[id] || producer[id] < 0) {
                    continue; // no gradient, or a model input's (kept apart: nothing in the plan reads it)
                }
                Item item = new Item(n, i, aligned(valueFloats[id]),
                        lowestReader(id, reads, producer, owns, needsGradient, contributions, firstReader, lowest));
                items.add(item);
                lives[n][i] = item.lowest;
                unshared += valueFloats[id];
            }
        }
        items.sort(Comparator.comparingLong(Item::floats).reversed().thenComparingInt(Item::node));
        List<Item> placed = new ArrayList<>();
        List<Long> placedAt = new ArrayList<>();
        long floats = 0;
        for (Item item : items) {
            long at = firstFit(item, placed, placedAt);
            placed.add(item);
            placedAt.add(at);
            offsets[item.node][item.input] = at;
            floats = Math.max(floats, at + item.floats);
        }
        return new Layout(offsets, lives, floats, unshared);
    }

    /**
     * The lowest call whose backward may read the gradient of value id (see the class comment), memoized in lowest.
     * It follows producers that may hand gradients on with a stack of its own, not recursion, so that a long run of
     * such calls (views, pass-throughs) cannot exhaust the thread's stack, as Graph orders calls.
     */
    private static int lowestReader(int id, int[][] reads, int[] producer, boolean[] owns, boolean[] needsGradient,
                                    int[] contributions, int[] firstReader, int[] lowest) {
        java.util.ArrayDeque<Integer> pending = new java.util.ArrayDeque<>();
        pending.push(id);
        while (!pending.isEmpty()) {
            int v = pending.peek();
            if (lowest[v] != -2) {
                pending.pop();
                continue;
            }
            int p = producer[v];
            if (p < 0 || owns[p]) {
                lowest[v] = p < 0 ? 0 : p; // a model input's gradient: kept to the end of the pass
                pending.pop();
                continue;
            }
            int low = p;
            boolean ready = true;
            for (int u : reads[p]) {
                if (!needsGradient[u]) {
                    continue;
                }
                if (contributions[u] >= 2) {
                    low = Math.min(low, firstReader[u]); // summed there, handed no further
                } else if (lowest[u] == -2) {
                    pending.push(u); // work it out first, then come back to v
                    ready = false;
                } else {
                    low = Math.min(low, lowest[u]);
                }
            }
            if (ready) {
                lowest[v] = low;
                pending.pop();
            }
        }
        return lowest[id];
    }

    /** The lowest aligned offset where item fits beside every placed item whose life overlaps its own. */
    private static long firstFit(Item item, List<Item> placed, List<Long> placedAt) {
        List<long[]> taken = new ArrayList<>();
        for (int j = 0; j < placed.size(); j++) {
            if (placed.get(j).overlaps(item)) {
                taken.add(new long[] {placedAt.get(j), placedAt.get(j) + placed.get(j).floats});
            }
        }
        taken.sort(Comparator.comparingLong(r -> r[0]));
        long at = 0;
        for (long[] range : taken) {
            if (at + item.floats <= range[0]) {
                break;
            }
            at = Math.max(at, range[1]);
        }
        return at;
    }

    private static long aligned(long floats) {
        return (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }
}
