package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.backend.Backend;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.PlanContext;

/**
 * One weight row repeated for every sample of a batch, and its gradient, the sum of the samples' rows: the broadcast is
 * a dense op from a column of ones, (batch, 1) times the row (1, width), and the sum is that op's weight gradient, ones^T
 * times the gradient rows. So layers that give every sample the same learned values (a position embedding, a class
 * token) run on every backend's matrix products with no op of their own. Everything is made once per plan.
 */
final class RowBroadcast {
    private final Backend backend;
    private final DenseSpec spec;
    private final Tensor ones;
    private final Tensor zeros;
    private final Tensor row;
    private final Tensor dRow;
    private final Tensor biasGradient;

    /** row: the weight values, at least width of them (the first width are used); dRow its gradient, or null. */
    RowBroadcast(PlanContext ctx, Tensor row, Tensor dRow, int width) {
        this.backend = ctx.backend();
        this.spec = new DenseSpec(ctx.batch(), 1, width, Activation.LINEAR);
        this.ones = ctx.allocate(ctx.batch(), 1);
        backend.fill(ones, 1f);
        this.zeros = ctx.allocate(width);
        backend.fill(zeros, 0f);
        this.row = backend.view(row, 0, 1, width);
        this.dRow = dRow == null ? null : backend.view(dRow, 0, 1, width);
        this.biasGradient = dRow == null ? null : ctx.allocate(width);
    }

    /** rows (batch, width): the row in every one of them. */
    void broadcast(Tensor rows) {
        backend.denseForward(spec, ones, row, zeros, rows);
    }

    /** Whether there is a gradient to sum into. */
    boolean trains() {
        return dRow != null;
    }

    /** The row's gradient = the sum over the batch of dRows (batch, width). */
    void sum(Tensor dRows) {
        backend.denseBackwardWeights(spec, ones, dRows, dRow, biasGradient);
    }
}
