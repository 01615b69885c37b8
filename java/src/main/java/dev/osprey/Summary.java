package dev.osprey;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Keras' model.summary() table: layer names as Keras makes them (conv2d, conv2d_1, ...), shapes and counts. */
final class Summary {
    private Summary() {
    }

    static String of(Sequential model, Network network) {
        String rule = "_".repeat(70) + "\n";
        String thick = "=".repeat(70) + "\n";
        StringBuilder b = new StringBuilder();
        b.append("Model: \"sequential\"\n").append(rule);
        b.append(row("Layer (type)", "Output Shape", "Param #")).append(thick);
        Map<String, Integer> seen = new HashMap<>();
        List<Layer> layers = network.layers;
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            String base = snake(layer.className());
            int k = seen.merge(base, 1, Integer::sum) - 1;
            String name = k == 0 ? base : base + "_" + k;
            long params = network.paramSpecs.get(i).stream().mapToLong(ParamSpec::size).sum();
            String shape = "(None, " + String.join(", ", java.util.Arrays.stream(network.outputShapes.get(i).dims())
                    .mapToObj(Integer::toString).toList()) + ")";
            b.append(row(name + " (" + layer.className() + ")", shape, String.format(Locale.ROOT, "%,d", params)));
            b.append(i == layers.size() - 1 ? "" : "\n");
        }
        b.append(thick);
        long total = network.parameterCount();
        b.append(String.format(Locale.ROOT, "Total params: %,d%n", total));
        b.append(String.format(Locale.ROOT, "Trainable params: %,d%n", total));
        b.append("Non-trainable params: 0\n").append(rule);
        return b.toString();
    }

    private static String row(String a, String b, String c) {
        return String.format(Locale.ROOT, " %-33s%-26s%s%n", a, b, c);
    }

    /** "MaxPooling2D" -> "max_pooling2d", "Conv2D" -> "conv2d". */
    static String snake(String className) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < className.length(); i++) {
            char c = className.charAt(i);
            boolean upper = Character.isUpperCase(c);
            if (upper && i > 0 && Character.isLowerCase(className.charAt(i - 1))) {
                s.append('_');
            }
            s.append(Character.toLowerCase(c));
        }
        return s.toString();
    }
}
