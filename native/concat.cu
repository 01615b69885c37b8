// Concatenation along an axis, once the axes before it are folded into rows: each part is (rows, width), the whole
// (rows, sum of widths). One launch per part copies its columns in (forward) or out (backward, a split).
#include "common.cuh"

OSPREY_KERNEL void osprey_copy_columns(const float* from, float* to, int rows, int width, int fromStride,
                                       int fromOffset, int toStride, int toOffset) {
    FOR_EACH(i, (long long)rows * width) {
        const long long r = i / width;
        const int col = (int)(i % width);
        to[r * toStride + toOffset + col] = from[r * fromStride + fromOffset + col];
    }
}
