package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Initializer;
import dev.osprey.Layer;
import dev.osprey.Padding;
import dev.osprey.Shape;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The setters every layer has (name, trainable, inputShape) return the layer's own type, so that they chain with its
 * own setters in any order, as a Keras user writes the arguments in any order.
 */
class LayerChainingTest {
    @Test
    void commonSettersChainBeforeALayersOwn() {
        // These lines compile only where the common setters return the layer's own type.
        Conv2D conv = new Conv2D(32, 3).inputShape(28, 28, 1).name("conv1").trainable(false).padding(Padding.SAME);
        MaxPooling2D pool = new MaxPooling2D(2).name("pool1").strides(1);
        GlobalMaxPooling2D global = new GlobalMaxPooling2D().keepDims(true).name("squeeze"); // its own type too
        Dense dense = new Dense(10).trainable(false).name("logits").kernelInitializer(Initializer.heNormal());

        assertEquals("conv1", conv.name());
        assertFalse(conv.trainable());
        assertEquals(Shape.of(28, 28, 1), conv.declaredInputShape().orElseThrow());
        assertEquals("same", conv.getConfig().get("padding"));
        assertEquals("pool1", pool.name());
        assertEquals(List.of(1, 1), pool.getConfig().get("strides"));
        assertEquals("logits", dense.name());
        assertEquals(true, global.getConfig().get("keepdims"));
        assertEquals("HeNormal", ((java.util.Map<?, ?>) dense.getConfig().get("kernel_initializer")).get("class_name"));
    }

    @Test
    void everyBuiltInLayerReturnsItsOwnTypeFromTheCommonSetters() throws Exception {
        List<Class<?>> layers = builtInLayers();
        assertTrue(layers.size() >= 20, "expected Osprey's 20-odd layer classes, found " + layers);
        List<String> wrong = new ArrayList<>();
        for (Class<?> layer : layers) {
            check(layer, "name", String.class, wrong);
            check(layer, "trainable", boolean.class, wrong);
            check(layer, "inputShape", int[].class, wrong);
        }
        assertEquals(List.of(), wrong, "these return a wider type than their layer's, so a chain after them breaks "
                + "(override them as Conv2D does)");
    }

    /** The return type of the nearest declaration (bridges skipped: javac adds them for public subclasses). */
    private static void check(Class<?> layer, String name, Class<?> parameter, List<String> wrong) {
        Type returned = Layer.class;
        search:
        for (Class<?> c = layer; c != Layer.class; c = c.getSuperclass()) {
            for (Method m : c.getDeclaredMethods()) {
                if (m.getName().equals(name) && !m.isBridge() && m.getParameterCount() == 1
                        && m.getParameterTypes()[0] == parameter) {
                    returned = resolve(m.getGenericReturnType(), layer);
                    break search;
                }
            }
        }
        if (returned != layer) {
            wrong.add(layer.getSimpleName() + "." + name + " returns " + returned.getTypeName());
        }
    }

    /** A type variable of a superclass (Pooling2D's P) as the layer's superclass chain binds it. */
    private static Type resolve(Type t, Class<?> layer) {
        if (!(t instanceof TypeVariable<?> variable)) {
            return t;
        }
        for (Class<?> c = layer; c != null && c != Object.class; c = c.getSuperclass()) {
            if (c.getGenericSuperclass() instanceof ParameterizedType p
                    && p.getRawType() == variable.getGenericDeclaration()) {
                TypeVariable<?>[] declared = ((Class<?>) p.getRawType()).getTypeParameters();
                for (int i = 0; i < declared.length; i++) {
                    if (declared[i].getName().equals(variable.getName())) {
                        return p.getActualTypeArguments()[i];
                    }
                }
            }
        }
        return t;
    }

    /** The public concrete Layer classes of dev.osprey.layers, read from the directory the classes were built into. */
    private static List<Class<?>> builtInLayers() throws IOException, URISyntaxException, ClassNotFoundException {
        Path dir = Path.of(Conv2D.class.getResource("Conv2D.class").toURI()).getParent();
        List<Class<?>> found = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                String file = f.getFileName().toString();
                if (!file.endsWith(".class") || file.contains("$")) {
                    continue;
                }
                Class<?> c = Class.forName("dev.osprey.layers." + file.substring(0, file.length() - 6));
                if (Layer.class.isAssignableFrom(c) && Modifier.isPublic(c.getModifiers())
                        && !Modifier.isAbstract(c.getModifiers())) {
                    found.add(c);
                }
            }
        }
        return found;
    }
}
