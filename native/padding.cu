// Explicit NHWC padding, for convolutions and poolings whose 'same' padding is uneven (more at the bottom or right,
// as Keras pads): cuDNN's legacy API pads both sides alike, so such a layer runs unpadded on a padded copy.
//   osprey_pad_nhwc:  padded = x framed by `value` (0 for convolution, -infinity for max pooling);
//   osprey_crop_nhwc: x = the interior of padded (the backward direction: the frame's gradient is dropped).
#include "common.cuh"

OSPREY_KERNEL void osprey_pad_nhwc(const float* x, float* padded, int n, int h, int w, int c, int top, int left,
                                   int paddedH, int paddedW, float value) {
    FOR_EACH(i, (long long)n * paddedH * paddedW * c) {
        const int ch = (int)(i % c);
        const long long pixel = i / c;
        const int col = (int)(pixel % paddedW) - left;
        const long long rest = pixel / paddedW;
        const int row = (int)(rest % paddedH) - top;
        const long long image = rest / paddedH;
        padded[i] = row >= 0 && row < h && col >= 0 && col < w ? x[((image * h + row) * w + col) * c + ch] : value;
    }
}

OSPREY_KERNEL void osprey_crop_nhwc(const float* padded, float* x, int n, int h, int w, int c, int top, int left,
                                    int paddedH, int paddedW) {
    FOR_EACH(i, (long long)n * h * w * c) {
        const int ch = (int)(i % c);
        const long long pixel = i / c;
        const int col = (int)(pixel % w);
        const long long rest = pixel / w;
        const int row = (int)(rest % h);
        const long long image = rest / h;
        x[i] = padded[((image * paddedH + row + top) * paddedW + col + left) * c + ch];
    }
}
