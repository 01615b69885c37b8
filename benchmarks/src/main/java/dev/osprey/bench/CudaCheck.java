package dev.osprey.bench;


/** Exit status 0 when CUDA is usable here; otherwise prints why and exits 1. For the benchmark scripts. */
public final class CudaCheck {
    private CudaCheck() {
    }

    public static void main(String[] args) {
        dev.osprey.backend.Accelerator.Availability a = dev.osprey.backend.Device.cudaAvailability();
        System.out.println(a.usable() ? "cuda usable: " + a.reason() : "cuda not usable: " + a.reason());
        System.exit(a.usable() ? 0 : 1);
    }
}
