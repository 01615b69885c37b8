package dev.osprey.backend.cuda;

import dev.osprey.backend.Checks;
import dev.osprey.backend.HostResidentData;
import dev.osprey.backend.ResidentData;
import dev.osprey.backend.Tensor;
import java.util.Locale;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * A training set in device memory: samples as byte codes (when they have at most 256 distinct values) or floats,
 * target rows as floats, and the epoch's order. A batch is one or two gather kernels on the stream: no host copy,
 * no synchronisation. Owns its device buffers.
 */
final class CudaResidentData implements ResidentData {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CudaResidentData.class);
    /** Never take more than this share of the free device memory for data. */
    private static final double MAX_SHARE_OF_FREE = 0.5;

    private final CudaBackend backend;
    private final CudaContext c;
    private final Kernels.Launch gatherCodes;
    private final Kernels.Launch gatherRows;
    private final int samples;
    private final int sampleSize;
    private final int classes;
    private final Pointer samplesOnDevice = new Pointer();
    private final Pointer table;             // null when samples are floats
    private final Pointer targetsOnDevice = new Pointer();
    private final Pointer orderOnDevice = new Pointer();
    private final IntPointer orderStaging;
    private final String description;
    private boolean ordered;
    private boolean closed;

    /** Device-resident when it fits in half the free device memory; otherwise the host path, with a log line. */
    static ResidentData keep(CudaBackend backend, CudaContext c, Kernels.Launch gatherCodes, Kernels.Launch gatherRows,
                             float[] x, int sampleSize, float[] targets, int classes) {
        int samples = Checks.residentData(x, sampleSize, targets, classes);
        ByteCodes codes = ByteCodes.encode(x);
        long bytes = (codes == null ? (long) x.length * Float.BYTES : x.length + 256L * Float.BYTES)
                + (long) targets.length * Float.BYTES + (long) samples * Integer.BYTES;
        long free = freeDeviceMemory();
        if (bytes > free * MAX_SHARE_OF_FREE) {
            LOG.info(String.format(Locale.ROOT, "the training set stays in host memory and is copied in per "
                    + "batch: it needs %.1f MiB on the GPU, which has %.1f MiB free", mib(bytes), mib(free)));
            return new HostResidentData(backend, x, sampleSize, targets, classes);
        }
        return new CudaResidentData(backend, c, gatherCodes, gatherRows, x, codes, samples, sampleSize, targets,
                classes, bytes);
    }

    private CudaResidentData(CudaBackend backend, CudaContext c, Kernels.Launch gatherCodes, Kernels.Launch gatherRows,
                             float[] x, ByteCodes codes, int samples, int sampleSize, float[] targets, int classes,
                             long bytes) {
        this.backend = backend;
        this.c = c;
        this.gatherCodes = gatherCodes;
        this.gatherRows = gatherRows;
        this.samples = samples;
        this.sampleSize = sampleSize;
        this.classes = classes;
        this.orderStaging = new IntPointer(samples);
        this.table = codes == null ? null : new Pointer();
        try {
            if (codes != null) {
                upload(samplesOnDevice, new BytePointer(codes.codes()), codes.codes().length, "training samples");
                upload(table, new FloatPointer(codes.table()), 256L * Float.BYTES, "decoding table");
            } else {
                upload(samplesOnDevice, new FloatPointer(x), (long) x.length * Float.BYTES, "training samples");
            }
            upload(targetsOnDevice, new FloatPointer(targets), (long) targets.length * Float.BYTES, "training targets");
            Status.cuda(cudart.cudaMalloc(orderOnDevice, (long) samples * Integer.BYTES), "cudaMalloc(epoch order)");
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        description = String.format(Locale.ROOT, "device memory, %.1f MiB%s", mib(bytes),
                codes == null ? " as floats" : " as byte codes");
    }

    private void upload(Pointer device, Pointer host, long bytes, String what) {
        try (host) {
            Status.cuda(cudart.cudaMalloc(device, bytes), "cudaMalloc(" + bytes + " bytes of " + what + ")");
            Status.cuda(cudart.cudaMemcpy(device, host, bytes, cudart.cudaMemcpyHostToDevice),
                    "cudaMemcpy(" + what + " to the device)");
        }
    }

    private static long freeDeviceMemory() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            Status.cuda(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return free.get();
        }
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }

    @Override
    public int samples() {
        return samples;
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public void startEpoch(int[] order) {
        checkOpen();
        backend.enter();
        Checks.epochOrder(order, samples);
        c.synchronize(); // the previous epoch's gathers have read the old order
        orderStaging.put(order, 0, samples);
        Status.cuda(cudart.cudaMemcpy(orderOnDevice, orderStaging, (long) samples * Integer.BYTES,
                cudart.cudaMemcpyHostToDevice), "cudaMemcpy(epoch order)");
        ordered = true;
    }

    @Override
    public void gather(int from, int count, Tensor x, Tensor targets) {
        checkOpen();
        Checks.gather(from, count, ordered ? samples : 0, x, sampleSize, targets, classes);
        CudaTensor xs = backend.cudaTensor(x);
        CudaTensor ts = backend.cudaTensor(targets);
        long n = (long) count * sampleSize;
        if (table != null) {
            gatherCodes.address(0, samplesOnDevice.address()).address(1, table.address())
                    .address(2, orderOnDevice.address()).intValue(3, from).longValue(4, sampleSize).longValue(5, n)
                    .pointer(6, xs).run(n, c.stream);
        } else {
            rows(samplesOnDevice, from, sampleSize, n, xs);
        }
        rows(targetsOnDevice, from, classes, (long) count * classes, ts);
    }

    private void rows(Pointer data, int from, int rowSize, long n, CudaTensor out) {
        gatherRows.address(0, data.address()).address(1, orderOnDevice.address()).intValue(2, from)
                .longValue(3, rowSize).longValue(4, n).pointer(5, out).run(n, c.stream);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the resident training set was already closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        cudart.cudaStreamSynchronize(c.stream); // no gather may still read what is freed
        for (Pointer p : new Pointer[] {samplesOnDevice, table, targetsOnDevice, orderOnDevice}) {
            if (p != null && !p.isNull()) {
                cudart.cudaFree(p);
            }
        }
        orderStaging.close();
    }
}
