package dev.osprey.backend.cuda;

import dev.osprey.backend.BackendException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The CUDA side of {@link StepRecorder}: stream capture into a graph, instantiation, launch, and the scalar block
 * in device memory through which a replayed graph gets its per-step scalars. Each launch first copies that step's
 * scalars into the block from one of a ring of pinned host blocks; a host block is rewritten only once its
 * previous copy has run, so several steps can be queued ahead of the GPU. One per backend, shared by its recorders
 * (they run one at a time on the one stream). Uses only CUDA 13.0 APIs.
 */
final class CudaGraphs implements StepRecorder.Driver, AutoCloseable {
    private final CudaContext c;
    private final Consumer<StepRecorder> router;
    private static final int HOST_BLOCKS = 4;

    private final LongPointer[] hostScalars = new LongPointer[HOST_BLOCKS];
    private final CUevent_st[] hostBlockRead = new CUevent_st[HOST_BLOCKS];
    private final Pointer deviceScalars = new Pointer();
    private int nextHostBlock;
    private final List<StepRecorder> recorders = new ArrayList<>();
    private boolean closed;

    CudaGraphs(CudaContext c, Consumer<StepRecorder> router) {
        this.c = c;
        this.router = router;
        long bytes = (long) StepRecorder.MAX_SCALARS * Long.BYTES;
        try {
            for (int i = 0; i < HOST_BLOCKS; i++) {
                Pointer pinned = new Pointer();
                Status.cuda(cudart.cudaMallocHost(pinned, bytes), "cudaMallocHost(" + bytes + " bytes of step scalars)");
                hostScalars[i] = new LongPointer(pinned);
                CUevent_st event = new CUevent_st();
                Status.cuda(cudart.cudaEventCreateWithFlags(event, cudart.cudaEventDisableTiming),
                        "cudaEventCreateWithFlags");
                hostBlockRead[i] = event;
            }
            Status.cuda(cudart.cudaMalloc(deviceScalars, bytes), "cudaMalloc(" + bytes + " bytes of step scalars)");
        } catch (RuntimeException e) {
            close(); // frees what was made before the failure
            throw e;
        }
    }

    StepRecorder newRecorder() {
        StepRecorder r = new StepRecorder(this);
        recorders.add(r);
        return r;
    }

    /** The device address of a scalar slot, for kernel arguments. */
    long slotAddress(int slot) {
        return deviceScalars.address() + (long) slot * Long.BYTES;
    }

    @Override
    public long generation() {
        return c.workspaceGeneration();
    }

    @Override
    public void route(StepRecorder recorder) {
        router.accept(recorder);
    }

    @Override
    public void beginCapture() {
        // Thread-local: only this thread's unsafe calls (allocation, synchronisation) invalidate the capture.
        Status.cuda(cudart.cudaStreamBeginCapture(c.stream, cudart.cudaStreamCaptureModeThreadLocal),
                "cudaStreamBeginCapture");
    }

    @Override
    public Object endCapture() {
        CUgraph_st graph = new CUgraph_st();
        Status.cuda(cudart.cudaStreamEndCapture(c.stream, graph), "cudaStreamEndCapture");
        try {
            CUgraphExec_st exec = new CUgraphExec_st();
            Status.cuda(cudart.cudaGraphInstantiate(exec, graph, 0L), "cudaGraphInstantiate");
            return exec;
        } finally {
            cudart.cudaGraphDestroy(graph); // the executable graph keeps what it needs
        }
    }

    @Override
    public void abandonCapture() {
        int[] capturing = new int[1];
        if (cudart.cudaStreamIsCapturing(c.stream, capturing) == cudart.cudaSuccess
                && capturing[0] != cudart.cudaStreamCaptureStatusNone) {
            CUgraph_st graph = new CUgraph_st();
            cudart.cudaStreamEndCapture(c.stream, graph);
            if (!graph.isNull()) {
                cudart.cudaGraphDestroy(graph);
            }
        }
        cudart.cudaGetLastError(); // capture errors are not sticky; clear the last one
    }

    @Override
    public void launch(Object recording, long[] scalars, int count) {
        if (count > 0) {
            int block = nextHostBlock;
            nextHostBlock = (nextHostBlock + 1) % HOST_BLOCKS;
            // The copy queued from this host block HOST_BLOCKS launches ago must have run before it is rewritten.
            Status.cuda(cudart.cudaEventSynchronize(hostBlockRead[block]), "cudaEventSynchronize(step scalars)");
            hostScalars[block].put(scalars, 0, count);
            Status.cuda(cudart.cudaMemcpyAsync(deviceScalars, hostScalars[block], (long) count * Long.BYTES,
                    cudart.cudaMemcpyHostToDevice, c.stream), "cudaMemcpyAsync(step scalars)");
            Status.cuda(cudart.cudaEventRecord(hostBlockRead[block], c.stream), "cudaEventRecord(step scalars)");
        }
        Status.cuda(cudart.cudaGraphLaunch(exec(recording), c.stream), "cudaGraphLaunch");
    }

    @Override
    public void destroy(Object recording) {
        cudart.cudaGraphExecDestroy(exec(recording));
    }

    private static CUgraphExec_st exec(Object recording) {
        if (recording instanceof CUgraphExec_st e) {
            return e;
        }
        throw new BackendException("expected a CUDA graph, received " + recording);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        recorders.forEach(StepRecorder::close);
        for (int i = 0; i < HOST_BLOCKS; i++) {
            if (hostBlockRead[i] != null) {
                cudart.cudaEventDestroy(hostBlockRead[i]);
            }
            if (hostScalars[i] != null) {
                cudart.cudaFreeHost(hostScalars[i]);
            }
        }
        if (!deviceScalars.isNull()) {
            cudart.cudaFree(deviceScalars);
        }
    }
}
