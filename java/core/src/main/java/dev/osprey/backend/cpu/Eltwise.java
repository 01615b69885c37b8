package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import org.bytedeco.dnnl.global.dnnl;

/**
 * An activation as oneDNN's eltwise algorithm: the forward algorithm with its alpha and beta, and the backward one
 * (from the output where oneDNN offers it, else from the input). Null for activations oneDNN has no single
 * algorithm for (ReLU with both a cap and a negative slope): the backend computes those itself.
 */
record Eltwise(dnnl.algorithm forward, dnnl.algorithm backward, boolean backwardFromOutput, float alpha, float beta) {

    static Eltwise of(Activation a) {
        return switch (a.kind()) {
            case LINEAR -> new Eltwise(dnnl.algorithm.eltwise_linear, dnnl.algorithm.eltwise_linear, false, 1f, 0f);
            case RELU -> {
                if (a.maxValue() == Float.POSITIVE_INFINITY) {
                    yield new Eltwise(dnnl.algorithm.eltwise_relu, dnnl.algorithm.eltwise_relu_use_dst_for_bwd, true,
                            a.alpha(), 0f);
                }
                if (a.alpha() == 0f) {
                    yield new Eltwise(dnnl.algorithm.eltwise_clip_v2, dnnl.algorithm.eltwise_clip_v2_use_dst_for_bwd,
                            true, 0f, a.maxValue());
                }
                yield null;
            }
            case SIGMOID -> new Eltwise(dnnl.algorithm.eltwise_logistic,
                    dnnl.algorithm.eltwise_logistic_use_dst_for_bwd, true, 0f, 0f);
            case TANH -> new Eltwise(dnnl.algorithm.eltwise_tanh, dnnl.algorithm.eltwise_tanh_use_dst_for_bwd, true,
                    0f, 0f);
            case ELU -> new Eltwise(dnnl.algorithm.eltwise_elu, dnnl.algorithm.eltwise_elu_use_dst_for_bwd, true,
                    a.alpha(), 0f);
            case GELU -> new Eltwise(dnnl.algorithm.eltwise_gelu_erf, dnnl.algorithm.eltwise_gelu_erf, false, 0f, 0f);
            case SWISH -> new Eltwise(dnnl.algorithm.eltwise_swish, dnnl.algorithm.eltwise_swish, false, 1f, 0f);
            case HARD_SWISH -> new Eltwise(dnnl.algorithm.eltwise_hardswish, dnnl.algorithm.eltwise_hardswish, false,
                    1f / 6, 0.5f);
            case HARD_SIGMOID -> new Eltwise(dnnl.algorithm.eltwise_hardsigmoid, dnnl.algorithm.eltwise_hardsigmoid,
                    false, 1f / 6, 0.5f);
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not an element-wise activation");
        };
    }
}
