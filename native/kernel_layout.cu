// Convolution kernels live in Keras' layout (kh, kw, in, out) = HWIO; cuDNN's NHWC filters are (out, kh, kw, in)
// = KRSC. These move a kernel into cuDNN's layout before the forward and backward-data ops, and a kernel
// gradient back out after the backward-filter op. osprey_permute3 transposes each sample's three axes (the
// Permute layer, forward and backward).
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

// y[b, i0, i1, i2] = x[b, j0, j1, j2] with j[p_k] = i_k: y's sample axis k is x's axis p_k.
OSPREY_KERNEL void osprey_permute3(const float* x, float* y, int n, int d0, int d1, int d2, int p0, int p1, int p2) {
    const int d[3] = {d0, d1, d2};
    const long long stride[3] = {(long long)d1 * d2, d2, 1};
    const int n1 = d[p1];
    const int n2 = d[p2];
    const long long sample = (long long)d0 * d1 * d2;
    FOR_EACH(i, (long long)n * sample) {
        const long long b = i / sample;
        const long long r = i % sample;
        const int i2 = (int)(r % n2);
        const int i1 = (int)((r / n2) % n1);
        const int i0 = (int)(r / ((long long)n2 * n1));
        y[i] = x[b * sample + i0 * stride[p0] + i1 * stride[p1] + i2 * stride[p2]];
    }
}
