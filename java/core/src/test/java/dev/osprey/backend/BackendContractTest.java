package dev.osprey.backend;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every backend op against the plain-Java reference on fresh random inputs of several shapes: odd sizes, batch 1,
 * same and valid padding, uneven padding, stride 2, dilation, groups, depthwise, fused activations, BatchNorm in both
 * modes, every activation both ways. Each backend runs it through a subclass.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class BackendContractTest {
    Backend backend;
    Memory memory;
    double tolerance;

    /** Opens the backend under test (or skips the class where it can't run). */
    abstract Backend open();

    /** Tolerance of convolution and dense results (matrix products) against the double-accumulated reference. */
    abstract double matmulTolerance();

    /**
     * Tolerance of bf16 inference against the reference on bf16-rounded operands, where only fp32 summation differs:
     * backends whose bf16 products also round their outputs to bf16 (cuDNN's) say so with a wider one.
     */
    double bf16InferenceTolerance() {
        return 1e-4;
    }

    @BeforeAll
    void openBackend() {
        backend = open();
        memory = backend.newMemory();
        tolerance = matmulTolerance();
    }

    @AfterAll
    void closeBackend() {
        if (memory != null) {
            memory.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    Stream<Conv2dSpec> convSpecs() {
        return Stream.of(
                new Conv2dSpec(4, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU),   // the tutorial's first
                new Conv2dSpec(1, 13, 11, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, Activation.LINEAR),  // batch 1, same, odd
                new Conv2dSpec(3, 9, 10, 3, 16, 3, 3, 2, 2, 0, 0, 0, 0, Activation.RELU),    // stride 2, valid
                new Conv2dSpec(2, 8, 8, 16, 5, 5, 5, 2, 2, 1, 1, 2, 2, Activation.LINEAR),   // stride 2, same, 5x5
                new Conv2dSpec(2, 7, 7, 32, 64, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU),    // blocked channel counts
                new Conv2dSpec(2, 9, 8, 4, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true, Activation.LINEAR), // dilation 2
                new Conv2dSpec(2, 8, 7, 6, 9, 3, 3, 2, 1, 0, 1, 1, 1, 1, 1, 3, true, Activation.RELU6),  // groups 3
                new Conv2dSpec(3, 8, 8, 8, 8, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 8, false, Activation.LINEAR), // depthwise
                new Conv2dSpec(1, 6, 6, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, true, Activation.RELU),   // multiplier 2
                // Depthwise windows beyond oneDNN's 3x3 depthwise filter-gradient kernel (Osprey computes it):
                new Conv2dSpec(2, 9, 8, 24, 24, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 24, true, Activation.LINEAR), // ConvNeXt's
                new Conv2dSpec(3, 10, 9, 20, 40, 5, 5, 2, 2, 1, 2, 2, 1, 1, 1, 20, false, Activation.RELU),  // x2, s2
                // Depthwise on maps too small for oneDNN's depthwise filter-gradient kernel (Osprey computes it):
                new Conv2dSpec(3, 2, 2, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 40, true, Activation.LINEAR), // 2x2
                new Conv2dSpec(2, 1, 1, 24, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 24, true, Activation.RELU),  // 1x1, x2
                new Conv2dSpec(2, 2, 3, 16, 16, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1, 16, false, Activation.LINEAR), // stride 2
                new Conv2dSpec(2, 5, 5, 3, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, false, Activation.SIGMOID), // 1x1, no bias
                // Pointwise convolutions the CPU backend plans as one image of all pixels (ConvGeometry), and one not:
                new Conv2dSpec(3, 1, 1, 40, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, Activation.RELU6), // 1x1 maps
                new Conv2dSpec(2, 3, 4, 8, 5, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 1, true, Activation.LINEAR),  // dilation 2
                new Conv2dSpec(2, 5, 5, 8, 6, 1, 1, 2, 2, 0, 0, 0, 0, Activation.RELU),                  // stride 2
                // Wide pointwise convolutions, whose filter gradient the CPU backend computes as matrix products
                // (wide enough for up to 32 and 64 threads: PointwiseFilterGradient.fits):
                new Conv2dSpec(2, 2, 2, 256, 512, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, Activation.LINEAR),
                new Conv2dSpec(1, 3, 1, 256, 1024, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, false, Activation.RELU));
    }

    @ParameterizedTest
    @MethodSource("convSpecs")
    void conv2dForwardAndBackwardMatchTheReference(Conv2dSpec s) {
        checkConvTrainingOps(s, tolerance, false);
    }

    /**
     * Where fp16 training math (mixed_float16) is available (the CUDA backend on tensor-core GPUs; no CPU backend, so
     * skipped there): every convolution's training ops with operands cuDNN may round to fp16, whose 11 significant
     * bits are TF32's, so within TF32's 1e-2 of the fp32 reference on these O(1) values.
     */
    @ParameterizedTest
    @MethodSource("convSpecs")
    void fp16ConvolutionTrainingOpsMatchTheReference(Conv2dSpec s) {
        assumeTrainingMath(Precision.FP16);
        checkConvTrainingOps(s.withMath(Precision.FP16), Math.max(tolerance, FP16_TOLERANCE), false);
    }

    /** As {@link #fp16ConvolutionTrainingOpsMatchTheReference}, for dense layers (cuBLAS' fp16 compute type). */
    @ParameterizedTest
    @MethodSource("denseSpecs")
    void fp16DenseTrainingOpsMatchTheReference(DenseSpec s) {
        assumeTrainingMath(Precision.FP16);
        checkDenseTrainingOps(s.withMath(Precision.FP16), Math.max(tolerance, FP16_TOLERANCE), false);
    }

    /**
     * Where bf16 training math (mixed_bfloat16) is available (CPUs with AVX512_BF16 or AMX, GPUs from Ampere on):
     * every convolution's training ops against the reference on bf16-rounded operands (input, kernel, output
     * gradient). What is left is fp32 summation and the bf16 outputs of cuDNN's bf16 convolutions (2^-9 relative):
     * within 1e-2. A filter gradient taken in fp32 (the CPU's own depthwise one) is held to the fp32 gradient
     * instead: against rounded operands it can be 2e-2 off. {@link #bf16TrainingMathRoundsTheOperands} tells bf16
     * products from fp32 ones, which this tolerance cannot.
     */
    @ParameterizedTest
    @MethodSource("convSpecs")
    void bf16ConvolutionTrainingOpsMatchTheReferenceOnRoundedOperands(Conv2dSpec s) {
        assumeTrainingMath(Precision.BF16);
        checkConvTrainingOps(s.withMath(Precision.BF16), Math.max(tolerance, BF16_TOLERANCE), true);
    }

    /** As {@link #bf16ConvolutionTrainingOpsMatchTheReferenceOnRoundedOperands}, for dense layers. */
    @ParameterizedTest
    @MethodSource("denseSpecs")
    void bf16DenseTrainingOpsMatchTheReferenceOnRoundedOperands(DenseSpec s) {
        assumeTrainingMath(Precision.BF16);
        checkDenseTrainingOps(s.withMath(Precision.BF16), Math.max(tolerance, BF16_TOLERANCE), true);
    }

    /**
     * bf16 math really rounds the operands: 1 + 2^-8 is a tie between two bf16 values and rounds to even (1), 1 + 3 *
     * 2^-9 rounds up to 1 + 2^-7. Times an identity kernel those are the outputs, exactly; fp32 and TF32 (10 fraction
     * bits) would keep the inputs as they are. Channel and unit counts are multiples of 8, as tensor cores take them.
     */
    @Test
    void bf16TrainingMathRoundsTheOperands() {
        assumeTrainingMath(Precision.BF16);
        int width = 16;
        float[] x = new float[width * width];
        float[] rounded = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = i % 2 == 0 ? 1.00390625f : 1.005859375f;
            rounded[i] = i % 2 == 0 ? 1f : 1.0078125f;
        }
        DenseSpec dense = new DenseSpec(width, width, width, Activation.LINEAR).withMath(Precision.BF16);
        Tensor y = memory.allocate(dense.outputShape());
        backend.denseForward(dense, upload(x, width, width), upload(identity(width), width, width),
                upload(new float[width], width), y);
        org.junit.jupiter.api.Assertions.assertArrayEquals(rounded, download(y), "bf16 dense forward");
        Conv2dSpec conv = new Conv2dSpec(1, 4, 4, width, width, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, false,
                Activation.LINEAR).withMath(Precision.BF16);
        Tensor z = memory.allocate(conv.outputShape());
        backend.conv2dForward(conv, upload(x, conv.inputShape()), upload(identity(width), conv.kernelShape()), null, z);
        org.junit.jupiter.api.Assertions.assertArrayEquals(rounded, download(z), "bf16 convolution forward");
    }

    private static float[] identity(int n) {
        float[] m = new float[n * n];
        for (int i = 0; i < n; i++) {
            m[i * n + i] = 1f;
        }
        return m;
    }

    /** Whether this backend may take s's filter gradient in fp32 under bf16 math: none unless a subclass says so. */
    protected boolean mayTakeFilterGradientInFp32(Conv2dSpec s) {
        return false;
    }

    /** Skips (saying why) on backends without this training math. */
    private void assumeTrainingMath(Precision math) {
        String reason = backend.trainingUnavailable(math);
        org.junit.jupiter.api.Assumptions.assumeTrue(reason == null, reason);
    }

    static final double FP16_TOLERANCE = 1e-2;
    static final double BF16_TOLERANCE = 1e-2;

    /** roundOperands: the reference multiplies the bf16-rounded operands (bf16 math). */
    private void checkConvTrainingOps(Conv2dSpec s, double tolerance, boolean roundOperands) {
        Random r = new Random(s.toString().hashCode());
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters());
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] xr = roundOperands ? bf16(x) : x;
        float[] kr = roundOperands ? bf16(k) : k;
        float[] dyr = roundOperands ? bf16(dy) : dy;

        Tensor tx = upload(x, s.inputShape());
        Tensor tk = upload(k, s.kernelShape());
        Tensor tb = b == null ? null : upload(b, s.filters());
        Tensor ty = memory.allocate(s.outputShape());
        backend.conv2dForward(s, tx, tk, tb, ty);
        assertClose("conv forward " + s, ReferenceOps.conv2dForward(s, xr, kr, b), download(ty), tolerance);

        Tensor tdy = upload(dy, s.outputShape());
        Tensor tdx = memory.allocate(s.inputShape());
        backend.conv2dBackwardData(s, tdy, tk, tdx);
        assertClose("conv backward-data " + s, ReferenceOps.conv2dBackwardData(s, dyr, kr), download(tdx), tolerance);

        Tensor tdk = memory.allocate(s.kernelShape());
        Tensor tdb = b == null ? null : memory.allocate(s.filters());
        backend.conv2dBackwardFilter(s, tx, tdy, tdk, tdb);
        float[] kernelGradient = download(tdk);
        // A backend may take some filter gradients in fp32 under bf16 math (the CPU its own depthwise one, where
        // oneDNN has no depthwise kernel for the shape): those must be the fp32 gradients, to fp32's tolerance; every
        // other one the gradients of the rounded operands.
        float[][] fp32 = ReferenceOps.conv2dBackwardFilter(s, x, dy);
        boolean takenInFp32 = roundOperands && mayTakeFilterGradientInFp32(s)
                && Close.isClose(fp32[0], kernelGradient, this.tolerance);
        float[][] expected = takenInFp32 ? fp32 : ReferenceOps.conv2dBackwardFilter(s, xr, dyr);
        double gradientTolerance = takenInFp32 ? this.tolerance : tolerance;
        assertClose("conv backward-filter kernel " + s, expected[0], kernelGradient, gradientTolerance);
        if (b != null) {
            assertClose("conv backward-filter bias " + s, expected[1], download(tdb), gradientTolerance);
        }

        // both directions in one call, adding another reader's gradient to dx as it is written: the separate calls'
        // results (checked against the reference above) plus the addend, up to the rounding of that sum
        float[] addend = random(r, x.length);
        float[] dxPlus = download(tdx);
        for (int i = 0; i < dxPlus.length; i++) {
            dxPlus[i] += addend[i];
        }
        Tensor tdx2 = memory.allocate(s.inputShape());
        Tensor tdk2 = memory.allocate(s.kernelShape());
        Tensor tdb2 = b == null ? null : memory.allocate(s.filters());
        backend.conv2dBackward(s, tx, tdy, tk, tdk2, tdb2, upload(addend, s.inputShape()), tdx2);
        assertClose("conv backward in one call, dx plus addend " + s, dxPlus, download(tdx2), 1e-6);
        assertClose("conv backward in one call, kernel " + s, expected[0], download(tdk2), gradientTolerance);
        if (b != null) {
            assertClose("conv backward in one call, bias " + s, expected[1], download(tdb2), gradientTolerance);
        }
    }

    /** The inference convolution, with its kernel prepared once, with and without a residual, against the reference. */
    @ParameterizedTest
    @MethodSource("convSpecs")
    void conv2dInferenceMatchesTheReference(Conv2dSpec s) {
        Random r = new Random(s.toString().hashCode() + 1);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters());
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] residual = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] linear = ReferenceOps.conv2dForward(s.withActivation(Activation.LINEAR), x, k, b);
        Tensor tx = upload(x, s.inputShape());
        Tensor tb = b == null ? null : upload(b, s.filters());
        for (boolean withResidual : new boolean[] {false, true}) {
            Tensor kernel = upload(k, s.kernelShape());
            ConvInference op = new ConvInference(s, withResidual, Precision.FP32);
            long floats = backend.conv2dInferenceKernelSize(op);
            if (floats > 0) {
                Tensor prepared = memory.allocate(Math.toIntExact(floats));
                backend.conv2dPrepareInferenceKernel(op, kernel, prepared);
                backend.fill(kernel, Float.NaN); // the prepared copy alone must be read from now on
                kernel = prepared;
            }
            Tensor ty = memory.allocate(s.outputShape());
            backend.conv2dInference(op, tx, kernel, tb, withResidual ? upload(residual, s.outputShape()) : null, ty);
            float[] expected = new float[linear.length];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = (float) ReferenceOps.activate(s.activation(), linear[i] + (withResidual ? residual[i] : 0));
            }
            assertClose("conv inference " + (withResidual ? "+ residual " : "") + s, expected, download(ty),
                    tolerance);
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"2,0,1", "0,2,1", "1,0,2", "2,1,0", "0,1,2", "1,2,0"})
    void permuteMatchesTheReferenceAndItsInverseUndoesIt(String axes) {
        int[] perm = java.util.Arrays.stream(axes.split(",")).mapToInt(Integer::parseInt).toArray();
        checkPermute(new PermuteSpec(3, new int[] {2, 5, 4}, perm), axes.hashCode());
    }

    /** Samples of rank 2 (a leading axis of 1), one sample, and rows longer than a vector register. */
    @Test
    void permuteOfLowerRankSamplesMatchesTheReference() {
        checkPermute(PermuteSpec.of(1, new int[] {17, 33}, new int[] {1, 0}), 1);
        checkPermute(PermuteSpec.of(4, new int[] {65, 3, 64}, new int[] {1, 0, 2}), 2);
    }

    private void checkPermute(PermuteSpec s, long seed) {
        int[] perm = s.perm();
        Random r = new Random(seed);
        float[] x = random(r, (int) s.size());
        float[] expected = new float[x.length];
        int[] d = s.dims();
        int[] out = s.outputShape();
        for (int b = 0; b < s.batch(); b++) {
            for (int i = 0; i < out[1]; i++) {
                for (int j = 0; j < out[2]; j++) {
                    for (int k = 0; k < out[3]; k++) {
                        int[] at = new int[3];
                        at[perm[0]] = i;
                        at[perm[1]] = j;
                        at[perm[2]] = k;
                        expected[((b * out[1] + i) * out[2] + j) * out[3] + k] =
                                x[((b * d[0] + at[0]) * d[1] + at[1]) * d[2] + at[2]];
                    }
                }
            }
        }
        Tensor tx = upload(x, s.inputShape());
        Tensor ty = memory.allocate(s.outputShape());
        backend.permute(s, tx, ty);
        assertClose("permute " + s, expected, download(ty), 0);
        Tensor back = memory.allocate(s.inputShape());
        backend.permute(s.inverse(), ty, back);
        assertClose("permute back " + s, x, download(back), 0);
    }

    Stream<Pool2dSpec> poolSpecs() {
        return Stream.of(
                new Pool2dSpec(4, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0),
                new Pool2dSpec(1, 11, 11, 64, 2, 2, 2, 2, 0, 0, 0, 0),   // odd input: last row/column dropped
                new Pool2dSpec(2, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1),      // same padding, stride 1
                new Pool2dSpec(2, 7, 6, 5, 2, 2, 2, 2, 0, 0, 1, 0),      // same padding, uneven (one more row below)
                new Pool2dSpec(2, 6, 5, 3, 3, 3, 2, 2, 1, 0, 1, 2),      // explicit padding (ONNX), a window mostly pad
                Pool2dSpec.global(Pool2dSpec.Mode.MAX, 3, 5, 4, 7),      // global
                Pool2dSpec.global(Pool2dSpec.Mode.MAX, 2, 1, 1, 13));    // global over 1x1 maps: the identity
    }

    @ParameterizedTest
    @MethodSource("poolSpecs")
    void poolingForInferenceMatchesTheReference(Pool2dSpec s) {
        Random r = new Random(s.toString().hashCode() + 2);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.channels());
        Tensor tx = upload(x, s.inputShape());
        Tensor ty = memory.allocate(s.outputShape());
        backend.pool2dInference(s, tx, ty);
        assertClose("max pool inference " + s, ReferenceOps.maxPoolForward(s, x), download(ty), 0);
        Pool2dSpec average = new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, s.batch(), s.inH(), s.inW(), s.channels(),
                s.poolH(), s.poolW(), s.strideH(), s.strideW(), s.padTop(), s.padLeft(), s.padBottom(), s.padRight());
        Tensor averaged = memory.allocate(s.outputShape()); // not ty: what the max pooling wrote there could pass
        backend.pool2dInference(average, tx, averaged);
        assertClose("average pool inference " + s, ReferenceOps.averagePoolForward(average, x), download(averaged),
                1e-6);
    }

    @ParameterizedTest
    @MethodSource("poolSpecs")
    void maxPoolForwardAndBackwardMatchTheReference(Pool2dSpec s) {
        Random r = new Random(s.toString().hashCode());
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.channels());
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.channels());
        Tensor tx = upload(x, s.inputShape());
        Tensor ty = memory.allocate(s.outputShape());
        long wsSize = backend.pool2dWorkspaceSize(s);
        Tensor ws = wsSize > 0 ? memory.allocate((int) wsSize) : null;
        backend.pool2dForward(s, tx, ty, ws);
        assertClose("max-pool forward " + s, ReferenceOps.maxPoolForward(s, x), download(ty), 0);
        Tensor tdx = memory.allocate(s.inputShape());
        backend.pool2dBackward(s, tx, ty, upload(dy, s.outputShape()), ws, tdx);
        assertClose("max-pool backward " + s, ReferenceOps.maxPoolBackward(s, x, dy), download(tdx), tolerance);
    }

    Stream<Pool2dSpec> averagePoolSpecs() {
        return Stream.of(
                new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, 4, 8, 8, 16, 2, 2, 2, 2, 0, 0, 0, 0),
                new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, 1, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1),   // same: edges count less
                new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, 2, 7, 6, 5, 2, 2, 2, 2, 0, 0, 1, 0),   // uneven same padding
                new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, 2, 6, 5, 4, 3, 2, 2, 1, 1, 0, 1, 1),   // odd windows and strides
                Pool2dSpec.global(Pool2dSpec.Mode.AVERAGE, 3, 5, 4, 7));                      // global
    }

    @ParameterizedTest
    @MethodSource("averagePoolSpecs")
    void averagePoolForwardAndBackwardMatchTheReference(Pool2dSpec s) {
        Random r = new Random(s.toString().hashCode());
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.channels());
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.channels());
        Tensor tx = upload(x, s.inputShape());
        Tensor ty = memory.allocate(s.outputShape());
        long wsSize = backend.pool2dWorkspaceSize(s);
        Tensor ws = wsSize > 0 ? memory.allocate((int) wsSize) : null;
        backend.pool2dForward(s, tx, ty, ws);
        assertClose("average-pool forward " + s, ReferenceOps.averagePoolForward(s, x), download(ty), 1e-5);
        Tensor tdx = memory.allocate(s.inputShape());
        backend.pool2dBackward(s, tx, ty, upload(dy, s.outputShape()), ws, tdx);
        assertClose("average-pool backward " + s, ReferenceOps.averagePoolBackward(s, dy), download(tdx), 1e-5);
    }

    Stream<DenseSpec> denseSpecs() {
        return Stream.of(
                new DenseSpec(32, 576, 64, Activation.RELU),
                new DenseSpec(1, 64, 10, Activation.LINEAR),
                new DenseSpec(7, 13, 5, Activation.RELU),
                new DenseSpec(5, 9, 6, Activation.TANH));
    }

    @ParameterizedTest
    @MethodSource("denseSpecs")
    void denseInferenceMatchesTheReference(DenseSpec s) {
        Random r = new Random(s.toString().hashCode() + 1);
        float[] x = random(r, s.batch() * s.inFeatures());
        float[] k = random(r, s.inFeatures() * s.units());
        float[] b = random(r, s.units());
        Tensor kernel = upload(k, s.kernelShape());
        DenseInference op = new DenseInference(s, Precision.FP32);
        long floats = backend.denseInferenceKernelSize(op);
        if (floats > 0) {
            Tensor prepared = memory.allocate(Math.toIntExact(floats));
            backend.densePrepareInferenceKernel(op, kernel, prepared);
            backend.fill(kernel, Float.NaN);
            kernel = prepared;
        }
        Tensor ty = memory.allocate(s.outputShape());
        backend.denseInference(op, upload(x, s.inputShape()), kernel, upload(b, s.units()), ty);
        assertClose("dense inference " + s, ReferenceOps.denseForward(s, x, k, b), download(ty), tolerance);
    }

    /** x rounded to the nearest bfloat16 (ties to even), as oneDNN's fp32-to-bf16 conversion rounds. */
    static float bf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        bits += 0x7FFF + ((bits >>> 16) & 1);
        return Float.intBitsToFloat(bits & 0xFFFF0000);
    }

    static float[] bf16(float[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            r[i] = bf16(x[i]);
        }
        return r;
    }

    /**
     * bf16 inference: inputs and kernels rounded to bfloat16, products summed in fp32. Against the reference on the
     * rounded values, only fp32 summation differs (where the backend has bf16 kernels; skipped elsewhere).
     */
    @ParameterizedTest
    @MethodSource("convSpecs")
    void bf16ConvolutionMultipliesRoundedValues(Conv2dSpec s) {
        checkConvInference(s, Precision.BF16, BackendContractTest::bf16, bf16InferenceTolerance());
    }

    @ParameterizedTest
    @MethodSource("denseSpecs")
    void bf16DenseMultipliesRoundedValues(DenseSpec s) {
        checkDenseInference(s, Precision.BF16, BackendContractTest::bf16, bf16InferenceTolerance());
    }

    /** fp16 inference (GPUs with tensor cores; skipped elsewhere): within fp16's 1e-2 of the fp32 reference. */
    @ParameterizedTest
    @MethodSource("convSpecs")
    void fp16ConvolutionInferenceMatchesTheReference(Conv2dSpec s) {
        checkConvInference(s, Precision.FP16, x -> x, Math.max(tolerance, FP16_TOLERANCE));
    }

    @ParameterizedTest
    @MethodSource("denseSpecs")
    void fp16DenseInferenceMatchesTheReference(DenseSpec s) {
        checkDenseInference(s, Precision.FP16, x -> x, Math.max(tolerance, FP16_TOLERANCE));
    }

    /**
     * The inference convolution with a residual in this precision (skipped where the backend has none) against the
     * reference on the operands as given by operands (rounded, or as they are).
     */
    private void checkConvInference(Conv2dSpec s, Precision precision, java.util.function.UnaryOperator<float[]> operands,
                                    double tolerance) {
        org.junit.jupiter.api.Assumptions.assumeTrue(backend.unavailable(precision) == null,
                () -> backend.unavailable(precision));
        Random r = new Random(s.toString().hashCode() + 3);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, s.kernelH() * s.kernelW() * (s.inC() / s.groups()) * s.filters());
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] residual = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] linear = ReferenceOps.conv2dForward(s.withActivation(Activation.LINEAR), operands.apply(x),
                operands.apply(k), b);
        ConvInference op = new ConvInference(s, true, precision);
        long floats = backend.conv2dInferenceKernelSize(op);
        Tensor kernel = upload(k, s.kernelShape());
        if (floats > 0) {
            Tensor prepared = memory.allocate(Math.toIntExact(floats));
            backend.conv2dPrepareInferenceKernel(op, kernel, prepared);
            kernel = prepared;
        }
        Tensor ty = memory.allocate(s.outputShape());
        backend.conv2dInference(op, upload(x, s.inputShape()), kernel, b == null ? null : upload(b, s.filters()),
                upload(residual, s.outputShape()), ty);
        float[] expected = new float[linear.length];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = (float) ReferenceOps.activate(s.activation(), linear[i] + residual[i]);
        }
        assertClose(precision + " conv inference " + s, expected, download(ty), tolerance);
    }

    /** As {@link #checkConvInference}, for a dense layer. */
    private void checkDenseInference(DenseSpec s, Precision precision, java.util.function.UnaryOperator<float[]> operands,
                                     double tolerance) {
        org.junit.jupiter.api.Assumptions.assumeTrue(backend.unavailable(precision) == null,
                () -> backend.unavailable(precision));
        Random r = new Random(s.toString().hashCode() + 3);
        float[] x = random(r, s.batch() * s.inFeatures());
        float[] k = random(r, s.inFeatures() * s.units());
        float[] b = random(r, s.units());
        DenseInference op = new DenseInference(s, precision);
        long floats = backend.denseInferenceKernelSize(op);
        Tensor kernel = upload(k, s.kernelShape());
        if (floats > 0) {
            Tensor prepared = memory.allocate(Math.toIntExact(floats));
            backend.densePrepareInferenceKernel(op, kernel, prepared);
            kernel = prepared;
        }
        Tensor ty = memory.allocate(s.outputShape());
        backend.denseInference(op, upload(x, s.inputShape()), kernel, upload(b, s.units()), ty);
        assertClose(precision + " dense inference " + s,
                ReferenceOps.denseForward(s, operands.apply(x), operands.apply(k), b), download(ty), tolerance);
    }

    @ParameterizedTest
    @MethodSource("denseSpecs")
    void denseForwardAndBackwardMatchTheReference(DenseSpec s) {
        checkDenseTrainingOps(s, tolerance, false);
    }

    /** roundOperands: the reference multiplies the bf16-rounded operands (bf16 math). */
    private void checkDenseTrainingOps(DenseSpec s, double tolerance, boolean roundOperands) {
        Random r = new Random(s.toString().hashCode());
        float[] x = random(r, s.batch() * s.inFeatures());
        float[] k = random(r, s.inFeatures() * s.units());
        float[] b = random(r, s.units());
        float[] dy = random(r, s.batch() * s.units());
        float[] xr = roundOperands ? bf16(x) : x;
        float[] kr = roundOperands ? bf16(k) : k;
        float[] dyr = roundOperands ? bf16(dy) : dy;
        Tensor tx = upload(x, s.inputShape());
        Tensor tk = upload(k, s.kernelShape());
        Tensor ty = memory.allocate(s.outputShape());
        backend.denseForward(s, tx, tk, upload(b, s.units()), ty);
        assertClose("dense forward " + s, ReferenceOps.denseForward(s, xr, kr, b), download(ty), tolerance);

        Tensor tdy = upload(dy, s.outputShape());
        Tensor tdx = memory.allocate(s.inputShape());
        backend.denseBackwardData(s, tdy, tk, tdx);
        assertClose("dense backward-data " + s, ReferenceOps.denseBackwardData(s, dyr, kr), download(tdx), tolerance);

        Tensor tdk = memory.allocate(s.kernelShape());
        Tensor tdb = memory.allocate(s.units());
        backend.denseBackwardWeights(s, tx, tdy, tdk, tdb);
        float[][] expected = ReferenceOps.denseBackwardWeights(s, xr, dyr);
        assertClose("dense backward-weights kernel " + s, expected[0], download(tdk), tolerance);
        assertClose("dense backward-weights bias " + s, expected[1], download(tdb), tolerance);
    }

    Stream<BatchNormSpec> batchNormSpecs() {
        return Stream.of(
                new BatchNormSpec(4, 6, 5, 16, 1e-3f, 0.99f),
                new BatchNormSpec(1, 3, 3, 7, 1e-3f, 0.9f),       // batch 1, odd channels
                new BatchNormSpec(9, 1, 1, 5, 1e-5f, 0.5f),       // (batch, features), as after Dense
                new BatchNormSpec(2, 17, 19, 3, 1e-3f, 0.99f),    // more rows than a chunk
                new BatchNormSpec(4, 6, 5, 16, 1e-3f, 0.99f, true), // with a fused ReLU
                new BatchNormSpec(3, 5, 7, 3, 1e-3f, 0.9f, true),
                new BatchNormSpec(4, 6, 5, 16, 1e-3f, 0.99f).withCappedRelu(0.5f), // a capped ReLU that clips
                new BatchNormSpec(3, 5, 7, 11, 1e-3f, 0.9f).withCappedRelu(6f),    // ReLU6, odd channels
                new BatchNormSpec(2, 17, 19, 3, 1e-3f, 0.99f).withCappedRelu(1f));
    }

    @ParameterizedTest
    @MethodSource("batchNormSpecs")
    void batchNormTrainingInferenceAndBackwardMatchTheReference(BatchNormSpec s) {
        Random r = new Random(s.toString().hashCode());
        int n = s.rows() * s.channels();
        float[] x = random(r, n);
        for (int i = 0; i < n; i++) {
            x[i] = x[i] * 2 + 3 + i % s.channels(); // per-channel offsets, as real activations have
        }
        float[] gamma = random(r, s.channels());
        float[] beta = random(r, s.channels());
        float[] movingMean = random(r, s.channels());
        float[] movingVar = new float[s.channels()];
        for (int c = 0; c < s.channels(); c++) {
            movingVar[c] = 0.5f + r.nextFloat();
        }
        float[] dy = random(r, n);
        Tensor tx = upload(x, s.shape()), tg = upload(gamma, s.channels()), tb = upload(beta, s.channels());
        Tensor tmm = upload(movingMean, s.channels()), tmv = upload(movingVar, s.channels());
        Tensor ty = memory.allocate(s.shape());
        Tensor mean = memory.allocate(s.channels()), var = memory.allocate(s.channels());
        long wsSize = backend.batchNormWorkspaceSize(s);
        Tensor ws = wsSize > 0 ? memory.allocate((int) wsSize) : null;

        backend.batchNormForwardInference(s, tx, tg, tb, tmm, tmv, ty);
        double[] mm = toDouble(movingMean), mv = toDouble(movingVar);
        assertClose("batch-norm inference " + s, relu(s, ReferenceOps.batchNormApply(s, x, gamma, beta, mm, mv)),
                download(ty), 1e-4);

        backend.batchNormForwardTraining(s, tx, tg, tb, tmm, tmv, ty, mean, var, ws);
        double[][] st = ReferenceOps.channelStatistics(s, x);
        float[] yTraining = relu(s, ReferenceOps.batchNormTraining(s, x, gamma, beta));
        assertClose("batch-norm training " + s, yTraining, download(ty), 1e-4);
        assertClose("batch-norm batch mean " + s, toFloat(st[0]), download(mean), 1e-4);
        assertClose("batch-norm batch variance " + s, toFloat(st[1]), download(var), 1e-4);
        float[] expectedMean = new float[s.channels()], expectedVar = new float[s.channels()];
        for (int c = 0; c < s.channels(); c++) {
            expectedMean[c] = (float) (movingMean[c] * s.momentum() + st[0][c] * (1 - s.momentum()));
            expectedVar[c] = (float) (movingVar[c] * s.momentum() + st[1][c] * (1 - s.momentum()));
        }
        assertClose("batch-norm moving mean " + s, expectedMean, download(tmm), 1e-4);
        assertClose("batch-norm moving variance " + s, expectedVar, download(tmv), 1e-4);

        Tensor tdx = memory.allocate(s.shape()), dg = memory.allocate(s.channels()), db = memory.allocate(s.channels());
        backend.batchNormBackward(s, tx, ty, upload(dy, s.shape()), tg, mean, var, ws, tdx, dg, db);
        float[] dyNormalized = dy.clone();
        for (int i = 0; i < dy.length && s.relu(); i++) {
            // the fused ReLU's gradient, then the normalization's
            dyNormalized[i] = yTraining[i] > 0 && yTraining[i] < s.reluCap() ? dy[i] : 0f;
        }
        float[][] expected = ReferenceOps.batchNormBackward(s, x, dyNormalized, gamma);
        assertClose("batch-norm backward dx " + s, expected[0], download(tdx), 1e-3);
        assertClose("batch-norm backward dgamma " + s, expected[1], download(dg), 1e-3);
        assertClose("batch-norm backward dbeta " + s, expected[2], download(db), 1e-4);
    }

    private static float[] relu(BatchNormSpec s, float[] y) {
        if (!s.relu()) {
            return y;
        }
        float[] out = new float[y.length];
        for (int i = 0; i < y.length; i++) {
            out[i] = Math.min(Math.max(0f, y[i]), s.reluCap());
        }
        return out;
    }

    Stream<Activation> activations() {
        return Stream.of(Activation.RELU, Activation.RELU6, Activation.leakyRelu(0.3f), Activation.relu(4f, 0.1f),
                Activation.SIGMOID, Activation.TANH, Activation.ELU, Activation.elu(0.5f), Activation.GELU,
                Activation.SWISH, Activation.HARD_SWISH, Activation.HARD_SIGMOID, Activation.LINEAR);
    }

    @ParameterizedTest
    @MethodSource("activations")
    void everyActivationMatchesTheReferenceBothWays(Activation a) {
        Random r = new Random(a.toString().hashCode());
        float[] x = new float[6 * 35];
        for (int i = 0; i < x.length; i++) {
            float v;
            do {
                v = (float) (r.nextGaussian() * 4);
            } while (Math.abs(v) < 1e-3 || Math.abs(Math.abs(v) - 3) < 1e-3 || Math.abs(v - 4) < 1e-3
                    || Math.abs(v - 6) < 1e-3); // off the kinks
            x[i] = v;
        }
        float[] dy = random(r, x.length);
        Tensor tx = upload(x, 6, 35);
        Tensor ty = memory.allocate(6, 35);
        backend.activationForward(a, tx, ty);
        float[] y = ReferenceOps.activationForward(a, x);
        assertClose("forward " + a, y, download(ty), 1e-5);
        Tensor tdx = memory.allocate(6, 35);
        backend.activationBackward(a, tx, ty, upload(dy, 6, 35), tdx);
        assertClose("backward from the input " + a, ReferenceOps.activationBackward(a, x, dy), download(tdx), 1e-5);
        if (a.differentiableFromOutput()) {
            backend.activationBackward(a, null, ty, upload(dy, 6, 35), tdx);
            assertClose("backward from the output " + a, ReferenceOps.activationBackward(a, x, dy), download(tdx),
                    1e-4);
        }
    }

    @Test
    void softmaxForwardAndBackwardRunOverTheLastAxis() {
        Random r = new Random(21);
        int rows = 2 * 3 * 4, width = 7;
        float[] x = random(r, rows * width);
        float[] dy = random(r, rows * width);
        Tensor tx = upload(x, 2, 3, 4, width);
        Tensor ty = memory.allocate(2, 3, 4, width);
        backend.activationForward(Activation.SOFTMAX, tx, ty);
        float[] y = ReferenceOps.softmax(x, rows, width);
        assertClose("softmax forward", y, download(ty), 1e-6);
        Tensor tdx = memory.allocate(2, 3, 4, width);
        backend.activationBackward(Activation.SOFTMAX, null, ty, upload(dy, 2, 3, 4, width), tdx);
        assertClose("softmax backward", ReferenceOps.softmaxBackward(y, dy, rows, width), download(tdx), 1e-5);
    }

    @Test
    void reluBackwardPassesGradientOnlyWhereTheOutputIsPositive() {
        Random r = new Random(7);
        float[] y = random(r, 1000);
        for (int i = 0; i < y.length; i++) {
            y[i] = Math.max(0, y[i]);
        }
        float[] dy = random(r, 1000);
        Tensor tdx = memory.allocate(10, 100);
        backend.activationBackward(Activation.RELU, null, upload(y, 10, 100), upload(dy, 10, 100), tdx);
        assertClose("relu backward", ReferenceOps.reluBackward(y, dy), download(tdx), 0);
    }

    @Test
    void elementWiseArithmetic() {
        Random r = new Random(8);
        float[] a = random(r, 333), b = random(r, 333);
        Tensor ta = upload(a, 333), tb = upload(b, 333), out = memory.allocate(333);
        float[] sum = new float[333], product = new float[333], scaled = new float[333];
        for (int i = 0; i < 333; i++) {
            sum[i] = a[i] + b[i];
            product[i] = a[i] * b[i];
            scaled[i] = a[i] * 0.25f - 1.5f;
        }
        backend.add(ta, tb, out);
        assertClose("add", sum, download(out), 0);
        backend.multiply(ta, tb, out);
        assertClose("multiply", product, download(out), 0);
        backend.scale(ta, 0.25f, -1.5f, out);
        assertClose("scale", scaled, download(out), 1e-6);
        float[] rectified = sum.clone();
        for (int i = 0; i < 333; i++) {
            rectified[i] = Math.max(0f, rectified[i]);
        }
        backend.add(ta, tb, Activation.RELU, out); // a residual sum and the ReLU after it
        assertClose("add then ReLU", rectified, download(out), 0);
        backend.add(ta, tb, ta); // in place
        assertClose("add in place", sum, download(ta), 0);
    }

    /**
     * The moving average of weights (Keras' use_ema): momentum * average + (1 - momentum) * values, in place in the
     * average; momentum 0 copies the values; a momentum outside [0, 1] or tensors of two sizes are refused.
     */
    @Test
    void movingAverageBlendsTheValuesIntoTheAverage() {
        Random r = new Random(9);
        float[] average = random(r, 333), values = random(r, 333);
        Tensor ta = upload(average, 333), tv = upload(values, 333);
        float[] expected = new float[333];
        for (int i = 0; i < 333; i++) {
            expected[i] = 0.9f * average[i] + (1f - 0.9f) * values[i];
        }
        backend.movingAverage(ta, tv, 0.9f);
        assertClose("moving average", expected, download(ta), 1e-6);
        backend.movingAverage(ta, tv, 0f);
        assertClose("momentum 0 copies", values, download(ta), 0);
        IllegalArgumentException momentum = assertThrows(IllegalArgumentException.class,
                () -> backend.movingAverage(ta, tv, 1.5f));
        assertTrue(momentum.getMessage().contains("momentum in [0, 1], received 1.5"), momentum.getMessage());
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                () -> backend.movingAverage(ta, memory.allocate(332), 0.5f));
        assertTrue(size.getMessage().contains("movingAverage") && size.getMessage().contains("332"), size.getMessage());
    }

    /**
     * Classification counts of 600 rows of 3 logits through softmax (targets one-hot with a weight column), against
     * counts made here in double: the confusion matrix and top-2 hits exactly; each class's score histograms alike up
     * to a score or two on a bin's edge; the error sums at the end as the error-sum op gives them.
     */
    @Test
    void classificationCountsMatchCountsMadeInDouble() {
        Random r = new Random(11);
        int rows = 600, classes = 3, bins = dev.osprey.metrics.ClassificationCounts.BINS;
        float[] y = random(r, rows * classes);
        float[] t = new float[rows * (classes + 1)];
        long[] confusion = new long[classes * classes];
        long topTwo = 0;
        long[][] histograms = new long[classes * 2][bins];
        for (int i = 0; i < rows; i++) {
            int truth = r.nextInt(classes);
            t[i * (classes + 1) + truth] = 1f;
            t[i * (classes + 1) + classes] = 0.5f;
            double max = Math.max(y[i * 3], Math.max(y[i * 3 + 1], y[i * 3 + 2]));
            double total = 0;
            double[] p = new double[classes];
            for (int c = 0; c < classes; c++) {
                p[c] = Math.exp(y[i * 3 + c] - max);
                total += p[c];
            }
            int predicted = 0, higher = 0;
            for (int c = 0; c < classes; c++) {
                p[c] /= total;
                predicted = p[c] > p[predicted] ? c : predicted;
            }
            for (int c = 0; c < classes; c++) {
                higher += p[c] > p[truth] ? 1 : 0;
                histograms[c * 2 + (c == truth ? 0 : 1)][Math.min((int) (p[c] * bins), bins - 1)]++;
            }
            confusion[truth * classes + predicted]++;
            topTwo += higher < 2 ? 1 : 0;
        }
        Tensor counts = memory.allocate(dev.osprey.metrics.ClassificationCounts.size(classes));
        backend.fill(counts, 0f);
        backend.classificationCounts(upload(y, rows, classes), Activation.Kind.SOFTMAX, upload(t, rows, classes + 1), 2,
                counts);
        float[] c = download(counts);
        for (int i = 0; i < classes * classes; i++) {
            assertEquals(confusion[i], c[i], 0f, "confusion matrix [" + i / classes + "][" + i % classes + "]");
        }
        assertEquals(topTwo, c[classes * classes], 0f, "top-2 hits");
        int base = classes * classes + 1;
        for (int h = 0; h < classes * 2; h++) {
            long total = 0, apart = 0;
            for (int b = 0; b < bins; b++) {
                total += (long) c[base + h * bins + b] - histograms[h][b];
                apart += Math.abs((long) c[base + h * bins + b] - histograms[h][b]);
            }
            assertEquals(0, total, "histogram " + h + " counts every score once");
            assertTrue(apart <= 4, "histogram " + h + " differs by " + apart + " scores moved between bins");
        }
        Tensor sums = memory.allocate(dev.osprey.metrics.ErrorSums.SIZE);
        backend.fill(sums, 0f);
        backend.errorSums(upload(y, rows, classes), Activation.Kind.SOFTMAX, upload(t, rows, classes + 1), sums);
        int errors = base + classes * 2 * bins;
        dev.osprey.metrics.ErrorSums tail = dev.osprey.metrics.ErrorSums.read(c, errors);
        dev.osprey.metrics.ErrorSums alone = dev.osprey.metrics.ErrorSums.read(download(sums), 0);
        assertEquals(alone.rows(), tail.rows());
        assertEquals(alone.absolute(), tail.absolute(), 1e-5 * alone.absolute(), "the counts' error sums");
        assertEquals(alone.squared(), tail.squared(), 1e-5 * alone.squared(), "the counts' squared errors");
    }

    /**
     * Error sums (the metrics mae and mse) of 600 rows of 3 scores through softmax, and as they are, against targets
     * with a weight column, in double on the host: every lane's rows added up; a fourth activation is refused.
     */
    @Test
    void errorSumsAddEachRowsErrorsToItsLane() {
        Random r = new Random(10);
        int rows = 600;
        float[] y = random(r, rows * 3), t = random(r, rows * 4);
        for (Activation.Kind kind : new Activation.Kind[] {Activation.Kind.SOFTMAX, null}) {
            Tensor sums = memory.allocate(dev.osprey.metrics.ErrorSums.SIZE);
            backend.fill(sums, 0f);
            backend.errorSums(upload(y, rows, 3), kind, upload(t, rows, 4), sums);
            backend.errorSums(upload(y, rows, 3), kind, upload(t, rows, 4), sums); // sums accumulate
            float[] lanes = download(sums);
            int width = dev.osprey.metrics.ErrorSums.LANES;
            double absolute = 0, squared = 0;
            for (int i = 0; i < rows; i++) {
                double max = Math.max(y[i * 3], Math.max(y[i * 3 + 1], y[i * 3 + 2]));
                double total = 0;
                for (int c = 0; c < 3; c++) {
                    total += Math.exp(y[i * 3 + c] - max);
                }
                for (int c = 0; c < 3; c++) {
                    double p = kind == null ? y[i * 3 + c] : Math.exp(y[i * 3 + c] - max) / total;
                    double d = p - t[i * 4 + c];
                    absolute += 2 * Math.abs(d);
                    squared += 2 * d * d;
                }
            }
            dev.osprey.metrics.ErrorSums e = dev.osprey.metrics.ErrorSums.read(lanes, 0);
            assertEquals(2L * rows, e.rows(), kind + " rows");
            assertEquals(absolute, e.absolute(), 1e-5 * absolute, kind + " absolute errors");
            assertEquals(squared, e.squared(), 1e-5 * squared, kind + " squared errors");
            assertEquals(6f, lanes[2 * width + 7], 0f, "lane 7 holds rows 7, 263 and 519 of each call: " + kind);
            Tensor later = memory.allocate(dev.osprey.metrics.ErrorSums.SIZE);
            backend.fill(later, 0f);
            backend.errorSums(upload(y, rows, 3), kind, upload(t, rows, 4), later, 300); // rows 300 to 899 of an epoch
            float[] shifted = download(later);
            assertEquals(3f, shifted[2 * width + 44], 0f, "lane 44 holds rows 300, 556 and 812: " + kind);
            assertEquals(2f, shifted[2 * width + 43], 0f, "lane 43 holds rows 555 and 811: " + kind);
        }
        IllegalArgumentException kind = assertThrows(IllegalArgumentException.class, () -> backend.errorSums(
                upload(y, rows, 3), Activation.Kind.RELU, upload(t, rows, 4),
                memory.allocate(dev.osprey.metrics.ErrorSums.SIZE)));
        assertTrue(kind.getMessage().contains("errorSums: expected scores through softmax, sigmoid or as they are"),
                kind.getMessage());
    }

    /**
     * Multiply's channel gates: each (batch, H, W, C) value times its sample's gate for its channel, exactly; in place
     * too. Shapes chosen so that rows span the native loop's blocks unevenly (channels 3 and 300), and a gate of the
     * wrong shape is refused naming both.
     */
    @Test
    void channelGatesMultiplyEveryPixelOfTheirSample() {
        Random r = new Random(21);
        for (int[] s : new int[][] {{3, 7, 5, 3}, {2, 9, 4, 300}, {1, 1, 1, 16}}) {
            int batch = s[0], pixels = s[1] * s[2], channels = s[3];
            float[] x = random(r, batch * pixels * channels), gate = random(r, batch * channels);
            float[] expected = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                int sample = i / (pixels * channels);
                expected[i] = x[i] * gate[sample * channels + i % channels];
            }
            Tensor tx = upload(x, batch, s[1], s[2], channels), tg = upload(gate, batch, 1, 1, channels);
            Tensor out = memory.allocate(batch, s[1], s[2], channels);
            backend.multiplyChannels(tx, tg, out);
            assertClose("channel gate " + java.util.Arrays.toString(s), expected, download(out), 0);
            backend.multiplyChannels(tx, tg, tx);
            assertClose("channel gate in place " + java.util.Arrays.toString(s), expected, download(tx), 0);
        }
        Tensor x = memory.allocate(2, 3, 3, 4);
        IllegalArgumentException wrong = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> backend.multiplyChannels(x, memory.allocate(2, 1, 1, 3), x));
        org.junit.jupiter.api.Assertions.assertTrue(wrong.getMessage().contains("(2, 1, 1, 4)"), wrong.getMessage());
    }

    Stream<BatchMatMulSpec> batchMatMulSpecs() {
        return Stream.of(
                new BatchMatMulSpec(6, 5, 7, 3, false, false),    // odd sizes
                new BatchMatMulSpec(8, 17, 17, 16, false, true),  // attention scores: Q . K^T per sample and head
                new BatchMatMulSpec(8, 17, 16, 17, false, false), // context: weights . V
                new BatchMatMulSpec(8, 17, 16, 17, true, false),  // dV = weights^T . dContext
                new BatchMatMulSpec(3, 9, 4, 11, true, true),     // both transposed
                new BatchMatMulSpec(1, 1, 1, 1, false, false),    // one value
                new BatchMatMulSpec(2, 65, 64, 48, false, true)); // wider than a vector register, uneven
    }

    /** Batched products against the reference for every combination of transposed operands. */
    @ParameterizedTest
    @MethodSource("batchMatMulSpecs")
    void batchMatMulMatchesTheReference(BatchMatMulSpec s) {
        Random r = new Random(s.toString().hashCode());
        int[] as = s.aShape(), bs = s.bShape();
        float[] a = random(r, as[0] * as[1] * as[2]), b = random(r, bs[0] * bs[1] * bs[2]);
        Tensor c = memory.allocate(s.cShape());
        backend.fill(c, Float.NaN); // every value must be written
        backend.batchMatMul(s, upload(a, as), upload(b, bs), c);
        assertClose("batched matmul " + s, ReferenceOps.batchMatMul(s, a, b), download(c), tolerance);
    }

    /**
     * Attention's products as its layer runs them, each head's matrix read and written inside (positions, heads, dim)
     * rows (BatchMatMulSpec.Layout.interleaved); one reads the key from the same packed rows as the query, at a later
     * column (a view), and the last writes its products into rows wider than its heads' columns.
     */
    Stream<BatchMatMulSpec> headLayoutSpecs() {
        // more samples than heads, and fewer (batch-1 inference): a backend may loop over either (CUDA does)
        return Stream.of(headLayoutSpecs(3, 2), headLayoutSpecs(1, 3), headLayoutSpecs(2, 3)).flatMap(x -> x);
    }

    /** Attention's products for b samples of h heads, over the layouts of its projection rows. */
    static Stream<BatchMatMulSpec> headLayoutSpecs(int b, int h) {
        int tq = 5, tv = 7, dk = 4, dv = 3;
        BatchMatMulSpec.Layout q = BatchMatMulSpec.Layout.interleaved(tq, dk, h * dk);
        BatchMatMulSpec.Layout k = BatchMatMulSpec.Layout.interleaved(tv, dk, h * dk);
        BatchMatMulSpec.Layout v = BatchMatMulSpec.Layout.interleaved(tv, dv, h * dv);
        BatchMatMulSpec.Layout context = BatchMatMulSpec.Layout.interleaved(tq, dv, h * dv);
        BatchMatMulSpec.Layout scores = BatchMatMulSpec.Layout.packed(h, tq, tv);
        BatchMatMulSpec.Layout packedRows = BatchMatMulSpec.Layout.interleaved(tq, dk, 2 * h * dk + h * dv);
        return Stream.of(
                BatchMatMulSpec.ofHeads(b, h, tq, tv, dk, false, true, q, k, scores),          // Q . K^T
                BatchMatMulSpec.ofHeads(b, h, tq, dv, tv, false, false, scores, v, context),   // W . V
                BatchMatMulSpec.ofHeads(b, h, tv, dv, tq, true, false, scores, context, v),    // W^T . dC
                BatchMatMulSpec.ofHeads(b, h, tq, tv, dv, false, true, context, v, scores),    // dC . V^T
                BatchMatMulSpec.ofHeads(b, h, tv, dk, tq, true, false, scores, q, k),          // dS^T . Q
                BatchMatMulSpec.ofHeads(b, h, tq, tq, dk, false, true, packedRows, packedRows, // Q . K^T, packed rows
                        BatchMatMulSpec.Layout.packed(h, tq, tq)),
                BatchMatMulSpec.ofHeads(b, h, tq, dk, tv, false, false, scores, k,              // dS . K, written
                        BatchMatMulSpec.Layout.interleaved(tq, dk, 2 * h * dk + h * dv)));      // into wider rows
    }

    /**
     * Products whose operands lie inside wider rows: against the reference, which reads and writes through the same
     * layouts; C's tensor starts full of a marker, and the values between its heads' columns must keep it.
     */
    @ParameterizedTest
    @MethodSource("headLayoutSpecs")
    void batchMatMulReadsAndWritesHeadsWhereTheyLie(BatchMatMulSpec s) {
        Random r = new Random(s.toString().hashCode());
        boolean sharedRows = s.aLayout().equals(s.bLayout()) && s.aLayout().rowStride() > s.k() * s.heads();
        int aFloats = Math.toIntExact(s.aExtent()), bFloats = Math.toIntExact(s.bExtent());
        int bOffset = sharedRows ? s.heads() * s.k() : 0; // the key's columns follow the query's in each row
        float[] rows = random(r, Math.max(aFloats, bOffset + bFloats));
        float[] a = sharedRows ? rows : random(r, aFloats);
        float[] b = sharedRows ? java.util.Arrays.copyOfRange(rows, bOffset, bOffset + bFloats) : random(r, bFloats);
        Tensor ta = upload(a, a.length);
        Tensor tb = sharedRows ? backend.view(ta, bOffset, bFloats) : upload(b, b.length);
        float[] expected = new float[Math.toIntExact(s.cExtent())];
        java.util.Arrays.fill(expected, 7.5f);
        Tensor c = upload(expected.clone(), expected.length);
        ReferenceOps.batchMatMul(s, a, b, expected);
        backend.batchMatMul(s, ta, tb, c);
        assertClose("batched matmul over heads " + s, expected, download(c), tolerance);
    }

    /**
     * A product layout whose samples or heads would write the same values (a sample stride of 0, heads' columns closer
     * than their width) is refused, not left to threads writing at once.
     */
    @Test
    void batchMatMulRefusesAProductLayoutWhoseItemsOverlap() {
        BatchMatMulSpec.Layout operand = BatchMatMulSpec.Layout.packed(2, 3, 3);
        Tensor a = memory.allocate(2 * 2 * 9), b = memory.allocate(2 * 2 * 9), c = memory.allocate(2 * 2 * 9);
        for (BatchMatMulSpec.Layout overlapping : List.of(new BatchMatMulSpec.Layout(0, 9, 3),
                new BatchMatMulSpec.Layout(18, 2, 6), new BatchMatMulSpec.Layout(9, 9, 3))) {
            BatchMatMulSpec s = BatchMatMulSpec.ofHeads(2, 2, 3, 3, 3, false, false, operand, operand, overlapping);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> backend.batchMatMul(s, a, b, c), overlapping::toString);
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("would overlap"), e.getMessage());
        }
        // the same products side by side in rows (heads' columns next to each other): accepted
        backend.batchMatMul(BatchMatMulSpec.ofHeads(2, 2, 3, 3, 3, false, false, operand, operand,
                BatchMatMulSpec.Layout.interleaved(3, 3, 6)), a, b, c);
    }

    /** Strides whose extent passes a long would wrap negative and pass the size check: refused on construction. */
    @Test
    void aLayoutReachingPastALongIsRefused() {
        BatchMatMulSpec.Layout huge = new BatchMatMulSpec.Layout(1L << 62, 0, 2);
        BatchMatMulSpec.Layout small = BatchMatMulSpec.Layout.packed(1, 2, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BatchMatMulSpec.ofHeads(3, 1, 2, 2, 2, false, false, huge, small, small));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("extent fits a long"), e.getMessage());
    }

    @Test
    void batchMatMulRefusesATensorShorterThanItsLayoutReaches() {
        BatchMatMulSpec.Layout rows = BatchMatMulSpec.Layout.interleaved(5, 4, 8);
        BatchMatMulSpec s = BatchMatMulSpec.ofHeads(3, 2, 5, 5, 4, false, true, rows, rows,
                BatchMatMulSpec.Layout.packed(2, 5, 5));
        Tensor q = memory.allocate(3 * 5 * 8);
        IllegalArgumentException shortB = assertThrows(IllegalArgumentException.class,
                () -> backend.batchMatMul(s, q, backend.view(q, 4, 3 * 5 * 8 - 5), memory.allocate(6, 5, 5)));
        org.junit.jupiter.api.Assertions.assertTrue(shortB.getMessage().contains("batchMatMul b")
                && shortB.getMessage().contains("at least 120"), shortB.getMessage());
    }

    @Test
    void batchMatMulRefusesMismatchedTensorsNamingTheExpectedShape() {
        BatchMatMulSpec s = new BatchMatMulSpec(2, 3, 4, 5, false, true);
        Tensor a = memory.allocate(2, 3, 5), b = memory.allocate(2, 4, 5);
        IllegalArgumentException wrongB = assertThrows(IllegalArgumentException.class,
                () -> backend.batchMatMul(s, a, memory.allocate(2, 5, 5), memory.allocate(2, 3, 4)));
        org.junit.jupiter.api.Assertions.assertTrue(wrongB.getMessage().contains("batchMatMul b")
                && wrongB.getMessage().contains("(2, 4, 5)"), wrongB.getMessage());
        IllegalArgumentException aliased = assertThrows(IllegalArgumentException.class,
                () -> backend.batchMatMul(new BatchMatMulSpec(2, 3, 5, 5, false, false), a, memory.allocate(2, 5, 5),
                        a));
        org.junit.jupiter.api.Assertions.assertTrue(aliased.getMessage().contains("c the same"),
                aliased.getMessage());
    }

    Stream<LayerNormSpec> layerNormSpecs() {
        return Stream.of(
                new LayerNormSpec(12, 96, 1e-6f),  // ConvNeXt's stage width, its epsilon
                new LayerNormSpec(1, 7, 1e-3f),    // one row, odd width
                new LayerNormSpec(600, 5, 1e-5f),  // more rows than a CUDA chunk
                new LayerNormSpec(3, 1, 1e-3f),    // width 1: every value is its row's mean, y = beta
                new LayerNormSpec(4, 768, 1e-5f)); // a transformer's width
    }

    /**
     * Layer normalization against the reference: the training forward (each row's mean and variance kept), the
     * inference forward (nothing kept, the same output, in place too) and the three gradients. Rows carry offsets of
     * their own, up to 100 times their spread, which a one-pass variance would lose in fp32.
     */
    @ParameterizedTest
    @MethodSource("layerNormSpecs")
    void layerNormForwardBothWaysAndBackwardMatchTheReference(LayerNormSpec s) {
        Random r = new Random(s.toString().hashCode());
        int n = s.rows() * s.width();
        float[] x = random(r, n);
        for (int i = 0; i < n; i++) {
            x[i] += 100f * ((i / s.width()) % 3 - 1);
        }
        float[] gamma = random(r, s.width()), beta = random(r, s.width()), dy = random(r, n);
        Tensor tx = upload(x, s.shape()), tg = upload(gamma, s.width()), tb = upload(beta, s.width());
        Tensor ty = memory.allocate(s.shape());
        Tensor mean = memory.allocate(s.rows()), var = memory.allocate(s.rows());
        float[] expected = ReferenceOps.layerNorm(s, x, gamma, beta);

        backend.layerNormForward(s, tx, tg, tb, ty, mean, var);
        assertClose("layer-norm training " + s, expected, download(ty), 1e-4);
        double[][] st = ReferenceOps.rowStatistics(s, x);
        assertClose("layer-norm mean " + s, toFloat(st[0]), download(mean), 1e-5);
        assertClose("layer-norm variance " + s, toFloat(st[1]), download(var), 1e-4);

        Tensor inference = memory.allocate(s.shape());
        backend.layerNormForward(s, tx, tg, tb, inference, null, null);
        assertClose("layer-norm inference " + s, expected, download(inference), 1e-4);

        Tensor tdx = memory.allocate(s.shape()), dg = memory.allocate(s.width()), db = memory.allocate(s.width());
        backend.layerNormBackward(s, tx, upload(dy, s.shape()), tg, mean, var, tdx, dg, db);
        float[][] gradients = ReferenceOps.layerNormBackward(s, x, dy, gamma);
        assertClose("layer-norm backward dx " + s, gradients[0], download(tdx), 1e-3);
        assertClose("layer-norm backward dgamma " + s, gradients[1], download(dg), 1e-3);
        assertClose("layer-norm backward dbeta " + s, gradients[2], download(db), 1e-4);

        Tensor inPlace = upload(x, s.shape());
        backend.layerNormForward(s, inPlace, tg, tb, inPlace, null, null);
        assertClose("layer-norm in place " + s, expected, download(inPlace), 1e-4);
    }

    @Test
    void layerNormRefusesMismatchedTensorsNamingTheExpectedShape() {
        LayerNormSpec s = new LayerNormSpec(4, 6, 1e-3f);
        Tensor x = memory.allocate(4, 6), gamma = memory.allocate(6), beta = memory.allocate(5);
        IllegalArgumentException wrongBeta = assertThrows(IllegalArgumentException.class,
                () -> backend.layerNormForward(s, x, gamma, beta, x, null, null));
        org.junit.jupiter.api.Assertions.assertTrue(wrongBeta.getMessage().contains("beta")
                && wrongBeta.getMessage().contains("(6)") && wrongBeta.getMessage().contains("(5)"),
                wrongBeta.getMessage());
        IllegalArgumentException wrongDx = assertThrows(IllegalArgumentException.class,
                () -> backend.layerNormBackward(s, x, x, gamma, memory.allocate(4), memory.allocate(4),
                        memory.allocate(4, 5), gamma, gamma));
        org.junit.jupiter.api.Assertions.assertTrue(wrongDx.getMessage().contains("layerNormBackward dx"),
                wrongDx.getMessage());
        IllegalArgumentException halfStatistics = assertThrows(IllegalArgumentException.class,
                () -> backend.layerNormForward(s, x, gamma, gamma, x, memory.allocate(4), null));
        org.junit.jupiter.api.Assertions.assertTrue(halfStatistics.getMessage().contains("both"),
                halfStatistics.getMessage());
    }

    @Test
    void zeroPaddingAndItsGradient() {
        Pad2dSpec s = new Pad2dSpec(2, 3, 5, 4, 1, 2, 0, 3);
        Random r = new Random(9);
        float[] x = random(r, 2 * 3 * 5 * 4);
        float[] dy = random(r, 2 * s.outH() * s.outW() * 4);
        Tensor ty = memory.allocate(s.outputShape());
        backend.fill(ty, 7f); // the frame must be overwritten with zeros
        backend.pad2dForward(s, upload(x, s.inputShape()), ty);
        assertClose("pad", ReferenceOps.pad(s, x), download(ty), 0);
        Tensor tdx = memory.allocate(s.inputShape());
        backend.pad2dBackward(s, upload(dy, s.outputShape()), tdx);
        assertClose("crop", ReferenceOps.crop(s, dy), download(tdx), 0);
    }

    @Test
    void concatenationAndSplit() {
        Random r = new Random(10);
        int rows = 3 * 4;
        float[] a = random(r, rows * 5), b = random(r, rows * 2), c = random(r, rows * 9);
        Tensor ta = upload(a, 3, 4, 5), tb = upload(b, 3, 4, 2), tc = upload(c, 3, 4, 9);
        Tensor whole = memory.allocate(3, 4, 16);
        backend.concat(rows, List.of(ta, tb, tc), whole);
        float[] expected = ReferenceOps.concat(rows, new float[][] {a, b, c});
        assertClose("concat", expected, download(whole), 0);
        Tensor sa = memory.allocate(3, 4, 5), sb = memory.allocate(3, 4, 2), sc = memory.allocate(3, 4, 9);
        backend.split(rows, whole, List.of(sa, sb, sc));
        assertClose("split a", a, download(sa), 0);
        assertClose("split b", b, download(sb), 0);
        assertClose("split c", c, download(sc), 0);
    }

    @Test
    void softmaxCrossEntropyMatchesTheReferenceAndCountsCorrectRows() {
        Random r = new Random(3);
        int rows = 17, classes = 10;
        float[] logits = random(r, rows * classes);
        float[] targets = new float[rows * classes];
        int expectedCorrect = 0;
        for (int i = 0; i < rows; i++) {
            int label = r.nextInt(classes);
            targets[i * classes + label] = 1;
            int argMax = 0;
            for (int c = 1; c < classes; c++) {
                if (logits[i * classes + c] > logits[i * classes + argMax]) {
                    argMax = c;
                }
            }
            expectedCorrect += argMax == label ? 1 : 0;
        }
        Tensor dLogits = memory.allocate(rows, classes);
        Tensor stats = memory.allocate(2);
        backend.softmaxCrossEntropy(upload(logits, rows, classes), upload(targets, rows, classes), dLogits, stats);
        float[][] expected = ReferenceOps.softmaxCrossEntropy(logits, targets, rows, classes);
        double lossSum = 0;
        for (float l : expected[0]) {
            lossSum += l;
        }
        float[] got = download(stats);
        assertClose("cross-entropy loss sum", new float[] {(float) lossSum}, new float[] {got[0]}, 1e-5 * rows);
        assertEquals(expectedCorrect, got[1]);
        assertClose("cross-entropy gradient", expected[1], download(dLogits), 1e-5);
    }

    static Stream<org.junit.jupiter.params.provider.Arguments> lossCases() {
        Stream.Builder<org.junit.jupiter.params.provider.Arguments> cases = Stream.builder();
        for (LossKind kind : LossKind.values()) {
            for (boolean weighted : new boolean[] {false, true}) {
                cases.add(org.junit.jupiter.params.provider.Arguments.of(kind, 6, weighted));
                if (kind != LossKind.SOFTMAX_CROSS_ENTROPY) {
                    cases.add(org.junit.jupiter.params.provider.Arguments.of(kind, 1, weighted));
                }
            }
        }
        return cases.build();
    }

    /**
     * Each loss against its textbook formula in double (the binary cross-entropy from the sigmoid's probabilities,
     * not the stable form the backends use), its gradient against central differences of that formula, and its
     * accuracy count; with row weights in a last target column, and without.
     */
    @ParameterizedTest
    @MethodSource("lossCases")
    void everyLossMatchesItsFormulaItsGradientAndItsAccuracy(LossKind kind, int width, boolean weighted) {
        Random r = new Random(kind.ordinal() * 10 + width + (weighted ? 5 : 0));
        int rows = 13;
        float[] y = random(r, rows * width);
        float[] t = new float[rows * width];
        float[] w = new float[rows];
        for (int i = 0; i < rows; i++) {
            double sum = 0;
            for (int c = 0; c < width; c++) {
                t[i * width + c] = switch (kind) {
                    case SOFTMAX_CROSS_ENTROPY, SIGMOID_BINARY_CROSS_ENTROPY -> r.nextFloat();
                    default -> (float) r.nextGaussian();
                };
                sum += t[i * width + c];
            }
            if (kind == LossKind.SOFTMAX_CROSS_ENTROPY) {
                for (int c = 0; c < width; c++) {
                    t[i * width + c] /= (float) sum;
                }
            }
            w[i] = weighted ? (i % 4) * 0.75f : 1f; // includes weight 0
        }
        float[] targetRows = t;
        int stride = width;
        if (weighted) {
            stride = width + 1;
            targetRows = new float[rows * stride];
            for (int i = 0; i < rows; i++) {
                System.arraycopy(t, i * width, targetRows, i * stride, width);
                targetRows[i * stride + width] = w[i];
            }
        }
        Tensor dy = memory.allocate(rows, width);
        Tensor stats = memory.allocate(2);
        backend.loss(kind, upload(y, rows, width), upload(targetRows, rows, stride), dy, stats);

        double lossSum = 0;
        double correct = 0;
        float[] gradient = new float[rows * width];
        for (int i = 0; i < rows; i++) {
            double[] row = new double[width];
            for (int c = 0; c < width; c++) {
                row[c] = y[i * width + c];
            }
            float[] target = java.util.Arrays.copyOfRange(t, i * width, (i + 1) * width);
            lossSum += w[i] * textbookLoss(kind, row, target);
            for (int c = 0; c < width; c++) {
                double h = 1e-4;
                double[] up = row.clone(), down = row.clone();
                up[c] += h;
                down[c] -= h;
                gradient[i * width + c] = (float) (w[i] * (textbookLoss(kind, up, target)
                        - textbookLoss(kind, down, target)) / (2 * h) / rows);
            }
            if (kind == LossKind.SIGMOID_BINARY_CROSS_ENTROPY || width == 1) {
                double threshold = kind == LossKind.SIGMOID_BINARY_CROSS_ENTROPY ? 0 : 0.5;
                int matches = 0;
                for (int c = 0; c < width; c++) {
                    matches += (row[c] > threshold) == (target[c] > 0.5f) ? 1 : 0;
                }
                correct += (double) matches / width;
            } else {
                correct += argMax(row) == argMax(target) ? 1 : 0;
            }
        }
        float[] got = download(stats);
        assertEquals(lossSum, got[0], 1e-5 * Math.max(1, Math.abs(lossSum)), kind + " loss sum");
        assertEquals(correct, got[1], 1e-5, kind + " accuracy count");
        assertClose(kind + " gradient", gradient, download(dy), 2e-5);
    }

    private static double textbookLoss(LossKind kind, double[] y, float[] t) {
        double loss = 0;
        switch (kind) {
            case SOFTMAX_CROSS_ENTROPY -> {
                double sum = 0;
                for (double v : y) {
                    sum += Math.exp(v);
                }
                for (int c = 0; c < y.length; c++) {
                    loss -= t[c] * Math.log(Math.exp(y[c]) / sum);
                }
                return loss;
            }
            case SIGMOID_BINARY_CROSS_ENTROPY -> {
                for (int c = 0; c < y.length; c++) {
                    double p = 1 / (1 + Math.exp(-y[c]));
                    loss -= t[c] * Math.log(p) + (1 - t[c]) * Math.log(1 - p);
                }
            }
            case MEAN_SQUARED_ERROR -> {
                for (int c = 0; c < y.length; c++) {
                    loss += (y[c] - t[c]) * (y[c] - t[c]);
                }
            }
            case MEAN_ABSOLUTE_ERROR -> {
                for (int c = 0; c < y.length; c++) {
                    loss += Math.abs(y[c] - t[c]);
                }
            }
        }
        return loss / y.length;
    }

    private static int argMax(double[] v) {
        int best = 0;
        for (int c = 1; c < v.length; c++) {
            best = v[c] > v[best] ? c : best;
        }
        return best;
    }

    private static int argMax(float[] v) {
        int best = 0;
        for (int c = 1; c < v.length; c++) {
            best = v[c] > v[best] ? c : best;
        }
        return best;
    }

    @Test
    void regularizeAddsKerasPenaltyAndItsGradient() {
        Random r = new Random(12);
        int n = 1000;
        float[] w = random(r, n);
        w[3] = 0f;
        float[] g = random(r, n);
        Tensor gradient = upload(g, n);
        Tensor stats = upload(new float[] {1.5f, 7f}, 2);
        backend.regularize(upload(w, n), gradient, 0.01f, 0.05f, 4f, stats);
        float[] expected = new float[n];
        double penalty = 0;
        for (int i = 0; i < n; i++) {
            expected[i] = (float) (g[i] + 0.01 * Math.signum(w[i]) + 2 * 0.05 * w[i]);
            penalty += 0.01 * Math.abs(w[i]) + 0.05 * w[i] * w[i];
        }
        assertClose("regularized gradient", expected, download(gradient), 1e-6);
        float[] got = download(stats);
        assertEquals(1.5 + 4 * penalty, got[0], 1e-5 * (1.5 + 4 * penalty), "loss sum with the penalty");
        assertEquals(7f, got[1], "the accuracy count stays");
        Tensor onlyLoss = upload(new float[2], 2);
        backend.regularize(upload(w, n), null, 0f, 0.05f, 1f, onlyLoss);
        double squares = 0;
        for (float v : w) {
            squares += 0.05 * v * v;
        }
        assertEquals(squares, download(onlyLoss)[0], 1e-5 * squares, "the penalty alone, without a gradient");
    }

    @Test
    void lossRefusesTargetsOfTheWrongWidth() {
        Tensor y = memory.allocate(3, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.loss(LossKind.MEAN_SQUARED_ERROR, y, memory.allocate(3, 6), null, memory.allocate(2)));
        assertEquals("loss MEAN_SQUARED_ERROR targets: expected shape (3, 4) or, with row weights, (3, 5), received "
                + "(3, 6)", e.getMessage());
        // as many values as (4, 2) weighted rows of one output, in the wrong shape: refused, not read as weights
        assertThrows(IllegalArgumentException.class, () -> backend.loss(LossKind.MEAN_SQUARED_ERROR,
                memory.allocate(4, 1), memory.allocate(8, 1), null, memory.allocate(2)));
    }

    @Test
    void adamFollowsKerasFormulation() {
        float[] p = {1f, -2f, 0.5f};
        float[] g = {0.1f, -0.3f, 0f};
        Tensor tp = upload(p, 3), tg = upload(g, 3), m = memory.allocate(3), v = memory.allocate(3);
        AdamSpec spec = new AdamSpec(0.001f, 0.9f, 0.999f, 1e-7f);
        backend.adamUpdate(spec, 1, tp, tg, m, v);
        float[] expected = new float[3];
        for (int i = 0; i < 3; i++) {
            double mi = 0.1 * g[i], vi = 0.001 * g[i] * g[i];
            double alpha = 0.001 * Math.sqrt(1 - 0.999) / (1 - 0.9);
            expected[i] = (float) (p[i] - mi * alpha / (Math.sqrt(vi) + 1e-7));
        }
        assertClose("adam step 1", expected, download(tp), 1e-5);
    }

    /**
     * Keras' decoupled weight decay (AdamW, and weight_decay on any optimizer): w -= lr * wd * w before the step, only
     * where the mask is 1; three steps of Keras' formulas in double precision.
     */
    @Test
    void adamWeightDecayFollowsKeras() {
        float[] p = {1f, -2f, 0.5f, 3f};
        float[] g = {0.1f, -0.3f, 0f, 0.2f};
        float[] mask = {1f, 0f, 1f, 1f};
        double lr = 0.01, wd = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-7;
        Tensor tp = upload(p, 4), tg = upload(g, 4), m = memory.allocate(4), v = memory.allocate(4);
        AdamSpec spec = new AdamSpec((float) lr, (float) b1, (float) b2, (float) eps, (float) wd);
        double[] w = toDouble(p), mm = new double[4], vv = new double[4];
        for (int t = 1; t <= 3; t++) {
            backend.adamUpdate(spec, t, tp, tg, m, v, upload(mask, 4));
            for (int i = 0; i < 4; i++) {
                w[i] -= lr * wd * mask[i] * w[i];
                mm[i] += (g[i] - mm[i]) * (1 - b1);
                vv[i] += (g[i] * (double) g[i] - vv[i]) * (1 - b2);
                double alpha = lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
                w[i] -= alpha * mm[i] / (Math.sqrt(vv[i]) + eps);
            }
        }
        assertClose("adam with weight decay, 3 steps", toFloat(w), download(tp), 1e-6);
    }

    @Test
    void sgdWeightDecayFollowsKeras() {
        float[] p = {1f, -2f, 0.5f};
        float[] g = {0.1f, -0.3f, 0f};
        double lr = 0.1, wd = 0.01, mu = 0.9;
        Tensor tp = upload(p, 3), tg = upload(g, 3), velocity = memory.allocate(3);
        double[] w = toDouble(p), vel = new double[3];
        for (int t = 0; t < 2; t++) {
            backend.sgdUpdate(new SgdSpec((float) lr, (float) mu, false, (float) wd), tp, tg, velocity, null);
            for (int i = 0; i < 3; i++) {
                w[i] -= lr * wd * w[i];
                vel[i] = mu * vel[i] - lr * g[i];
                w[i] += vel[i];
            }
        }
        assertClose("sgd with weight decay, 2 steps", toFloat(w), download(tp), 1e-6);
    }

    /** Each optimizer variant the ops take, by name; the reference steps its doubles as Keras' formulas do. */
    enum ArenaOptimizer { SGD, SGD_MOMENTUM, SGD_NESTEROV, ADAMW, AMSGRAD, RMSPROP, RMSPROP_CENTERED_MOMENTUM }

    /**
     * A parameter arena of 10,001 values (longer than the host loops' chunks and not a multiple of any vector or chunk
     * width), half of it masked out of weight decay, three steps with a different gradient each (the last one zero at
     * every fourth value, where second moments then fall): every optimizer's
     * values against Keras' formulas in double, at every index, so a value that a chunk or vector boundary drops or
     * updates twice fails.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(ArenaOptimizer.class)
    void everyOptimizerUpdatesALongArenaAsKerasFormulasDo(ArenaOptimizer kind) {
        int n = 10_001;
        Random random = new Random(7 + kind.ordinal());
        float[] p = random(random, n);
        float[] mask = new float[n];
        for (int i = 0; i < n; i++) {
            mask[i] = (i / 3) % 2; // runs of three in and out of the decay
        }
        double lr = 0.01, wd = 0.05, b1 = 0.9, b2 = 0.9, eps = 1e-7, mu = 0.9, rho = 0.9;
        Tensor tp = upload(p, n), tmask = upload(mask, n);
        Tensor s1 = memory.allocate(n), s2 = memory.allocate(n), s3 = memory.allocate(n);
        double[] w = toDouble(p), a = new double[n], b = new double[n], c = new double[n];
        for (int t = 1; t <= 3; t++) {
            float[] g = random(random, n);
            for (int i = 0; t == 3 && i < n; i += 4) {
                g[i] = 0f; // second moments fall here, so AMSGrad's running maximum differs from Adam's moment
            }
            Tensor tg = upload(g, n);
            switch (kind) {
                case SGD, SGD_MOMENTUM, SGD_NESTEROV -> backend.sgdUpdate(new SgdSpec((float) lr,
                        kind == ArenaOptimizer.SGD ? 0f : (float) mu, kind == ArenaOptimizer.SGD_NESTEROV, (float) wd),
                        tp, tg, s1, tmask);
                case ADAMW -> backend.adamUpdate(new AdamSpec((float) lr, (float) b1, (float) b2, (float) eps,
                        (float) wd), t, tp, tg, s1, s2, tmask);
                case AMSGRAD -> backend.adamAmsgradUpdate(new AdamSpec((float) lr, (float) b1, (float) b2,
                        (float) eps, (float) wd), t, tp, tg, s1, s2, s3, tmask);
                case RMSPROP -> backend.rmspropUpdate(new RmspropSpec((float) lr, (float) rho, 0f, (float) eps,
                        false, (float) wd), tp, tg, s1, null, null, tmask);
                case RMSPROP_CENTERED_MOMENTUM -> backend.rmspropUpdate(new RmspropSpec((float) lr, (float) rho,
                        (float) mu, (float) eps, true, (float) wd), tp, tg, s1, s2, s3, tmask);
            }
            double alpha = lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
            for (int i = 0; i < n; i++) {
                w[i] -= lr * wd * mask[i] * w[i];
                double gi = g[i];
                switch (kind) {
                    case SGD -> w[i] -= lr * gi;
                    case SGD_MOMENTUM, SGD_NESTEROV -> {
                        a[i] = mu * a[i] - lr * gi;
                        w[i] += kind == ArenaOptimizer.SGD_NESTEROV ? mu * a[i] - lr * gi : a[i];
                    }
                    case ADAMW, AMSGRAD -> {
                        a[i] += (gi - a[i]) * (1 - b1);
                        b[i] += (gi * gi - b[i]) * (1 - b2);
                        c[i] = Math.max(c[i], b[i]);
                        w[i] -= alpha * a[i] / (Math.sqrt(kind == ArenaOptimizer.AMSGRAD ? c[i] : b[i]) + eps);
                    }
                    case RMSPROP -> {
                        a[i] = rho * a[i] + (1 - rho) * gi * gi;
                        w[i] -= lr * gi / Math.sqrt(a[i] + eps);
                    }
                    case RMSPROP_CENTERED_MOMENTUM -> {
                        a[i] = rho * a[i] + (1 - rho) * gi * gi;
                        c[i] = rho * c[i] + (1 - rho) * gi;
                        b[i] = mu * b[i] + lr * gi / Math.sqrt(a[i] + eps - c[i] * c[i]);
                        w[i] -= b[i];
                    }
                }
            }
        }
        assertClose(kind + " over " + n + " values, 3 steps", toFloat(w), download(tp), 1e-5);
    }

    @Test
    void aWrongShapeIsRejectedBeforeAnyNativeCall() {
        Conv2dSpec s = new Conv2dSpec(2, 8, 8, 1, 4, 3, 3, 1, 1, 0, 0, 0, 0, Activation.LINEAR);
        Tensor wrongX = memory.allocate(2, 8, 8, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.conv2dForward(s,
                wrongX, memory.allocate(s.kernelShape()), memory.allocate(4), memory.allocate(s.outputShape())));
        assertEquals("conv2dForward x: expected shape (2, 8, 8, 1), received (2, 8, 8, 3)", e.getMessage());
        Conv2dSpec noBias = s.withBias(false);
        IllegalArgumentException bias = assertThrows(IllegalArgumentException.class, () -> backend.conv2dForward(noBias,
                memory.allocate(2, 8, 8, 1), memory.allocate(s.kernelShape()), memory.allocate(4),
                memory.allocate(s.outputShape())));
        assertEquals("conv2dForward bias: expected none (the convolution has no bias), received (4)", bias.getMessage());
    }

    Tensor upload(float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        backend.copyIn(values, 0, t);
        return t;
    }

    float[] download(Tensor t) {
        float[] out = new float[(int) t.size()];
        backend.copyOut(t, out, 0);
        return out;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
