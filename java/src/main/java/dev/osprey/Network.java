package dev.osprey;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A built model on one backend: the shape chain, one contiguous arena for the parameters and one for their
 * gradients (so an optimizer step is one call), and the per-batch-size plans. Owns the backend.
 */
final class Network implements AutoCloseable {
    private static final int ALIGN_FLOATS = 16; // 64 bytes: every parameter starts on a cache line

    final Backend backend;
    final List<Layer> layers;
    final Shape inputShape;
    final List<Shape> outputShapes = new ArrayList<>();
    final List<List<ParamSpec>> paramSpecs = new ArrayList<>();
    final Tensor params;                       // (arena floats)
    final Tensor grads;                        // (arena floats)
    final Tensor trainStats;                   // [loss sum, correct] of the epoch so far
    final Tensor evalStats;                    // the same for evaluate / validation
    private final List<List<Tensor>> paramViews = new ArrayList<>();
    private final List<List<Tensor>> gradViews = new ArrayList<>();
    private final Map<Integer, BatchPlan> plans = new HashMap<>();
    private final long parameterCount;

    Network(List<Layer> layers, Shape inputShape, Backend backend) {
        this.layers = List.copyOf(layers);
        this.inputShape = inputShape;
        this.backend = backend;
        Shape shape = inputShape;
        long arena = 0;
        long count = 0;
        List<List<long[]>> offsets = new ArrayList<>();
        for (Layer layer : this.layers) {
            List<ParamSpec> specs = layer.parameters(shape);
            List<long[]> layerOffsets = new ArrayList<>();
            for (ParamSpec p : specs) {
                layerOffsets.add(new long[] {arena});
                arena += (p.size() + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
                count += p.size();
            }
            paramSpecs.add(specs);
            offsets.add(layerOffsets);
            shape = layer.outputShape(shape);
            outputShapes.add(shape);
        }
        this.parameterCount = count;
        params = backend.allocate((int) Math.max(arena, 1));
        grads = backend.allocate((int) Math.max(arena, 1));
        trainStats = backend.allocate(2);
        evalStats = backend.allocate(2);
        for (int i = 0; i < this.layers.size(); i++) {
            List<Tensor> pv = new ArrayList<>();
            List<Tensor> gv = new ArrayList<>();
            for (int j = 0; j < paramSpecs.get(i).size(); j++) {
                long offset = offsets.get(i).get(j)[0];
                int[] s = paramSpecs.get(i).get(j).shape();
                pv.add(backend.view(params, offset, s));
                gv.add(backend.view(grads, offset, s));
            }
            paramViews.add(pv);
            gradViews.add(gv);
        }
    }

    long parameterCount() {
        return parameterCount;
    }

    Shape outputShape() {
        return outputShapes.get(outputShapes.size() - 1);
    }

    /** Keras' initializers: Glorot-uniform kernels, zero biases; the same seed gives the same weights. */
    void initialize(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < layers.size(); i++) {
            for (int j = 0; j < paramSpecs.get(i).size(); j++) {
                ParamSpec p = paramSpecs.get(i).get(j);
                float[] values = new float[p.size()];
                if (p.initializer() == ParamSpec.Initializer.GLOROT_UNIFORM) {
                    double limit = Math.sqrt(6.0 / (p.fanIn() + p.fanOut()));
                    for (int k = 0; k < values.length; k++) {
                        values[k] = (float) ((random.nextDouble() * 2 - 1) * limit);
                    }
                }
                backend.copyIn(values, 0, paramViews.get(i).get(j));
            }
        }
    }

    /** Every parameter, in Keras' order (layer by layer, kernel then bias). */
    List<NDArray> getWeights() {
        List<NDArray> out = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            for (int j = 0; j < paramSpecs.get(i).size(); j++) {
                ParamSpec p = paramSpecs.get(i).get(j);
                float[] values = new float[p.size()];
                backend.copyOut(paramViews.get(i).get(j), values, 0);
                out.add(new NDArray(values, p.shape()));
            }
        }
        return out;
    }

    void setWeights(List<NDArray> weights) {
        int expected = paramSpecs.stream().mapToInt(List::size).sum();
        if (weights.size() != expected) {
            throw new IllegalArgumentException("setWeights: expected " + expected + " arrays, received " + weights.size());
        }
        int k = 0;
        for (int i = 0; i < layers.size(); i++) {
            for (int j = 0; j < paramSpecs.get(i).size(); j++, k++) {
                ParamSpec p = paramSpecs.get(i).get(j);
                NDArray w = weights.get(k);
                if (!java.util.Arrays.equals(w.shape(), p.shape())) {
                    throw new IllegalArgumentException("setWeights: expected " + layers.get(i).className() + " "
                            + p.name() + " of shape " + Tensor.describe(p.shape()) + ", received " + w.shapeString());
                }
                backend.copyIn(w.data(), 0, paramViews.get(i).get(j));
            }
        }
    }

    /** The plan for this batch size, made on first use and kept. */
    BatchPlan plan(int batch) {
        return plans.computeIfAbsent(batch, this::newPlan);
    }

    private BatchPlan newPlan(int batch) {
        Tensor input = backend.allocate(inputShape.withBatch(batch));
        List<LayerRun> runs = new ArrayList<>();
        Tensor current = input;
        Shape shape = inputShape;
        for (int i = 0; i < layers.size(); i++) {
            // The first layer with parameters needs no input gradient, nor does anything before it.
            boolean inputGradient = needsInputGradient(i);
            LayerRun run = layers.get(i).plan(backend, current, shape, batch, paramViews.get(i), gradViews.get(i),
                    inputGradient);
            runs.add(run);
            current = run.output();
            shape = outputShapes.get(i);
        }
        int classes = outputShape().size();
        return new BatchPlan(backend, batch, input, runs, classes, inputShape.size());
    }

    private boolean needsInputGradient(int layer) {
        for (int i = 0; i < layer; i++) {
            if (!paramSpecs.get(i).isEmpty()) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() {
        backend.close();
    }
}
