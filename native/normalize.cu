// Input batches arrive as unsigned bytes (a quarter of the bytes to copy); this turns them into floats:
// out = in * scale + offset (scale 1/255 and offset 0 give [0, 1]). No backward: inputs need no gradient.
#include "common.cuh"

OSPREY_KERNEL void osprey_normalize_u8(const unsigned char* in, float* out, long long n, float scale, float offset) {
    FOR_EACH(i, n) {
        out[i] = in[i] * scale + offset;
    }
}
