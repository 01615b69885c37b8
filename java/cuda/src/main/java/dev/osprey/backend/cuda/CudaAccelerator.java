package dev.osprey.backend.cuda;

import dev.osprey.backend.Accelerator;
import dev.osprey.backend.Backend;

/** osprey-cuda's entry point for {@link dev.osprey.backend.Device}: found through ServiceLoader. */
public final class CudaAccelerator implements Accelerator {
    @Override
    public Availability probe() {
        return CudaProbe.probe();
    }

    @Override
    public Backend open(int index) {
        return new CudaBackend(index);
    }
}
