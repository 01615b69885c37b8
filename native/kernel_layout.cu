// Convolution kernels live in Keras' layout (kh, kw, in, out) = HWIO; cuDNN's NHWC filters are (out, kh, kw, in)
// = KRSC. These move a kernel into cuDNN's layout before the forward and backward-data ops, and a kernel
// gradient back out after the backward-filter op.
#include "common.cuh"

OSPREY_KERNEL void osprey_hwio_to_krsc(const float* hwio, float* krsc, int spatial, int in, int out) {
    FOR_EACH(i, (long long)spatial * in * out) {
        const int o = (int)(i % out);
        const int c = (int)((i / out) % in);
        const int s = (int)(i / ((long long)out * in));
        krsc[((long long)o * spatial + s) * in + c] = hwio[i];
    }
}

OSPREY_KERNEL void osprey_krsc_to_hwio(const float* krsc, float* hwio, int spatial, int in, int out) {
    FOR_EACH(i, (long long)spatial * in * out) {
        const int o = (int)(i % out);
        const int c = (int)((i / out) % in);
        const int s = (int)(i / ((long long)out * in));
        hwio[i] = krsc[((long long)o * spatial + s) * in + c];
    }
}
