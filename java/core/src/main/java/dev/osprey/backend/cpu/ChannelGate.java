package dev.osprey.backend.cpu;

import java.nio.FloatBuffer;

/**
 * Multiply's channel gates on the CPU: each (batch, pixels, channels) value times its sample's gate for its channel,
 * in native code ({@code native/cpu/channel_gate.c}) on an OpenMP team, one pass. Without the native library (or with
 * one built before it): a Java loop, the same products.
 */
final class ChannelGate {
    /** Null where the native loop runs; else why not (the Java loop runs). */
    private static volatile String nativeUnavailable = NativeCpu.unavailableReason();

    private ChannelGate() {
    }

    /** Null where the native loop runs (it has run, or will); else why the Java loop runs instead. */
    static String unavailableReason() {
        return nativeUnavailable;
    }

    /** out = x times gate: x and out (batch, pixels, channels), gate (batch, channels); out may be x. */
    static void multiply(CpuTensor x, CpuTensor gate, CpuTensor out, int batch, int pixels, int channels,
                         int threads) {
        if (nativeUnavailable == null) {
            try {
                multiply(x.pointer().address(), gate.pointer().address(), out.pointer().address(), batch, pixels,
                        channels, threads);
                return;
            } catch (LinkageError e) { // a library built before the gate was
                nativeUnavailable = NativeCpu.LIBRARY + " lacks the channel gate: " + e;
            }
        }
        multiplyInJava(x, gate, out, batch, pixels, channels);
    }

    /** The same products without the native library: rows of pixels in parallel where there are many values. */
    static void multiplyInJava(CpuTensor x, CpuTensor gate, CpuTensor out, int batch, int pixels, int channels) {
        FloatBuffer in = x.buffer();
        FloatBuffer g = gate.buffer();
        FloatBuffer to = out.buffer();
        java.util.stream.IntStream rows = java.util.stream.IntStream.range(0, batch * pixels);
        (x.size() >= (1 << 16) ? rows.parallel() : rows).forEach(row -> {
            int at = row * channels;
            int gateAt = row / pixels * channels;
            for (int c = 0; c < channels; c++) {
                to.put(at + c, in.get(at + c) * g.get(gateAt + c));
            }
        });
    }

    private static native void multiply(long x, long gate, long out, int batch, int pixels, int channels, int threads);
}
