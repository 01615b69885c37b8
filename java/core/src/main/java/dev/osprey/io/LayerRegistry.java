package dev.osprey.io;

import dev.osprey.Config;
import dev.osprey.Layer;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Finds the layer class a model file names. Osprey's own layers need no entry: "Conv2D" is the class
 * dev.osprey.layers.Conv2D, made by its public static {@code fromConfig(Config)}. A layer defined elsewhere is
 * registered once with {@link #register}. Only classes that extend {@link Layer} are ever made.
 */
public final class LayerRegistry {
    private static final String BUILT_IN_PACKAGE = "dev.osprey.layers.";
    private static final Map<String, Function<Config, Layer>> REGISTERED = new ConcurrentHashMap<>();

    private LayerRegistry() {
    }

    /** Makes model files with layers of this class name loadable (for layers outside dev.osprey.layers). */
    public static void register(String className, Function<Config, Layer> fromConfig) {
        if (className == null || !className.matches("[A-Za-z_][A-Za-z0-9_]*") || fromConfig == null) {
            throw new IllegalArgumentException("LayerRegistry: expected a class name and a factory, received '"
                    + className + "'");
        }
        REGISTERED.put(className, fromConfig);
    }

    /** A new layer of this class from its configuration. */
    public static Layer fromConfig(String className, Map<String, Object> config) {
        if (className == null || !className.matches("[A-Za-z_][A-Za-z0-9_]{0,99}")) {
            throw new IllegalArgumentException("expected a layer class name, received '" + className + "'");
        }
        Config c = new Config(className, config);
        Function<Config, Layer> registered = REGISTERED.get(className);
        if (registered != null) {
            return registered.apply(c);
        }
        Method factory = builtIn(className);
        try {
            return (Layer) factory.invoke(null, c);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalArgumentException(className + ": " + e.getCause(), e.getCause());
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(className + ".fromConfig is not accessible", e);
        }
    }

    private static Method builtIn(String className) {
        Class<?> type;
        try {
            type = Class.forName(BUILT_IN_PACKAGE + className, false, LayerRegistry.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new IllegalArgumentException("unknown layer class '" + className + "' (not one of Osprey's layers, "
                    + "and not registered with LayerRegistry.register)");
        }
        if (!Layer.class.isAssignableFrom(type)) {
            throw new IllegalArgumentException("unknown layer class '" + className + "'");
        }
        try {
            Method m = type.getMethod("fromConfig", Config.class);
            if (!Modifier.isStatic(m.getModifiers()) || !Layer.class.isAssignableFrom(m.getReturnType())) {
                throw new NoSuchMethodException();
            }
            return m;
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException("layer class " + className + " has no public static fromConfig(Config)");
        }
    }
}
