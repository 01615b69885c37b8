package dev.osprey.backend.cuda;

import dev.osprey.backend.Backend;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.parallel.CollectiveProvider;
import dev.osprey.engine.parallel.Communicator;
import dev.osprey.engine.parallel.ReplicaFailedException;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.global.nccl;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Collectives between this process's GPUs through NCCL: one NCCL communicator per device (ncclCommInitAll), each
 * collective queued on the rank's backend stream, after the kernels that wrote its data and before those that read
 * it (the optimizer step), so nothing waits on the host. Written against NCCL's API but never run: no GPU was at hand
 * (benchmarks/gpu/README.md has the check to run first).
 */
final class NcclCommunicator implements Communicator {
    private final List<CudaBackend> backends;
    private final ncclComm[] comms;
    private volatile Throwable failure;
    private volatile int failedRank = -1;
    private boolean closed;

    /** The provider osprey-cuda registers: it serves backends that are all this module's GPUs, each once. */
    public static final class Provider implements CollectiveProvider {
        @Override
        public Communicator open(List<Backend> backends) {
            List<CudaBackend> gpus = new ArrayList<>();
            for (Backend b : backends) {
                if (!(b instanceof CudaBackend c)) {
                    return null;
                }
                gpus.add(c);
            }
            return new NcclCommunicator(gpus);
        }
    }

    NcclCommunicator(List<CudaBackend> backends) {
        this.backends = List.copyOf(backends);
        int n = backends.size();
        int[] devices = new int[n];
        for (int i = 0; i < n; i++) {
            devices[i] = backends.get(i).deviceIndex();
            for (int j = 0; j < i; j++) {
                if (devices[j] == devices[i]) {
                    throw new BackendException("NCCL: expected each GPU once, received cuda:" + devices[i] + " twice");
                }
            }
        }
        comms = new ncclComm[n];
        try (PointerPointer<ncclComm> handles = new PointerPointer<>(n)) {
            check(nccl.ncclCommInitAll(handles, n, devices), "ncclCommInitAll(" + n + " GPUs)");
            for (int i = 0; i < n; i++) {
                comms[i] = new ncclComm(handles.get(i));
            }
        }
    }

    @Override
    public int size() {
        return backends.size();
    }

    @Override
    public void allReduceSum(int rank, Tensor data) {
        ready(rank);
        CudaBackend b = backends.get(rank);
        b.onStream(data, (pointer, stream) -> check(nccl.ncclAllReduce(pointer, pointer, data.size(), nccl.ncclFloat32,
                nccl.ncclSum, comms[rank], stream), "ncclAllReduce on rank " + rank));
    }

    @Override
    public void broadcast(int rank, Tensor data, int root) {
        ready(rank);
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("broadcast: expected a root rank in [0, " + size() + "), received " + root);
        }
        CudaBackend b = backends.get(rank);
        b.onStream(data, (pointer, stream) -> check(nccl.ncclBroadcast(pointer, pointer, data.size(), nccl.ncclFloat32,
                root, comms[rank], stream), "ncclBroadcast on rank " + rank));
    }

    @Override
    public synchronized void abort(int rank, Throwable cause) {
        if (failure != null || closed) {
            return;
        }
        failedRank = rank;
        failure = cause;
        for (ncclComm c : comms) { // unblocks ranks whose kernels wait for the failed one
            nccl.ncclCommAbort(c);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (failure == null) {
            for (ncclComm c : comms) {
                nccl.ncclCommDestroy(c);
            }
        }
    }

    private void ready(int rank) {
        if (rank < 0 || rank >= size()) {
            throw new IllegalArgumentException("communicator: expected a rank in [0, " + size() + "), received " + rank);
        }
        if (failure != null) {
            throw new ReplicaFailedException(failedRank, size(), failure);
        }
        if (closed) {
            throw new IllegalStateException("NCCL communicator: closed");
        }
    }

    private static void check(int status, String call) {
        if (status != nccl.ncclSuccess) {
            BytePointer text = nccl.ncclGetErrorString(status);
            throw new BackendException("NCCL " + call + " failed: " + (text == null ? "" : text.getString())
                    + " (status " + status + ")");
        }
    }
}
