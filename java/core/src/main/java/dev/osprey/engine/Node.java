package dev.osprey.engine;

import dev.osprey.Layer;
import dev.osprey.SymbolicTensor;
import java.util.List;

/** One call of a layer on symbolic tensors (Keras' node): the layer, its inputs, its output, which call it is. */
public final class Node {
    private final Layer layer;
    private final List<SymbolicTensor> inputs;
    private final int callIndex;
    private SymbolicTensor output;

    /** A call of layer on inputs (copied); its output is set afterwards with {@link #setOutput}. */
    public Node(Layer layer, List<SymbolicTensor> inputs, int callIndex) {
        this.layer = layer;
        this.inputs = List.copyOf(inputs);
        this.callIndex = callIndex;
    }

    /** Set once, by the layer call that made this node. */
    public void setOutput(SymbolicTensor output) {
        if (this.output != null) {
            throw new IllegalStateException("a node's output is set once");
        }
        this.output = output;
    }

    /** The layer called; shared by all of its calls. */
    public Layer layer() {
        return layer;
    }

    /** The tensors this call reads, in the layer's order (unmodifiable). */
    public List<SymbolicTensor> inputs() {
        return inputs;
    }

    /** The tensor this call makes; null until {@link #setOutput} has run. */
    public SymbolicTensor output() {
        return output;
    }

    /** 0 for the layer's first call, 1 for its second, ... */
    public int callIndex() {
        return callIndex;
    }

    @Override
    public String toString() {
        return layer.describe() + (callIndex == 0 ? "" : " (call " + (callIndex + 1) + ")");
    }
}
