package dev.osprey.backend.cpu;

import java.io.File;
import org.bytedeco.javacpp.Loader;
import org.slf4j.LoggerFactory;

/**
 * Osprey's own native CPU code, {@code libospreycpu.so}, built from {@code native/cpu} into the jar on Linux: the
 * OpenMP team size of the calling thread ({@link OpenMpTeam}) and the Winograd convolution ({@link Winograd}). Loaded
 * once, after oneDNN, so that it binds to the libgomp oneDNN uses. Without it the backend still works: every
 * primitive uses the whole OpenMP team and every convolution runs through oneDNN; {@link #unavailableReason} says why.
 */
final class NativeCpu {
    static final String LIBRARY = "libospreycpu.so";
    private static final String UNAVAILABLE = load();

    private NativeCpu() {
    }

    /**
     * Null where one of the library's AVX2 kernels can run: the library loaded and supported (its native check) says
     * the processor has AVX2 and FMA; otherwise why not, naming the kernel.
     */
    static String kernelUnavailable(String kernel, java.util.function.BooleanSupplier supported) {
        String reason = unavailableReason();
        if (reason != null) {
            return reason;
        }
        try {
            return supported.getAsBoolean() ? null : "this processor lacks AVX2 and FMA, which " + kernel + " needs";
        } catch (LinkageError e) {
            return LIBRARY + " lacks " + kernel + ": " + e;
        }
    }

    /**
     * The system property that turns off the 512-bit paths of the pooled, pointwise and depthwise kernels and the
     * batch-norm kernels' written-out loops.
     */
    static final String WIDE_VECTORS_PROPERTY = "osprey.cpu.wideVectors";

    /**
     * Whether -Dosprey.cpu.wideVectors lets the pooled, pointwise and depthwise kernels take their 512-bit paths where
     * the processor has AVX-512F: true (the default) or false, read when a plan is made. The paths give the same bits
     * as the 256-bit ones; they were timed on a Zen 5 (full-width 512-bit units) only, so on a processor that splits
     * 512-bit work into halves false is the way to compare. The batch-norm kernels' 512-bit loops fall back to the
     * compiler's (also 512-bit where the processor has AVX-512F), the same bits; for them the setting is read when a
     * CPU backend is made, as it also decides which batch normalizations run there (a plain ReLU's gate in bits).
     * (The Winograd kernel has its own switch, -Dosprey.cpu.winogradAvx512.) Throws IllegalArgumentException for any other value.
     */
    static boolean wideVectorsAllowed() {
        return switchOn(WIDE_VECTORS_PROPERTY, true);
    }

    /**
     * A kernel switch: the system property's value, true or false (any case, blanks around it ignored), or unset
     * where it is not set; throws IllegalArgumentException, naming the property, for any other value.
     */
    static boolean switchOn(String property, boolean unset) {
        String raw = System.getProperty(property, String.valueOf(unset));
        String value = raw.trim().toLowerCase(java.util.Locale.ROOT);
        if (!value.equals("true") && !value.equals("false")) {
            throw new IllegalArgumentException("-D" + property + ": expected true or false, received '" + raw + "'");
        }
        return value.equals("true");
    }

    /** Null when the library is loaded; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    private static String load() {
        String platform = Loader.getPlatform();
        String resource = platform + "/" + LIBRARY;
        if (NativeCpu.class.getResource(resource) == null) {
            String reason = platform.startsWith("linux-")
                    ? LIBRARY + " was not built into this jar (native/cpu/build.sh needs gcc and a JDK's jni.h)"
                    : LIBRARY + " is built for Linux only, and this is " + platform;
            LoggerFactory.getLogger(NativeCpu.class).info("small oneDNN primitives will use every OpenMP thread, and "
                    + "3x3 convolutions oneDNN's direct kernels: {}", reason);
            return reason;
        }
        try {
            Loader.load(org.bytedeco.dnnl.global.dnnl.class); // first: the library binds to the libgomp oneDNN loaded
            File file = Loader.cacheResource(NativeCpu.class, resource);
            System.load(file.getAbsolutePath());
            return null;
        } catch (Exception | LinkageError e) {
            String reason = "could not load " + LIBRARY + ": " + e;
            LoggerFactory.getLogger(NativeCpu.class).warn("small oneDNN primitives will use every OpenMP thread, and "
                    + "3x3 convolutions oneDNN's direct kernels: {}", reason);
            return reason;
        }
    }
}
