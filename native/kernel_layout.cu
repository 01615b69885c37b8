// Convolution kernels live in Keras' layout (kh, kw, in, out) = HWIO; cuDNN's NHWC filters are (out, kh, kw, in)
// = KRSC. These move a kernel into cuDNN's layout before the forward and backward-data ops, and a kernel
// gradient back out after the backward-filter op. osprey_permute3 transposes each sample's three axes (the
// Permute layer, forward and backward).
#include "common.cuh"

// Where HWIO element i (filter fastest, then input channel, then kernel position) lives in KRSC.
__device__ __forceinline__ long long krsc_index(long long i, int spatial, int in, int out) {
    const int o = (int)(i % out);
    const int c = (int)((i / out) % in);
    const int s = (int)(i / ((long long)out * in));
    return ((long long)o * spatial + s) * in + c;
}

OSPREY_KERNEL void osprey_hwio_to_krsc(const float* hwio, float* krsc, int spatial, int in, int out) {
    FOR_EACH(i, (long long)spatial * in * out) {
        krsc[krsc_index(i, spatial, in, out)] = hwio[i];
    }
}

OSPREY_KERNEL void osprey_krsc_to_hwio(const float* krsc, float* hwio, int spatial, int in, int out) {
    FOR_EACH(i, (long long)spatial * in * out) {
        hwio[i] = krsc[krsc_index(i, spatial, in, out)];
    }
}

// The same moves for mixed_bfloat16: the kernel rounded to bf16 on its way into cuDNN's layout, and a bf16 kernel
// gradient widened to fp32 on its way back.
OSPREY_KERNEL void osprey_hwio_to_krsc_bf16(const float* hwio, unsigned short* krsc, int spatial, int in, int out) {
    FOR_EACH(i, (long long)spatial * in * out) {
        krsc[krsc_index(i, spatial, in, out)] = osprey_to_bf16_bits(hwio[i]);
    }
}

OSPREY_KERNEL void osprey_krsc_bf16_to_hwio(const unsigned short* krsc, float* hwio, int spatial, int in, int out) {
    FOR_EACH(i, (long long)spatial * in * out) {
        hwio[i] = osprey_from_bf16_bits(krsc[krsc_index(i, spatial, in, out)]);
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
