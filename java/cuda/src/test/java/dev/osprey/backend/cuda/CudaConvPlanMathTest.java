package dev.osprey.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.cuda.global.cudnn;
import org.junit.jupiter.api.Test;

/**
 * Which of the algorithms cuDNN's search timed a convolution plan may take: cudnnFind* lists algorithms timed in
 * CUDNN_DEFAULT_MATH (TF32 for fp32 on Ampere and later) beside those of the requested math, so a strict-fp32 plan
 * (-Dosprey.cuda.tf32=false) must pass over them, however fast.
 */
class CudaConvPlanMathTest {
    @Test
    void strictFp32TakesOnlyAlgorithmsTimedInFmaMath() {
        assertTrue(CudaConvPlan.allows(cudnn.CUDNN_FMA_MATH, cudnn.CUDNN_FMA_MATH));
        assertFalse(CudaConvPlan.allows(cudnn.CUDNN_FMA_MATH, cudnn.CUDNN_DEFAULT_MATH));
        assertFalse(CudaConvPlan.allows(cudnn.CUDNN_FMA_MATH, cudnn.CUDNN_TENSOR_OP_MATH));
        assertFalse(CudaConvPlan.allows(cudnn.CUDNN_FMA_MATH, cudnn.CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
    }

    @Test
    void theOtherRequestsTakeTheFastestInAnyMath() {
        for (int requested : new int[] {cudnn.CUDNN_DEFAULT_MATH, cudnn.CUDNN_TENSOR_OP_MATH,
                cudnn.CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION}) {
            for (int found : new int[] {cudnn.CUDNN_DEFAULT_MATH, cudnn.CUDNN_FMA_MATH, cudnn.CUDNN_TENSOR_OP_MATH,
                    cudnn.CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION}) {
                assertTrue(CudaConvPlan.allows(requested, found), requested + " / " + found);
            }
        }
    }

    /** cuDNN 9's "bad parameter" family under bf16 falls back to fp32 (CudaBackend.newConvPlan); in fp32 it is thrown. */
    @Test
    void aBadParameterFromTheSearchMeansNoBf16AlgorithmButIsAnErrorInFp32() {
        assertTrue(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_NOT_SUPPORTED, false));
        assertTrue(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_NOT_SUPPORTED + 2, true));
        assertTrue(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_BAD_PARAM, true));
        assertTrue(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_BAD_PARAM + 5, true));
        assertFalse(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_BAD_PARAM, false));
        assertFalse(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_SUCCESS, true));
        assertFalse(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_EXECUTION_FAILED, true));
        assertFalse(CudaConvPlan.meansNoAlgorithm(cudnn.CUDNN_STATUS_ALLOC_FAILED, true));
    }
}
