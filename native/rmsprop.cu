// RMSprop over the whole parameter arena in one launch, Keras' formulation:
//   v = rho v + (1 - rho) g^2;  centered: m = rho m + (1 - rho) g, d = v - m^2 + eps, else d = v + eps;
//   step = lr g / sqrt(d);  with momentum: b = momentum b + step, p -= b; else p -= step.
// momentum and meanGrad are null when unused. Keras' decoupled weight decay comes first: p -= decay * p where
// decayMask is 1 (everywhere when it is null); decay = lr * weight_decay, 0: none.
#include "common.cuh"

OSPREY_KERNEL void osprey_rmsprop_update(float* params, const float* grads, float* velocity, float* momentum,
                                         float* meanGrad, long long n, float lr, float rho, float momentumRate,
                                         float epsilon, const float* decayMask, float decay) {
    FOR_EACH(i, n) {
        const float g = grads[i];
        float p = params[i];
        if (decay != 0.0f) p -= decay * (decayMask ? decayMask[i] : 1.0f) * p;
        const float v = rho * velocity[i] + (1.0f - rho) * g * g;
        velocity[i] = v;
        float denominator = v + epsilon;
        if (meanGrad) {
            const float m = rho * meanGrad[i] + (1.0f - rho) * g;
            meanGrad[i] = m;
            denominator -= m * m;
        }
        float step = lr * g / sqrtf(denominator);
        if (momentum) {
            step = momentumRate * momentum[i] + step;
            momentum[i] = step;
        }
        params[i] = p - step;
    }
}
