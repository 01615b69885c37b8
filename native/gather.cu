// Batches gathered from a training set kept in device memory, by the epoch's sample order:
//   osprey_gather_codes: samples stored as one byte per value and decoded through a 256-entry table
//     (exact for any data with at most 256 distinct values, as 8-bit images are: a quarter of the memory of floats);
//     this is the uint8 -> float normalisation, with the scale and offset folded into the table.
//   osprey_gather_rows: float rows (targets, or samples that have too many distinct values for byte codes).
// Row r of the output is source row order[from + r]. No backward: inputs need no gradient.
#include "common.cuh"

OSPREY_KERNEL void osprey_gather_codes(const unsigned char* codes, const float* table, const int* order, int from,
                                       long long rowSize, long long n, float* out) {
    FOR_EACH(i, n) {
        const long long row = order[from + i / rowSize];
        out[i] = table[codes[row * rowSize + i % rowSize]];
    }
}

OSPREY_KERNEL void osprey_gather_rows(const float* data, const int* order, int from, long long rowSize, long long n,
                                      float* out) {
    FOR_EACH(i, n) {
        const long long row = order[from + i / rowSize];
        out[i] = data[row * rowSize + i % rowSize];
    }
}
