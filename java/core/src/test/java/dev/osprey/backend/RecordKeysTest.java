package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.osprey.Activation;
import dev.osprey.Precision;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The plan-cache keys whose equals and hashCode are written out (for start-up speed) must still behave as a record's:
 * equal exactly when every component is equal. Each component is changed in turn, so a component added later and
 * forgotten in equals fails here.
 */
class RecordKeysTest {
    static Stream<Record> keys() {
        Conv2dSpec conv = new Conv2dSpec(2, 16, 16, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true,
                new Activation(Activation.Kind.RELU, 0.1f, 6f));
        return Stream.of(conv, new Activation(Activation.Kind.RELU, 0.1f, 6f),
                new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 16, 16, 4, 2, 2, 2, 2, 0, 0, 0, 0),
                new ConvInference(conv, true, Precision.INT8, new InputRange(-1f, 1f), false,
                        new InputRange(0f, 6f)),
                new ConvInference(conv.withActivation(Activation.RELU), true, Precision.INT8,
                        new InputRange(-1f, 1f), true, new InputRange(0f, 6f)).withResidualRange(new InputRange(0f, 5f)),
                new ConvInference(new Conv2dSpec(2, 16, 16, 4, 8, 1, 1, 1, 1, 0, 0, 0, 0, Activation.RELU), false,
                        Precision.FP32).withDepthwise(new Conv2dSpec(2, 16, 16, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 8,
                        true, Activation.RELU6)),
                new ConvInference(conv, false, Precision.FP32).withMaxPool(
                        new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 16, 16, 8, 2, 2, 2, 2, 0, 0, 0, 0)));
    }

    @ParameterizedTest
    @MethodSource("keys")
    void equalExactlyWhenEveryComponentIsEqual(Record key) throws Exception {
        RecordComponent[] components = key.getClass().getRecordComponents();
        Object[] values = new Object[components.length];
        for (int i = 0; i < components.length; i++) {
            values[i] = components[i].getAccessor().invoke(key);
        }
        Record same = construct(key.getClass(), values);
        assertEquals(key, same);
        assertEquals(key.hashCode(), same.hashCode());
        for (int i = 0; i < components.length; i++) {
            Record changed = null;
            for (Object other : alternatives(values[i])) {
                Object[] v = values.clone();
                v[i] = other;
                try {
                    changed = construct(key.getClass(), v);
                    break;
                } catch (InvocationTargetException | IllegalArgumentException refused) {
                    // the constructor validates (or the value is of another type); try the next value
                }
            }
            if (changed == null) {
                continue; // nothing else valid in this key; everyComponentVariesInSomeKey checks another key varies it
            }
            assertNotEquals(key, changed, "changing " + components[i].getName() + " must make the key differ");
            assertNotEquals(key.hashCode(), changed.hashCode(), "changing " + components[i].getName()
                    + " should change the hash");
        }
    }

    /** A component no key can vary would go unchecked: each record type's every component varies in some key. */
    @org.junit.jupiter.api.Test
    void everyComponentVariesInSomeKey() throws Exception {
        java.util.Map<String, Boolean> varied = new java.util.TreeMap<>();
        for (Record key : keys().toList()) {
            RecordComponent[] components = key.getClass().getRecordComponents();
            Object[] values = new Object[components.length];
            for (int i = 0; i < components.length; i++) {
                values[i] = components[i].getAccessor().invoke(key);
            }
            for (int i = 0; i < components.length; i++) {
                String name = key.getClass().getSimpleName() + "." + components[i].getName();
                boolean valid = false;
                for (Object other : alternatives(values[i])) {
                    Object[] v = values.clone();
                    v[i] = other;
                    try {
                        construct(key.getClass(), v);
                        valid = true;
                        break;
                    } catch (InvocationTargetException | IllegalArgumentException refused) {
                        // try the next value
                    }
                }
                varied.merge(name, valid, Boolean::logicalOr);
            }
        }
        varied.forEach((name, ok) -> {
            if (!ok) {
                fail("no key has a valid alternative value for " + name);
            }
        });
    }

    private static List<Object> alternatives(Object value) {
        List<Object> out = new ArrayList<>();
        if (value == null) {
            out.add(new InputRange(0f, 6f));
        } else if (value instanceof Integer n) {
            out.add(n + 1);
            out.add(n - 1);
        } else if (value instanceof Boolean b) {
            out.add(!b);
        } else if (value instanceof Float f) {
            out.add(f + 0.5f);
            out.add(f * 2);
        } else if (value instanceof Enum<?> e) {
            for (Object constant : e.getDeclaringClass().getEnumConstants()) {
                if (constant != e) {
                    out.add(constant);
                }
            }
        } else if (value instanceof Conv2dSpec s) {
            out.add(new Conv2dSpec(s.batch() + 1, s.inH(), s.inW(), s.inC(), s.filters(), s.kernelH(), s.kernelW(),
                    s.strideH(), s.strideW(), s.padTop(), s.padLeft(), s.padBottom(), s.padRight(), s.dilationH(),
                    s.dilationW(), s.groups(), s.hasBias(), s.activation()));
            out.add(s.withActivation(s.activation().kind() == Activation.Kind.LINEAR ? Activation.RELU
                    : Activation.LINEAR));
            out.add(null); // where a spec may be absent (a fused depthwise convolution)
        } else if (value instanceof Pool2dSpec p) {
            out.add(null); // where a pooling may be absent (a fused max pooling)
        } else if (value instanceof Activation a) {
            out.add(Activation.LINEAR);
        } else if (value instanceof InputRange r) {
            out.add(new InputRange(r.min(), r.max() + 1));
            out.add(null);
        } else {
            throw new IllegalArgumentException("no alternatives for " + value);
        }
        return out;
    }

    private static Record construct(Class<?> type, Object[] values) throws Exception {
        Class<?>[] types = java.util.Arrays.stream(type.getRecordComponents()).map(RecordComponent::getType)
                .toArray(Class<?>[]::new);
        Constructor<?> canonical = type.getDeclaredConstructor(types);
        return (Record) canonical.newInstance(values);
    }
}
