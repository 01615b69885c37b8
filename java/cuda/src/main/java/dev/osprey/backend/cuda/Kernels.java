package dev.osprey.backend.cuda;

import dev.osprey.backend.BackendException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Osprey's own kernels: the fatbins the build put in the jar, loaded with cuModuleLoadData. Each call site gets a
 * {@link Launch} whose argument slots are allocated once, so launching allocates nothing. The argument kinds of each
 * launch site are checked against native/kernels.h, where every kernel is declared once (KernelBuildTest).
 */
final class Kernels implements AutoCloseable {
    static final String RESOURCE_DIR = "/dev/osprey/backend/cuda/kernels/";
    /** The build's list of modules, one per native/*.cu. */
    static final String MODULE_LIST = "modules.txt";
    private static final int THREADS = 256;

    private final List<CUmod_st> modules = new ArrayList<>();
    private final Map<String, CUfunc_st> functions = new HashMap<>();
    private final Map<String, Launch> launches = new HashMap<>();

    Kernels() {
        try {
            for (String module : modules()) {
                byte[] image = resource(module + ".fatbin");
                CUmod_st handle = new CUmod_st();
                try (BytePointer data = new BytePointer(image)) {
                    Status.driver(cudart.cuModuleLoadData(handle, data), "cuModuleLoadData(" + module + ".fatbin)");
                }
                modules.add(handle);
            }
        } catch (RuntimeException e) {
            close(); // unloads the modules loaded before the failure
            throw e;
        }
    }

    /** True when the build embedded every kernel module (it does wherever nvcc was present). */
    static boolean embedded() {
        if (Kernels.class.getResource(RESOURCE_DIR + MODULE_LIST) == null) {
            return false;
        }
        for (String module : modules()) {
            if (Kernels.class.getResource(RESOURCE_DIR + module + ".fatbin") == null) {
                return false;
            }
        }
        return true;
    }

    /** The modules the build listed. */
    static List<String> modules() {
        String text = new String(resource(MODULE_LIST), java.nio.charset.StandardCharsets.UTF_8);
        return text.lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
    }

    private static byte[] resource(String file) {
        try (InputStream in = Kernels.class.getResourceAsStream(RESOURCE_DIR + file)) {
            if (in == null) {
                throw new BackendException("this build of Osprey has no CUDA kernels (" + file + " is missing: "
                        + "nvcc was not found when the jar was built)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new BackendException("could not read the CUDA kernel file " + file + " from the jar", e);
        }
    }

    /**
     * The launch site for one kernel with the given argument kinds: 'p' pointer, 'l' long, 'i' int, 'f' float. Call
     * sites of the same kernel share it (ops are serialized, and each sets every argument before it runs).
     */
    Launch launch(String kernel, String argumentKinds) {
        Launch existing = launches.get(kernel);
        if (existing != null) {
            if (!existing.kinds.equals(argumentKinds)) {
                throw new IllegalStateException(kernel + ": launched with argument kinds " + argumentKinds
                        + " and " + existing.kinds);
            }
            return existing;
        }
        CUfunc_st function = functions.get(kernel);
        if (function == null) {
            function = new CUfunc_st();
            int status = -1;
            for (CUmod_st module : modules) {
                status = cudart.cuModuleGetFunction(function, module, kernel);
                if (status == cudart.CUDA_SUCCESS) {
                    break;
                }
            }
            Status.driver(status, "cuModuleGetFunction(" + kernel + ")");
            functions.put(kernel, function);
        }
        Launch l = new Launch(kernel, function, argumentKinds);
        launches.put(kernel, l);
        return l;
    }

    @Override
    public void close() {
        launches.values().forEach(Launch::close);
        for (CUmod_st m : modules) {
            cudart.cuModuleUnload(m);
        }
        modules.clear();
    }

    /** One kernel with preallocated argument slots; set the arguments, then {@link #run}. */
    static final class Launch implements AutoCloseable {
        private final String name;
        private final CUfunc_st function;
        private final String kinds;
        private final Pointer[] slots;
        private final PointerPointer<Pointer> parameters;

        Launch(String name, CUfunc_st function, String kinds) {
            this.name = name;
            this.function = function;
            this.kinds = kinds;
            this.slots = new Pointer[kinds.length()];
            this.parameters = new PointerPointer<>(kinds.length());
            for (int i = 0; i < kinds.length(); i++) {
                slots[i] = switch (kinds.charAt(i)) {
                    case 'p', 'l' -> new LongPointer(1);
                    case 'i' -> new IntPointer(1);
                    case 'f' -> new FloatPointer(1);
                    default -> throw new IllegalArgumentException("unknown argument kind " + kinds.charAt(i));
                };
                parameters.put(i, slots[i]);
            }
        }

        Launch pointer(int i, CudaTensor t) {
            ((LongPointer) slots[check(i, 'p')]).put(0, t == null ? 0L : t.address());
            return this;
        }

        /** A raw device address for a pointer argument (0 for none). */
        Launch address(int i, long address) {
            ((LongPointer) slots[check(i, 'p')]).put(0, address);
            return this;
        }

        Launch longValue(int i, long v) {
            ((LongPointer) slots[check(i, 'l')]).put(0, v);
            return this;
        }

        Launch intValue(int i, int v) {
            ((IntPointer) slots[check(i, 'i')]).put(0, v);
            return this;
        }

        Launch floatValue(int i, float v) {
            ((FloatPointer) slots[check(i, 'f')]).put(0, v);
            return this;
        }

        private int check(int i, char kind) {
            if (kinds.charAt(i) != kind) {
                throw new IllegalStateException(name + ": argument " + i + " is '" + kinds.charAt(i) + "', not '" + kind + "'");
            }
            return i;
        }

        /** Launches over n elements (grid-stride kernels) on the stream and checks the launch. */
        void run(long n, CUstream_st stream) {
            int blocks = (int) Math.max(1, Math.min((n + THREADS - 1) / THREADS, 65_535));
            Status.driver(cudart.cuLaunchKernel(function, blocks, 1, 1, THREADS, 1, 1, 0, stream, parameters, null),
                    "cuLaunchKernel(" + name + ")");
        }

        @Override
        public void close() {
            for (Pointer p : slots) {
                p.close();
            }
            parameters.close();
        }
    }
}
