package dev.osprey.layers;

import dev.osprey.Layer;
import dev.osprey.Shape;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What Keras' element-wise merge layers share (Add, Multiply): two or more inputs of one shape, output that shape. */
abstract class Merge extends Layer {
    @Override
    public Shape outputShape(List<Shape> inputs) {
        if (inputs.size() < 2) {
            throw new IllegalArgumentException(className() + ": expected at least two inputs, received "
                    + inputs.size());
        }
        for (Shape s : inputs) {
            if (!s.equals(inputs.get(0))) {
                throw new IllegalArgumentException(className() + ": expected inputs of one shape, received "
                        + inputs.stream().map(Shape::toString).toList());
            }
        }
        return inputs.get(0);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        return new LinkedHashMap<>();
    }
}
