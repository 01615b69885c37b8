package dev.osprey.backend;

/**
 * The losses the backend's fused loss op computes ({@link Backend#loss}), each with its gradient and its accuracy
 * count. The two cross-entropies take the model's output before its last activation (softmax, sigmoid) and apply it
 * themselves, which is both exact and numerically stable; the errors take the output as it is.
 * The kernels take the ordinal: keep this order (kernels.h's osprey_loss_kind follows it, and a test checks that).
 */
public enum LossKind {
    /** Softmax over each row, then cross-entropy against target rows summing to 1. Accuracy: arg-max match. */
    SOFTMAX_CROSS_ENTROPY,
    /** Sigmoid on each value, then binary cross-entropy against targets in [0, 1]. Accuracy: per value (p > 0.5). */
    SIGMOID_BINARY_CROSS_ENTROPY,
    /** Mean over each row of (output - target)^2. Accuracy: arg-max match, or (output > 0.5) for one output. */
    MEAN_SQUARED_ERROR,
    /** Mean over each row of |output - target|. Accuracy as for the squared error. */
    MEAN_ABSOLUTE_ERROR
}
