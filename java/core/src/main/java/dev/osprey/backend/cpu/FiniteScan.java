package dev.osprey.backend.cpu;

import java.nio.FloatBuffer;

/**
 * Copies predict's inputs into a CPU tensor and finds the first NaN or infinite value among them, which it refuses:
 * in native code ({@code native/cpu/finite_scan.c}) on the calling thread's OpenMP team, chunk by chunk, each chunk
 * scanned while it is in the cache. For ResNet-20's 256 CIFAR images (3 MB) a Java loop over the array took 0.19 ms
 * beside the copy's 0.06 ms, on one thread, where int8 inference takes 13 ms. Without the native library: the copy,
 * then a loop over the tensor's buffer.
 */
final class FiniteScan {
    /** Null where the native scan runs; else why not (the Java loop runs). */
    private static volatile String nativeUnavailable = NativeCpu.unavailableReason();

    private FiniteScan() {
    }

    /**
     * Copies t.size() floats of source from offset on into t (the caller checked the bounds) and returns the index
     * (from offset) of the first that is NaN or infinite, or -1 where all are finite.
     */
    static long copyIn(float[] source, int offset, CpuTensor t) {
        if (nativeUnavailable == null) {
            try {
                // (where the JVM cannot lend the array, its OutOfMemoryError comes from this call)
                return copyFinite(source, offset, t.pointer().address(), t.size(), OpenMpTeam.current());
            } catch (LinkageError e) { // a library built before the scan was
                nativeUnavailable = NativeCpu.LIBRARY + " lacks the finite-value scan: " + e;
            }
        }
        t.buffer().put(0, source, offset, Math.toIntExact(t.size()));
        return firstNonFinite(t);
    }

    /** The index of the first of t's values that is NaN or infinite, or -1 where all are finite. */
    static long firstNonFinite(CpuTensor t) {
        if (nativeUnavailable == null) {
            try {
                return firstNonFinite(t.pointer().address(), t.size(), OpenMpTeam.current());
            } catch (LinkageError e) {
                nativeUnavailable = NativeCpu.LIBRARY + " lacks the finite-value scan: " + e;
            }
        }
        return firstNonFiniteInJava(t);
    }

    /** The scan without the native library: a loop over the tensor's buffer. */
    static long firstNonFiniteInJava(CpuTensor t) {
        FloatBuffer b = t.buffer();
        for (int i = 0; i < t.size(); i++) {
            if (!Float.isFinite(b.get(i))) {
                return i;
            }
        }
        return -1;
    }

    private static native long firstNonFinite(long address, long count, int threads);

    private static native long copyFinite(float[] source, int offset, long destination, long count, int threads);
}
