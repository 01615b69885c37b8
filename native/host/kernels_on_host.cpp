// Runs each of Osprey's kernels on the CPU through cuda_on_host.h, on inputs made by the same formula as
// KernelsOnHostTest uses, and prints every output as "name v0 v1 ...": the Java test compares them with the CPU
// backend and plain-Java computations. Built and run by that test wherever a C++ compiler exists.
#include "cuda_on_host.h"
#include <cstdio>
#include <vector>

osprey_dim3 blockIdx, threadIdx, blockDim, gridDim;

extern "C" {
void osprey_adam_update(float*, const float*, float*, float*, long long, float, float, float, float, const float*);
void osprey_sgd_update(float*, const float*, float*, long long, float, float, int);
void osprey_softmax_forward(const float*, float*, int, int);
void osprey_softmax_cross_entropy(const float*, const float*, float*, float*, int, int);
void osprey_dropout_forward(const float*, float*, float*, long long, float, unsigned long long,
                            const unsigned long long*);
void osprey_multiply(const float*, const float*, float*, long long);
void osprey_fill(float*, long long, float);
void osprey_bias_activation_forward(float*, const float*, int, int, int);
void osprey_bias_backward(const float*, float*, int, int);
void osprey_hwio_to_krsc(const float*, float*, int, int, int);
void osprey_krsc_to_hwio(const float*, float*, int, int, int);
void osprey_gather_codes(const unsigned char*, const float*, const int*, int, long long, long long, float*);
void osprey_gather_rows(const float*, const int*, int, long long, long long, float*);
void osprey_pad_nhwc(const float*, float*, int, int, int, int, int, int, int, int, float);
void osprey_crop_nhwc(const float*, float*, int, int, int, int, int, int, int, int);
}

static const unsigned BLOCKS = 3, THREADS = 4; // 12 "threads": every grid-stride loop takes several turns

// The shared input formula: values in [-1, 1) that are exact in float.
static std::vector<float> input(int n, int salt) {
    std::vector<float> v(n);
    for (int i = 0; i < n; i++) v[i] = ((i * 37 + salt * 11) % 101) / 50.0f - 1.0f;
    return v;
}

static void print(const char* name, const float* v, long long n) {
    std::printf("%s", name);
    for (long long i = 0; i < n; i++) std::printf(" %.9g", v[i]);
    std::printf("\n");
}

int main() {
    // Adam, three steps, alpha by value; then the same three steps with alpha read from a scalar slot.
    for (int useSlot = 0; useSlot < 2; useSlot++) {
        std::vector<float> p = input(10, 1), g = input(10, 2), m(10, 0.0f), v(10, 0.0f);
        for (int t = 1; t <= 3; t++) {
            const float alpha = (float)(0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t)));
            const float slot = alpha;
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_adam_update, p.data(), g.data(), m.data(), v.data(), 10LL,
                               useSlot ? -1.0f : alpha, 0.9f, 0.999f, 1e-7f, useSlot ? &slot : nullptr);
        }
        print(useSlot ? "adam_slot" : "adam", p.data(), 10);
    }
    { // SGD with Nesterov momentum, two steps
        std::vector<float> p = input(10, 1), g = input(10, 2), vel(10, 0.0f);
        for (int t = 0; t < 2; t++)
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_sgd_update, p.data(), g.data(), vel.data(), 10LL, 0.1f, 0.9f, 1);
        print("sgd", p.data(), 10);
    }
    { // softmax and softmax cross-entropy over 5 rows of 4 classes, one-hot targets class r % 4
        std::vector<float> z = input(20, 3), prob(20), t(20, 0.0f), dz(20), stats(2, 0.0f);
        for (int r = 0; r < 5; r++) t[r * 4 + r % 4] = 1.0f;
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_softmax_forward, z.data(), prob.data(), 5, 4);
        print("softmax", prob.data(), 20);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_softmax_cross_entropy, z.data(), t.data(), dz.data(), stats.data(), 5, 4);
        print("cross_entropy_gradient", dz.data(), 20);
        print("cross_entropy_stats", stats.data(), 2);
    }
    // Dropout at rate 0.3, seed 1234: by value, then with {seed, rate} from scalar slots (values given by value
    // are deliberately wrong there, so the slots must win).
    for (int useSlot = 0; useSlot < 2; useSlot++) {
        std::vector<float> x = input(64, 4), mask(64), y(64);
        float rate = 0.3f;
        unsigned int bits;
        std::memcpy(&bits, &rate, sizeof bits);
        const unsigned long long slots[2] = {1234ULL, bits};
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_dropout_forward, x.data(), mask.data(), y.data(), 64LL,
                           useSlot ? 0.9f : 0.3f, useSlot ? 99ULL : 1234ULL, useSlot ? slots : nullptr);
        print(useSlot ? "dropout_mask_slot" : "dropout_mask", mask.data(), 64);
        print(useSlot ? "dropout_output_slot" : "dropout_output", y.data(), 64);
    }
    { // multiply and fill
        std::vector<float> a = input(9, 5), b = input(9, 6), out(9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_multiply, a.data(), b.data(), out.data(), 9LL);
        print("multiply", out.data(), 9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_fill, out.data(), 9LL, 2.5f);
        print("fill", out.data(), 9);
    }
    { // dense bias + ReLU over 3 rows of 5 units, and the bias gradient
        std::vector<float> y = input(15, 7), bias = input(5, 8), db(5);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_bias_activation_forward, y.data(), bias.data(), 3, 5, 1);
        print("bias_relu", y.data(), 15);
        std::vector<float> dy = input(15, 9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_bias_backward, dy.data(), db.data(), 3, 5);
        print("bias_backward", db.data(), 5);
    }
    { // conv kernel layouts: (3x3, in 2, out 4) HWIO -> KRSC and back
        std::vector<float> hwio = input(72, 10), krsc(72), back(72);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_hwio_to_krsc, hwio.data(), krsc.data(), 9, 2, 4);
        print("krsc", krsc.data(), 72);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_krsc_to_hwio, krsc.data(), back.data(), 9, 2, 4);
        print("hwio_round_trip", back.data(), 72);
    }
    { // gathers: 4 samples of 3 byte codes through a table, and float rows, in the order {2, 0, 3, 1}, rows 1..3
        const unsigned char codes[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255};
        std::vector<float> table(256);
        for (int i = 0; i < 256; i++) table[i] = i / 255.0f;
        const int order[4] = {2, 0, 3, 1};
        std::vector<float> out(9), rows = input(8, 11), rowsOut(6);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_gather_codes, codes, table.data(), order, 1, 3LL, 9LL, out.data());
        print("gather_codes", out.data(), 9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_gather_rows, rows.data(), order, 1, 2LL, 6LL, rowsOut.data());
        print("gather_rows", rowsOut.data(), 6);
    }
    { // uneven padding: 2 images of 3x2x2 framed 1 above, 0 left, 2 below, 1 right (to 6x3x2), then cropped back
        std::vector<float> x = input(24, 12), padded(72), back(24);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_pad_nhwc, x.data(), padded.data(), 2, 3, 2, 2, 1, 0, 6, 3, -7.0f);
        print("pad", padded.data(), 72);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_crop_nhwc, padded.data(), back.data(), 2, 3, 2, 2, 1, 0, 6, 3);
        print("crop", back.data(), 24);
    }
    return 0;
}
