package dev.osprey.layers;

import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What Keras' global 2-D poolings share: (H, W, C) to (C) by one pooling whose window is the whole image (with
 * keepdims, to (1, 1, C)).
 */
public abstract class GlobalPooling2D extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private boolean keepDims;

    /** Only this package's global poolings extend it (public so that keepDims(...).apply(...) compiles anywhere). */
    GlobalPooling2D() {
    }

    abstract Pool2dSpec.Mode mode();

    /** Keep the pooled axes as (1, 1, C), as Keras' keepdims=True (each pooling returns its own type). */
    public GlobalPooling2D keepDims(boolean keep) {
        this.keepDims = keep;
        return this;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = image(inputs);
        return keepDims ? Shape.of(1, 1, in.dim(2)) : Shape.of(in.dim(2));
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Shape in = ctx.inputShape();
        return new Pooling2D.PoolRun(ctx, Pool2dSpec.global(mode(), ctx.batch(), in.dim(0), in.dim(1), in.dim(2)),
                ctx.outputBatchShape());
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("data_format", "channels_last");
        c.put("keepdims", keepDims);
        return c;
    }
}
