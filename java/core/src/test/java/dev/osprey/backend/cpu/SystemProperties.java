package dev.osprey.backend.cpu;

import java.util.function.Supplier;

/** Tests that read a system property when a backend or a setting is made: set it for the length of one call. */
public final class SystemProperties {
    private SystemProperties() {
    }

    /** Runs make with the property set to value (null: unset), restoring the property afterwards. */
    public static <T> T with(String property, String value, Supplier<T> make) {
        String before = System.getProperty(property);
        if (value == null) {
            System.clearProperty(property);
        } else {
            System.setProperty(property, value);
        }
        try {
            return make.get();
        } finally {
            if (before == null) {
                System.clearProperty(property);
            } else {
                System.setProperty(property, before);
            }
        }
    }
}
