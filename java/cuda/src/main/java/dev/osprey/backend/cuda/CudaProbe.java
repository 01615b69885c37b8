package dev.osprey.backend.cuda;

import dev.osprey.backend.Accelerator;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.Loader;

/**
 * Finds out, without crashing, whether the CUDA backend can run here: kernels in the jar, the CUDA runtime and
 * driver, a device, cuBLAS and cuDNN 9. The answer names what is missing and where it was looked for.
 */
public final class CudaProbe {
    private static Accelerator.Availability cached;

    private CudaProbe() {
    }

    /** Whether CUDA is usable, and if not, why (one line); probed once. */
    public static synchronized Accelerator.Availability probe() {
        if (cached == null) {
            cached = detect();
        }
        return cached;
    }

    private static Accelerator.Availability detect() {
        if (noNvidiaDriver()) {
            return no("no NVIDIA driver on this machine (no /dev/nvidiactl or /proc/driver/nvidia)");
        }
        if (!Kernels.embedded()) {
            return no("this build has no CUDA kernels (nvcc was missing when the jar was built)");
        }
        try {
            Loader.load(cudart.class);
        } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError
            return no("the CUDA runtime could not be loaded (" + firstLine(e) + "); looked in " + searchPath()
                    + "; needs the NVIDIA driver (libcuda.so.1) and the CUDA 13 runtime (libcudart.so.13)");
        }
        int[] count = new int[1];
        int status;
        try {
            status = cudart.cudaGetDeviceCount(count);
        } catch (Throwable e) {
            return no("cudaGetDeviceCount failed: " + firstLine(e));
        }
        if (status != cudart.cudaSuccess || count[0] == 0) {
            return no("no CUDA device (cudaGetDeviceCount: status " + status + ", " + count[0] + " devices)");
        }
        try {
            Loader.load(cublas.class);
        } catch (Throwable e) {
            return no("cuBLAS could not be loaded (" + firstLine(e) + "); looked in " + searchPath()
                    + "; needs libcublas.so.13 and libcublasLt.so.13");
        }
        try {
            Loader.load(cudnn.class);
            long version = cudnn.cudnnGetVersion();
            if (version < 90000) {
                return no("cuDNN " + version + " found, but Osprey needs cuDNN 9");
            }
        } catch (Throwable e) {
            return no("cuDNN could not be loaded (" + firstLine(e) + "); looked in " + searchPath()
                    + "; needs libcudnn.so.9 and its sub-libraries");
        }
        return new Accelerator.Availability(true, count[0], count[0] + " CUDA device(s)");
    }

    /**
     * On Linux, a machine without the NVIDIA driver has neither its control device nor its /proc entry (nor, under
     * WSL2, the /dev/dxg the driver uses there): knowing that costs three stat calls, where loading the CUDA
     * runtime's bindings to find out cost 0.2 s of every start.
     */
    static boolean noNvidiaDriver() {
        if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            return false;
        }
        return !java.nio.file.Files.exists(java.nio.file.Path.of("/dev/nvidiactl"))
                && !java.nio.file.Files.exists(java.nio.file.Path.of("/proc/driver/nvidia"))
                && !java.nio.file.Files.exists(java.nio.file.Path.of("/dev/dxg"));
    }

    private static Accelerator.Availability no(String reason) {
        return new Accelerator.Availability(false, 0, reason);
    }

    private static String searchPath() {
        String ld = System.getenv("LD_LIBRARY_PATH");
        String preload = System.getProperty("org.bytedeco.javacpp.platform.preloadpath");
        return "LD_LIBRARY_PATH=" + (ld == null ? "(unset)" : ld)
                + (preload == null ? "" : ", org.bytedeco.javacpp.platform.preloadpath=" + preload)
                + " and the system library path";
    }

    /** The innermost cause's message: JavaCPP's outer error names its JNI wrapper, the cause the missing library. */
    static String firstLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        int colon = m.indexOf(".so: "); // "/path/libjnicudart.so: libcuda.so.1: cannot open shared object file: ..."
        if (colon >= 0) {
            m = m.substring(colon + 5);
        }
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
