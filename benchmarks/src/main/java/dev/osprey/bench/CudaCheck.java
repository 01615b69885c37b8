package dev.osprey.bench;

import dev.osprey.backend.cuda.CudaProbe;

/** Exit status 0 when CUDA is usable here; otherwise prints why and exits 1. For the benchmark scripts. */
public final class CudaCheck {
    private CudaCheck() {
    }

    public static void main(String[] args) {
        CudaProbe.Availability a = CudaProbe.probe();
        System.out.println(a.usable() ? "cuda usable: " + a.reason() : "cuda not usable: " + a.reason());
        System.exit(a.usable() ? 0 : 1);
    }
}
