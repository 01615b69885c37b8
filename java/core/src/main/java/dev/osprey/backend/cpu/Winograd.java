package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;

/**
 * Which fp32 inference convolutions run through Osprey's Winograd kernels ({@code native/cpu/winograd.c},
 * {@link WinogradConvPlan}) instead of oneDNN's direct one, with which tile, and the kernels' native entry points.
 *
 * <p>F(m x m, 3x3) computes m x m outputs of a 3x3 stride-1 convolution with (m+2)^2 multiply-adds per channel pair
 * instead of 9 m^2: 2.25x fewer for m = 2, 4x for m = 4, so it runs past the fp32 peak that bounds a direct
 * convolution. Its input and output transforms cost memory traffic instead, and a map whose size is not a multiple of
 * m is computed in whole tiles, the outputs past its edge thrown away. {@link #fits} is what the kernels can do (3x3,
 * stride 1, no dilation, one group, channels in multiples of 8, fp32, no fused depthwise convolution, the identity or a
 * ReLU-family activation). {@link #tile} picks, among the tiles the setting allows, the one whose cut in
 * multiply-adds is larger after the edge waste and the micro-kernel's short rows (m = 2 on a tie: it rounds less),
 * and none where that cut is below {@link #MIN_CUT}. {@code -Dosprey.cpu.winograd} picks where the kernels are used:
 * {@code auto} (the default) allows a tile where the channels are enough to amortize its transforms, the transformed
 * kernel small enough to stay in cache, and, for 4x4 tiles, the layer narrow enough that their extra rounding keeps
 * predictions within 1e-5 (the bounds below, measured on 2 AVX2 cores: benchmarks/results/winograd-*.md);
 * {@code always} drops all three bounds, so 4x4 tiles' rounding can then move predictions past that; {@code 2x2} and
 * {@code 4x4} use that tile wherever the kernel fits; {@code never} leaves every convolution to oneDNN. The kernels
 * need {@link NativeCpu}'s library and a processor with AVX2 and FMA.
 */
final class Winograd {
    /** The smallest cut in multiply-adds, after the edge waste, for which a Winograd tile is used at all. */
    static final double MIN_CUT = 2.0;
    /** The fewest input and output channels for which {@code auto} uses F(4x4, 3x3): 16 ran 1.25x oneDNN's speed. */
    static final int MIN_CHANNELS_4X4 = 16;
    /** The same for F(2x2, 3x3): 16 channels ran no faster than oneDNN, 32 and 64 1.1-1.3x. */
    static final int MIN_CHANNELS_2X2 = 32;
    /**
     * The largest inC x outC (a product: 16 x 128 counts as 2,048) for which {@code auto} uses a tile: each block of
     * tiles reads the whole transformed kernel, which outgrows the caches. On ResNet-18's layers at 224x224x3, batch
     * 32, 2 threads (benchmarks/run-winograd-layers.sh, winograd-layers-2026-12-03T1253Z.md): 2x2 tiles ran 238-296
     * direct-equivalent GFLOP/s at 64 to 256 channels (4.2 MB of transformed kernel at 256), oneDNN's direct kernels
     * 180-200; at 512 channels (17 MB) 2x2 tiles fell to 96.
     */
    static final int MAX_CHANNEL_PRODUCT = 256 * 256;
    /**
     * The largest inC x outC (a product) for which {@code auto} uses F(4x4, 3x3) at any batch size; up to
     * {@link #MAX_WIDE_4X4_CHANNEL_PRODUCT}, only where batch 1 takes them too; wider layers use F(2x2, 3x3). 4x4 tiles
     * round more than a direct convolution (on one 32-to-64-channel layer of unit normals, WinogradTest: 7x oneDNN's
     * worst error), 2x2 tiles no more. Through every built-in architecture (OptimizedInferenceTest) the inference
     * plan's predictions stay within the 1e-5 of the training path's that inference plans promise. Narrow layers are
     * where 4x4 tiles gain most (F(2x2, 3x3)'s transforms cost as much as its products there), and 32 x 64 channels
     * keep the tutorial CNN's.
     */
    static final int MAX_4X4_CHANNEL_PRODUCT = 32 * 64;
    /**
     * The largest inC x outC for which {@code auto} uses F(4x4, 3x3) where batch 1 picks them as well, so that such a
     * layer runs the same kernel at every batch size: a served request's answer must not depend on the batch it rode
     * in (the serving module pads batches to powers of two and checks the results bit for bit), and the tutorial CNN's
     * 64-channel layer of 3x3 outputs would take 4x4 tiles at batch 256 but not at 2. On ResNet-20's 64-channel stage
     * (8x8 maps, 4x4 tiles at batch 1 too) they ran 1.4-1.6x 2x2 tiles' speed at batch 256, and the whole model's
     * batch-256 inference 0.97-1.36x (median 1.19x, six interleaved pairs); its error there 3.4e-6 of the largest
     * output against 2.1e-7 (benchmarks/run-winograd-layers.sh), and ResNet-18's predictions at 32x32x3 moved from the
     * training path's by 3.2e-6 at most (7.4e-6 without these layers: the softmax over near-equal logits decides).
     */
    static final int MAX_WIDE_4X4_CHANNEL_PRODUCT = 64 * 64;
    /**
     * The largest inC x outC for which {@code auto} uses F(4x4, 3x3) in training, where the accuracy bound above does
     * not apply: its transformed kernel (2.25x 2x2 tiles') must stay in cache. Per layer, 4x4 tiles ran 327-444
     * direct-equivalent GFLOP/s at 64 and 128 channels where 2x2 tiles ran 219-282; at 256 channels 149-346 against
     * 280 (winograd-layers-2026-12-03T1300Z.md and the run before).
     */
    static final int MAX_TRAINING_4X4_CHANNEL_PRODUCT = 128 * 128;
    /**
     * The largest inC x outC for which {@code auto} runs a training convolution's filter gradient through the kernel:
     * each thread sums (m+2)^2 x inC x outC floats, re-read for every block of tiles, and wider layers outgrow the
     * caches. The filter gradient alone on 2 AVX2 threads (benchmarks/run-winograd-layers.sh, the filter-gradient
     * table): at 16 to 128 channels 4x4 tiles ran 147-355 direct-equivalent GFLOP/s where oneDNN's ran 81-101
     * (ResNet-20's layers at batch 128, op-profile-2026-12-03T1004Z.md); at 256 channels 2x2 tiles fell to 138, 4x4
     * to 82, at 512 to 51-83.
     */
    static final int MAX_FILTER_CHANNEL_PRODUCT = 128 * 128;
    /** The micro-kernel's rows: tiles are multiplied 6 at a time. */
    static final int ROWS = 6;
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the Winograd kernel", Winograd::supported);

    /** Where the kernel is used: see the class comment. */
    enum Use { AUTO, ALWAYS, NEVER, TILE_2X2, TILE_4X4 }

    private final Use use;

    Winograd(Use use) {
        this.use = use;
    }

    /**
     * The setting of -Dosprey.cpu.winograd (unset: auto); throws BackendException for a value other than auto, always,
     * never, 2x2 or 4x4.
     */
    static Winograd fromProperties() {
        applyAvx512Setting();
        applyStreamingSetting();
        String value = System.getProperty("osprey.cpu.winograd");
        if (value == null || value.isBlank()) {
            return new Winograd(Use.AUTO);
        }
        return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> new Winograd(Use.AUTO);
            case "always" -> new Winograd(Use.ALWAYS);
            case "never" -> new Winograd(Use.NEVER);
            case "2x2" -> new Winograd(Use.TILE_2X2);
            case "4x4" -> new Winograd(Use.TILE_4X4);
            default -> throw new BackendException("-Dosprey.cpu.winograd: expected auto, always, never, 2x2 or 4x4, "
                    + "received '" + value + "'");
        };
    }

    /**
     * -Dosprey.cpu.winogradAvx512, read whenever a CPU backend is made (the choice is process-wide): true (the default)
     * runs the kernels' AVX-512VL copy where the processor has AVX-512F and VL (native/cpu/winograd_avx512.c: 512-bit
     * products and transforms, 32 vector registers; the same results); false keeps the AVX2 copy. Op chains made before
     * keep the copy they were made with. Throws BackendException for any other value.
     */
    private static void applyAvx512Setting() {
        String raw = System.getProperty("osprey.cpu.winogradAvx512", "true");
        String value = raw.trim().toLowerCase(java.util.Locale.ROOT);
        if (!value.equals("true") && !value.equals("false")) {
            throw new BackendException("-Dosprey.cpu.winogradAvx512: expected true or false, received '" + raw + "'");
        }
        if (UNAVAILABLE == null) {
            useAvx512Copy(value.equals("true"));
        }
    }

    /**
     * -Dosprey.cpu.winogradStreamingStores, read whenever a CPU backend is made (process-wide): true (the default) has
     * the training passes store outputs of 2 MiB and more past the caches (a training batch's maps, which leave the
     * caches before their reader comes: stored through them, each line is first read in for nothing); false stores
     * every output through the caches. Inference never streams (its slices are sized for the next layer to find them in
     * the caches). The same values either way. Throws BackendException for any other value.
     */
    private static void applyStreamingSetting() {
        String raw = System.getProperty("osprey.cpu.winogradStreamingStores", "true");
        String value = raw.trim().toLowerCase(java.util.Locale.ROOT);
        if (!value.equals("true") && !value.equals("false")) {
            throw new BackendException("-Dosprey.cpu.winogradStreamingStores: expected true or false, received '"
                    + raw + "'");
        }
        if (UNAVAILABLE == null) {
            useStreamingStores(value.equals("true"));
        }
    }

    /** Allows the kernels' streaming stores of large outputs (or not). Process-wide. */
    static native void useStreamingStores(boolean allowed);

    /** Whether the kernels would now store an output of this geometry at address y streaming (for tests). */
    static native boolean streamsOutput(long y, int batch, int oh, int ow, int k);

    /** Allows the kernels' AVX-512VL copy (or not); returns whether they now run it. Process-wide. */
    static native boolean useAvx512Copy(boolean allowed);

    /** Whether the kernels run their AVX-512VL copy: allowed, and the processor has AVX-512F and VL. */
    static native boolean avx512Copy();

    /** Null where the kernel can run on this machine; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** The outputs per tile along each axis (2 or 4) of the kernel that runs op here, or 0: oneDNN runs it. */
    int tile(ConvInference op) {
        if (!fits(op)) {
            return 0;
        }
        Conv2dSpec s = op.spec();
        int narrow = pick(s, s.batch(), MAX_CHANNEL_PRODUCT, MAX_4X4_CHANNEL_PRODUCT);
        long product = (long) s.inC() * s.filters();
        if (use != Use.AUTO || product <= MAX_4X4_CHANNEL_PRODUCT || product > MAX_WIDE_4X4_CHANNEL_PRODUCT) {
            return narrow;
        }
        return pick(s, 1, MAX_CHANNEL_PRODUCT, MAX_WIDE_4X4_CHANNEL_PRODUCT) == 4 ? 4 : narrow;
    }

    /**
     * The tile (2 or 4) with which the kernel runs the fp32 convolution s of a training path (conv2dForward, also in
     * the plain plans int8 calibration runs), forward or as its backward-data convolution, or 0: oneDNN runs it. As
     * {@link #tile}, with 4x4 tiles up to {@link #MAX_TRAINING_4X4_CHANNEL_PRODUCT} instead of the bound that keeps
     * inference plans' predictions within 1e-5 of the training path's: training has no such promise, and 4x4 tiles'
     * rounding (about 4e-6 of the largest output) is far below a mini-batch's noise (and a calibrated range's).
     */
    int trainingTile(Conv2dSpec s) {
        return s.math() == Precision.FP32 && fits(new ConvInference(s, false, Precision.FP32))
                ? pick(s, s.batch(), MAX_CHANNEL_PRODUCT, MAX_TRAINING_4X4_CHANNEL_PRODUCT) : 0;
    }

    /**
     * The tile (2 or 4) this setting picks for s, or 0: none where the kernel is off or unavailable; the setting's
     * tile where it names one; for auto and always, the tile the channels allow (auto: at least the minimums, inC x
     * outC up to maxProduct, up to max4x4Product for 4x4 tiles) whose cut in multiply-adds is larger, and at least
     * {@link #MIN_CUT}.
     */
    private int pick(Conv2dSpec s, int batch, long maxProduct, long max4x4Product) {
        if (use == Use.NEVER || UNAVAILABLE != null) {
            return 0;
        }
        if (use == Use.TILE_2X2 || use == Use.TILE_4X4) {
            return use == Use.TILE_2X2 ? 2 : 4;
        }
        double cut4 = allowed(4, s, Math.min(maxProduct, max4x4Product)) ? cut(4, batch, s.outH(), s.outW()) : 0;
        double cut2 = allowed(2, s, maxProduct) ? cut(2, batch, s.outH(), s.outW()) : 0;
        if (Math.max(cut4, cut2) < MIN_CUT) {
            return 0;
        }
        return cut4 > cut2 ? 4 : 2; // a tie: 2x2 rounds less
    }

    /**
     * The outputs per tile (2 or 4) with which the kernel computes the filter gradient of the fp32 training convolution
     * s, or 0: oneDNN computes it. The same choice as {@link #tile} by the cut in multiply-adds, with auto's bounds for
     * a gradient: the channel minimums, inC x outC up to {@link #MAX_FILTER_CHANNEL_PRODUCT}, and 4x4 tiles at any
     * width: the gradient sums over every tile of the batch, and 4x4 tiles' rounding there stays about 2e-5 of its
     * largest element (2x2: 4e-6; both far below the noise of a mini-batch's gradient), where predictions promise 1e-5.
     */
    int filterTile(Conv2dSpec s) {
        return s.math() == Precision.FP32 && fitsShape(s) && s.outH() > 0 && s.outW() > 0
                ? pick(s, s.batch(), MAX_FILTER_CHANNEL_PRODUCT, MAX_FILTER_CHANNEL_PRODUCT) : 0;
    }

    /** Whether this setting lets m x m tiles run s: always, or auto's bounds (inC x outC up to maxProduct). */
    private boolean allowed(int m, Conv2dSpec s, long maxProduct) {
        if (use == Use.ALWAYS) {
            return true;
        }
        int least = m == 4 ? MIN_CHANNELS_4X4 : MIN_CHANNELS_2X2;
        return s.inC() >= least && s.filters() >= least && (long) s.inC() * s.filters() <= maxProduct;
    }

    /**
     * 9 m^2 / (m+2)^2, times the share of computed outputs that lie inside the map, times the share of the
     * micro-kernel's rows of 6 tiles that hold a tile (one image's 3x3 outputs: one tile of 4x4 in a row of 6). A short
     * row now runs in a micro-kernel of its own length, which costs less than a full row but more per tile (it reads
     * the same kernel for fewer tiles), so that last share is a proxy for that cost, kept as it was measured: changing
     * it would move layers between tile sizes, and their outputs with them.
     */
    static double cut(int m, int batch, int outH, int outW) {
        double inside = (double) outH * outW / ((double) roundUp(outH, m) * roundUp(outW, m));
        long tiles = tiles(m, batch, outH, outW);
        double rowsUsed = (double) tiles / roundUp(tiles, ROWS);
        return 9.0 * m * m / ((m + 2) * (m + 2)) * inside * rowsUsed;
    }

    /**
     * Tiles per block (the most: a thread's even share of the tiles may end in a shorter one) for this many tiles on
     * this many threads: a multiple of the micro-kernel's 6 rows, small enough that a block's transforms stay in a
     * core's L2 cache (12 tiles of 6x6 inputs ran fastest of 6-30 on the tutorial CNN's and ResNet-20's maps, 24 of
     * 4x4), and fewer where a thread's share is smaller (batch 1).
     */
    static int block(int m, long tiles, int threads) {
        long perThread = (tiles + threads - 1) / threads;
        return (int) Math.min(m == 4 ? 12 : 24, Math.max(ROWS, (perThread + ROWS - 1) / ROWS * ROWS));
    }

    /** Tiles of m x m outputs that cover batch outH x outW maps. */
    static long tiles(int m, int batch, int outH, int outW) {
        return (long) batch * ((outH + m - 1) / m) * ((outW + m - 1) / m);
    }

    private static long roundUp(long size, int multiple) {
        return (size + multiple - 1) / multiple * multiple;
    }

    /**
     * Whether the kernel can compute this convolution (its shape, precision and activation) and the max pooling after
     * it, where there is one ({@link MaxPoolFusion}).
     */
    static boolean fits(ConvInference op) {
        Conv2dSpec s = op.spec();
        return op.precision() == Precision.FP32 && op.depthwise() == null && !op.quantizedOutput() && fitsShape(s)
                && (op.maxPool() == null || MaxPoolFusion.takes(s, op.maxPool()))
                && s.outH() > 0 && s.outW() > 0
                && (s.activation().kind() == Activation.Kind.LINEAR || s.activation().kind() == Activation.Kind.RELU);
    }

    /** Whether the kernels take this geometry: 3x3, stride 1, undilated, one group, channels in multiples of 8. */
    static boolean fitsShape(Conv2dSpec s) {
        return s.kernelH() == 3 && s.kernelW() == 3 && s.strideH() == 1 && s.strideW() == 1
                && s.dilationH() == 1 && s.dilationW() == 1 && s.groups() == 1
                && s.inC() % 8 == 0 && s.filters() % 8 == 0;
    }

    /** Whether the processor has the instructions the kernel uses (AVX2 and FMA on x86-64). */
    private static native boolean supported();

    /** Floats of scratch F(m x m, 3x3) needs for blocks of {@code block} tiles on {@code threads} threads. */
    static native long scratchFloats(int block, int inC, int outC, int m, int threads);

    /**
     * Writes F(m x m, 3x3)'s transform of a Keras-layout (3, 3, inC, outC) kernel: (m+2)^2 x inC x outC floats; on up
     * to {@code threads} threads where the kernel is large enough for that to pay. The same bits on any team.
     */
    static native void prepare(long keras, int inC, int outC, int m, long prepared, int threads);

    /**
     * Whether a forward pass over this many tiles has its threads share the output channels rather than the tiles
     * (where all the tiles fit one micro-kernel row of 6: batch 1 on small maps).
     */
    static native boolean sharesOutputChannels(long tiles, int outC, int threads);

    /**
     * Writes F(m x m, 3x3)'s transform of the backward-data kernel of a Keras-layout (3, 3, inC, outC) kernel (taps
     * flipped, channels swapped): (m+2)^2 x outC x inC floats, for {@link #forward} from outC channels to inC; threads
     * as {@link #prepare} takes them.
     */
    static native void prepareTransposed(long keras, int inC, int outC, int m, long prepared, int threads);

    /**
     * y = rectify(conv(x) + bias [+ residual]) for NHWC x (batch, h, w, inC) and y (batch, oh, ow, outC) by
     * F(m x m, 3x3), with the kernel as {@link #prepare} wrote it for that m; bias and residual may be 0 (none).
     * rectify false: the identity; true: Keras' ReLU with this negative slope and cap. ph and pw not 0: y is instead
     * the 2x2 stride-2 max pooling of that (batch, ph, pw, outC), without a residual. block: {@link #block}'s.
     * Runs now with this scratch where chain is 0; else is appended to that op chain (which passes its scratch when it
     * runs) and returns false where the chain could not grow. stream: y may be stored past the caches where it is large
     * and {@link #useStreamingStores} allows it (a training pass, whose reader comes after y has left the caches; not
     * an inference slice, sized for its reader to find it in them).
     */
    static native boolean forward(long x, int batch, int h, int w, int inC, int padTop, int padLeft, int oh, int ow,
                                  int m, long prepared, int outC, long bias, long residual, boolean rectify,
                                  float slope, float cap, long y, int ph, int pw, long scratch, int block, int threads,
                                  long chain, boolean stream);

    /** Floats of scratch {@link #filterGradient} needs for these channels, tile and threads. */
    static native long filterScratchFloats(int inC, int outC, int m, int threads);

    /**
     * dKernel (Keras' layout, 3 x 3 x inC x outC) and, where dBias is not 0, dBias (outC) of the convolution of NHWC x
     * (batch, h, w, inC) into (batch, oh, ow, outC), from its output gradient dy, by F(m x m, 3x3); both overwritten.
     */
    static native void filterGradient(long x, int batch, int h, int w, int inC, int padTop, int padLeft, long dy,
                                      int oh, int ow, int outC, int m, long dKernel, long dBias, long scratch,
                                      int threads);

    /**
     * Whether {@link #backward} takes this convolution (arguments as there) on this many threads; where it does not, it
     * declines every call.
     */
    static native boolean backwardTakes(int batch, int h, int w, int inC, int padTop, int padLeft, int oh, int ow,
                                        int outC, int m, int dataPadTop, int dataPadLeft, int threads);

    /** Floats of scratch {@link #backward} needs for these channels, tile, backward-data block and threads. */
    static native long backwardScratchFloats(int inC, int outC, int m, int dataBlock, int threads);

    /**
     * {@link #filterGradient} and backward-data (dx = the convolution of dy, padded by dataPadTop and dataPadLeft,
     * with the kernel {@link #prepareTransposed} wrote for m; plus addend where that is not 0, and then, where gate is
     * not 0 either, the gradient of the ReLU whose output gate is: the sum times 0 where gate is at most 0, else the sum,
     * as oneDNN's ReLU backward computes it) in one pass over the
     * tiles, so that dy is read from memory once: the same results as the two calls. Only where dx and dy are the same
     * size ('same' padding), the channels are few enough that the transformed kernel and the gradient's sums share the
     * cache (up to 32 x 32 with 4x4 tiles), and the tiles are many enough for the team to share them
     * ({@link #backwardTakes}); returns false, having done nothing, otherwise.
     */
    static native boolean backward(long x, int batch, int h, int w, int inC, int padTop, int padLeft, long dy, int oh,
                                   int ow, int outC, int m, long preparedTransposed, int dataPadTop, int dataPadLeft,
                                   long addend, long gate, long dx, long dKernel, long dBias, long scratch,
                                   int dataBlock, int threads);
}
