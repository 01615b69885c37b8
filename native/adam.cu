// Adam over the whole parameter arena in one launch, Keras' formulation:
//   m += (g - m)(1 - beta1);  v += (g^2 - v)(1 - beta2);  p -= alpha * m / (sqrt(v) + epsilon)
// with alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t) computed on the host for step t. Keras' decoupled weight decay
// comes first: p -= decay * p (decay = lr * weight_decay) where decayMask is 1, everywhere when it is null; 0: none.
// (Adam has no backward: it is the step that consumes the gradients.)
#include "common.cuh"

OSPREY_KERNEL void osprey_adam_update(float* params, const float* grads, float* m, float* v, long long n,
                                      float alpha, float beta1, float beta2, float epsilon, const float* decayMask,
                                      float decay) {
    const float oneMinusB1 = 1.0f - beta1;
    const float oneMinusB2 = 1.0f - beta2;
    FOR_EACH(i, n) {
        const float g = grads[i];
        const float mi = m[i] + (g - m[i]) * oneMinusB1;
        const float vi = v[i] + (g * g - v[i]) * oneMinusB2;
        m[i] = mi;
        v[i] = vi;
        float p = params[i];
        if (decay != 0.0f) p -= decay * (decayMask ? decayMask[i] : 1.0f) * p;
        params[i] = p - mi * alpha / (sqrtf(vi) + epsilon);
    }
}

// AMSGrad (Keras' amsgrad=True): the same, dividing by vhat = max(vhat, v), the running maximum of v.
OSPREY_KERNEL void osprey_adam_amsgrad_update(float* params, const float* grads, float* m, float* v, float* vhat,
                                              long long n, float alpha, float beta1, float beta2, float epsilon,
                                              const float* decayMask, float decay) {
    const float oneMinusB1 = 1.0f - beta1;
    const float oneMinusB2 = 1.0f - beta2;
    FOR_EACH(i, n) {
        const float g = grads[i];
        const float mi = m[i] + (g - m[i]) * oneMinusB1;
        const float vi = v[i] + (g * g - v[i]) * oneMinusB2;
        const float hi = fmaxf(vhat[i], vi);
        m[i] = mi;
        v[i] = vi;
        vhat[i] = hi;
        float p = params[i];
        if (decay != 0.0f) p -= decay * (decayMask ? decayMask[i] : 1.0f) * p;
        params[i] = p - mi * alpha / (sqrtf(hi) + epsilon);
    }
}
