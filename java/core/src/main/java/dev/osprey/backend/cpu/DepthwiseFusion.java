package dev.osprey.backend.cpu;

import dev.osprey.backend.Conv2dSpec;

/**
 * When the CPU backend runs a pointwise convolution and the depthwise one after it as one oneDNN primitive (the
 * depthwise post-op of its 1x1 kernels: MobileNet's expansion and depthwise convolutions), so the expanded activations,
 * six times the block's input, never go to memory. The post-op takes a 3x3 depthwise kernel with stride 1 or 2 and one
 * pixel of padding on each side. oneDNN runs it inside its 1x1 kernel only where the pointwise output is large against
 * the CPU's L2 cache and thread count (about 2 MB and up with 2 threads on a 512 KB-L2 AVX2 CPU), and otherwise
 * composes the two primitives (its reference fusion, no gain), which {@link CpuBackend#fusesDepthwise} declines. On
 * MobileNetV2 (AVX2, 2 threads) the fused plan ran 1.24–1.41x faster at 224x224x3 and batch 32, 1.01–1.12x at batch
 * 1, and 0.99–1.18x at 32x32x3 and batch 256 (benchmarks/results/depthwise-fusion-*.md). Smaller maps, measured pair
 * by pair with a scratch harness (the notes are in that results file), ran slower fused: 7x7 at batch 32, 4x4 and
 * smaller at batch 256, 56x56 at batch 1; hence the limits below. They come from those few points on one machine.
 * On an AVX-512 CPU (AMD EPYC, 2 threads) MobileNetV2 at 32x32x3 and batch 256 ran 1.09x fused (median of 6
 * interleaved rounds, 0.93–1.15x; dw-fusion-avx512-2026-12-04T2041Z.md; an earlier 4-round run read 0.95x,
 * …T1715Z.md), its batch-1 latency level.
 */
final class DepthwiseFusion {
    /** False with {@code -Dosprey.cpu.fuseDepthwise=false}: the two convolutions run one after the other. */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("osprey.cpu.fuseDepthwise", "true"));
    /** The smallest depthwise map the fusion pays on. */
    static final int MIN_MAP_PIXELS = 14 * 14;
    /** The fewest depthwise input pixels in the batch it pays on. */
    static final long MIN_BATCH_PIXELS = 32L * 14 * 14;

    private DepthwiseFusion() {
    }

    /** Whether the pair has shapes the post-op takes and sizes where it was measured faster. */
    static boolean fits(Conv2dSpec pointwise, Conv2dSpec depthwise) {
        Conv2dSpec p = pointwise;
        Conv2dSpec d = depthwise;
        boolean pointwiseShape = p.kernelH() == 1 && p.kernelW() == 1 && p.strideH() == 1 && p.strideW() == 1
                && p.groups() == 1 && p.padTop() == 0 && p.padBottom() == 0 && p.padLeft() == 0 && p.padRight() == 0
                && p.dilationH() == 1 && p.dilationW() == 1;
        boolean depthwiseShape = d.kernelH() == 3 && d.kernelW() == 3 && d.strideH() == d.strideW()
                && (d.strideH() == 1 || d.strideH() == 2) && d.padTop() == 1 && d.padLeft() == 1
                // the post-op's output: one pixel of padding on each side, as PyTorch's padding=1 (Keras' "same"
                // pads stride-2 convolutions of even maps (0, 1) instead, which shifts every window)
                && d.outH() == (d.inH() - 1) / d.strideH() + 1 && d.outW() == (d.inW() - 1) / d.strideW() + 1
                && d.dilationH() == 1 && d.dilationW() == 1
                && d.groups() == d.inC() && d.filters() == d.inC();
        boolean chained = p.batch() == d.batch() && p.outH() == d.inH() && p.outW() == d.inW()
                && p.filters() == d.inC();
        long mapPixels = (long) d.inH() * d.inW();
        return pointwiseShape && depthwiseShape && chained && mapPixels >= MIN_MAP_PIXELS
                && d.batch() * mapPixels >= MIN_BATCH_PIXELS;
    }
}
