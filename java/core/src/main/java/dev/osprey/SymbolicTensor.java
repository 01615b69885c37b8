package dev.osprey;

import dev.osprey.engine.Node;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A tensor of the functional API: the shape of one sample and the layer call that will compute it (none for an
 * {@link Input}). It holds no values; a {@link Model} built from inputs and outputs plans the real tensors.
 */
public class SymbolicTensor {
    private final Shape shape;
    private final Node node;

    /** For the engine and {@link Input}: a tensor made by this node (null for a model input). */
    public SymbolicTensor(Shape shape, Node node) {
        if (shape == null) {
            throw new IllegalArgumentException("SymbolicTensor: expected a shape, received null");
        }
        this.shape = shape;
        this.node = node;
    }

    /** The shape of one sample, without the batch dimension. */
    public Shape shape() {
        return shape;
    }

    /** The layer call that computes this tensor; null for a model input. */
    public Node node() {
        return node;
    }

    /** The layer that computes this tensor; null for a model input. */
    public Layer layer() {
        return node == null ? null : node.layer();
    }

    /** "(8, 8, 16) from Conv2D 'conv2d'": for messages. */
    public String describe() {
        return shape + " from " + (node == null ? "an Input" : node.layer().describe());
    }

    static String describeAll(List<SymbolicTensor> tensors) {
        return tensors.stream().map(SymbolicTensor::describe).collect(Collectors.joining(" and "));
    }

    @Override
    public String toString() {
        return "SymbolicTensor" + shape;
    }
}
