package dev.osprey;

/**
 * A model's input, as Keras' {@code keras.Input(shape=(32, 32, 3))}: a symbolic tensor with no layer behind it.
 * Build layers on it with {@link Layer#apply}, then {@code new Model(input, output)}.
 */
public final class Input extends SymbolicTensor {
    private String name;

    private Input(Shape shape) {
        super(shape, null);
    }

    /** An input of one sample of this shape, e.g. Input.shape(32, 32, 3) for colour images (channels last). */
    public static Input shape(int... dims) {
        return new Input(Shape.of(dims));
    }

    /** An input of one sample of this shape. */
    public static Input shape(Shape shape) {
        return new Input(shape);
    }

    /** Names the input (a model names unnamed inputs input_1, input_2, ...). */
    public Input name(String name) {
        if (name == null || !name.matches("[A-Za-z0-9_.\\-/]{1,200}")) {
            throw new IllegalArgumentException("Input: expected a name of 1 to 200 letters, digits, '_', '-', '.' or '/', "
                    + "received '" + name + "'");
        }
        this.name = name;
        return this;
    }

    /** The input's name, or null until it is named by the user or by the first model that takes it. */
    public String name() {
        return name;
    }

    /** For the engine: names an unnamed input when a model first takes it. */
    public void nameIfUnnamed(String name) {
        if (this.name == null) {
            this.name = name;
        }
    }

    @Override
    public String describe() {
        return shape() + " from Input" + (name == null ? "" : " '" + name + "'");
    }
}
