package dev.osprey;

/** One parameter a layer owns: its Keras name ("kernel", "bias"), its shape and how it starts. */
public record ParamSpec(String name, int[] shape, Initializer initializer, int fanIn, int fanOut) {
    public enum Initializer { GLOROT_UNIFORM, ZEROS }

    public int size() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }
}
