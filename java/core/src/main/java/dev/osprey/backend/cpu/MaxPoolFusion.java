package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.Pool2dSpec;

/**
 * The max poolings Osprey's convolution kernels can apply to their outputs before storing them ({@link PooledConvPlan},
 * {@link WinogradConvPlan}): 2x2 windows of stride 2, unpadded, over the whole output of an fp32 convolution whose
 * activation never decreases (the identity or a ReLU: its negative slope is never below 0), so that the activation
 * commutes with the maximum and can follow it.
 */
final class MaxPoolFusion {
    /** -Dosprey.cpu.fuseMaxPool=false runs every pooling apart, through oneDNN (for comparisons and debugging). */
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("osprey.cpu.fuseMaxPool", "true"));

    private MaxPoolFusion() {
    }

    /** Whether a kernel that pools can apply pool to conv's output (never where the setting turns fusion off). */
    static boolean takes(Conv2dSpec conv, Pool2dSpec pool) {
        Activation.Kind a = conv.activation().kind();
        return ENABLED && conv.math() == Precision.FP32 && (a == Activation.Kind.LINEAR || a == Activation.Kind.RELU)
                && pool.mode() == Pool2dSpec.Mode.MAX && pool.poolH() == 2 && pool.poolW() == 2
                && pool.strideH() == 2 && pool.strideW() == 2 && pool.padTop() == 0 && pool.padLeft() == 0
                && pool.padBottom() == 0 && pool.padRight() == 0
                && java.util.Arrays.equals(conv.outputShape(), pool.inputShape())
                && pool.outH() > 0 && pool.outW() > 0;
    }
}
