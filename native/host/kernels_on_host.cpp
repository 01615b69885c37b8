// Runs each of Osprey's kernels on the CPU through cuda_on_host.h, on inputs made by the same formula as
// KernelsOnHostTest uses, and prints every output as "name v0 v1 ...": the Java test compares them with the CPU
// backend and plain-Java computations. Built and run by that test wherever a C++ compiler exists. The kernels'
// signatures come from ../kernels.h, the one declaration the .cu files and the Java launch table also follow.
#include "cuda_on_host.h"
#include <cstdio>
#include <cmath>
#include <vector>

osprey_dim3 blockIdx, threadIdx, blockDim, gridDim;

#include "../kernels.h"

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
    { // Adam, three steps
        std::vector<float> p = input(10, 1), g = input(10, 2), m(10, 0.0f), v(10, 0.0f);
        for (int t = 1; t <= 3; t++) {
            const float alpha = (float)(0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t)));
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_adam_update, p.data(), g.data(), m.data(), v.data(), 10LL,
                               alpha, 0.9f, 0.999f, 1e-7f, (const float*)nullptr, 0.0f);
        }
        print("adam", p.data(), 10);
    }
    { // Adam with weight decay 0.1 at learning rate 0.01 on the weights where the mask is 1 (every third is 0)
        std::vector<float> p = input(10, 1), g = input(10, 2), m(10, 0.0f), v(10, 0.0f), mask(10, 1.0f);
        for (int i = 0; i < 10; i += 3) mask[i] = 0.0f;
        for (int t = 1; t <= 3; t++) {
            const float alpha = (float)(0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t)));
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_adam_update, p.data(), g.data(), m.data(), v.data(), 10LL,
                               alpha, 0.9f, 0.999f, 1e-7f, (const float*)mask.data(), 0.01f * 0.1f);
        }
        print("adam_weight_decay", p.data(), 10);
    }
    { // Adam with AMSGrad and weight decay 0.1 where the mask is 1, three steps (gradients flip sign at step 2)
        std::vector<float> p = input(10, 1), g = input(10, 2), m(10, 0.0f), v(10, 0.0f), vhat(10, 0.0f),
            mask(10, 1.0f);
        for (int i = 0; i < 10; i += 3) mask[i] = 0.0f;
        for (int t = 1; t <= 3; t++) {
            if (t == 2) for (auto& x : g) x = -0.5f * x;
            const float alpha = (float)(0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t)));
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_adam_amsgrad_update, p.data(), g.data(), m.data(), v.data(),
                               vhat.data(), 10LL, alpha, 0.9f, 0.999f, 1e-7f, (const float*)mask.data(), 0.01f * 0.1f);
        }
        print("adam_amsgrad", p.data(), 10);
    }
    { // RMSprop, centered, with momentum 0.5 and weight decay 0.1 where the mask is 1, three steps
        std::vector<float> p = input(10, 1), g = input(10, 2), vel(10, 0.0f), mom(10, 0.0f), mean(10, 0.0f),
            mask(10, 1.0f);
        for (int i = 0; i < 10; i += 4) mask[i] = 0.0f;
        for (int t = 0; t < 3; t++)
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_rmsprop_update, p.data(), g.data(), vel.data(), mom.data(),
                               mean.data(), 10LL, 0.01f, 0.9f, 0.5f, 1e-7f, (const float*)mask.data(), 0.01f * 0.1f);
        print("rmsprop", p.data(), 10);
    }
    { // gradient clipping: the sum of squares of 37 values, scaled to norm 1, then clipped by value 0.05
        std::vector<float> x = input(37, 5), sum(1, 0.0f);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_sum_of_squares, (const float*)x.data(), 37LL, sum.data());
        print("sum_of_squares", sum.data(), 1);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_scale_to_norm, x.data(), 37LL, (const float*)sum.data(), 1.0f);
        print("scale_to_norm", x.data(), 37);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_clip_by_value, x.data(), 37LL, 0.05f);
        print("clip_by_value", x.data(), 37);
    }
    { // SGD with Nesterov momentum, two steps
        std::vector<float> p = input(10, 1), g = input(10, 2), vel(10, 0.0f);
        for (int t = 0; t < 2; t++)
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_sgd_update, p.data(), g.data(), vel.data(), 10LL, 0.1f, 0.9f, 1,
                               (const float*)nullptr, 0.0f);
        print("sgd", p.data(), 10);
    }
    { // SGD with Nesterov momentum and weight decay 0.05 on every weight, two steps
        std::vector<float> p = input(10, 1), g = input(10, 2), vel(10, 0.0f);
        for (int t = 0; t < 2; t++)
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_sgd_update, p.data(), g.data(), vel.data(), 10LL, 0.1f, 0.9f, 1,
                               (const float*)nullptr, 0.1f * 0.05f);
        print("sgd_weight_decay", p.data(), 10);
    }
    { // softmax and softmax cross-entropy over 5 rows of 4 classes, one-hot targets class r % 4
        std::vector<float> z = input(20, 3), prob(20), t(20, 0.0f), dz(20), stats(2, 0.0f);
        for (int r = 0; r < 5; r++) t[r * 4 + r % 4] = 1.0f;
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_softmax_forward, z.data(), prob.data(), 5, 4);
        print("softmax", prob.data(), 20);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_loss, z.data(), t.data(), dz.data(), stats.data(), 5, 4, 0,
                           (int)OSPREY_SOFTMAX_CROSS_ENTROPY);
        print("cross_entropy_gradient", dz.data(), 20);
        print("cross_entropy_stats", stats.data(), 2);
        std::vector<float> dy = input(20, 15), dx(20);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_softmax_backward, prob.data(), dy.data(), dx.data(), 5, 4);
        print("softmax_backward", dx.data(), 20);
    }
    // every loss kind over 5 rows of 4 outputs, each row weighted (weights 0.5, 2, 1, 0, 1.5 in a fifth target
    // column); targets in [0, 1] (not one-hot, so arg-max and binary accuracy both vary)
    for (int kind = OSPREY_SOFTMAX_CROSS_ENTROPY; kind <= OSPREY_MEAN_ABSOLUTE_ERROR; kind++) {
        std::vector<float> y = input(20, 3), t(25), dy(20), stats(2, 0.0f);
        const float weights[5] = {0.5f, 2.0f, 1.0f, 0.0f, 1.5f};
        std::vector<float> u = input(20, 21);
        for (int r = 0; r < 5; r++) {
            for (int c = 0; c < 4; c++) t[r * 5 + c] = (u[r * 4 + c] + 1.0f) / 2.0f;
            t[r * 5 + 4] = weights[r];
        }
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_loss, y.data(), t.data(), dy.data(), stats.data(), 5, 4, 1, kind);
        char name[64];
        std::snprintf(name, sizeof name, "weighted_loss_%d_gradient", kind);
        print(name, dy.data(), 20);
        std::snprintf(name, sizeof name, "weighted_loss_%d_stats", kind);
        print(name, stats.data(), 2);
    }
    // classification counts of 7 rows: 4 classes through softmax (targets with a weight column), then one output
    // through sigmoid; names end in the activation's kind
    {
        const int rows = 7, classes = 4, size = classes * classes + 1 + classes * 2 * 200 + 3 * 256;
        std::vector<float> y = input(rows * classes, 24), t(rows * (classes + 1), 0.0f), counts(size, 0.0f);
        for (int r = 0; r < rows; r++) { t[r * (classes + 1) + (r * 3) % classes] = 1.0f; t[r * (classes + 1) + classes] = 2.0f; }
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_classification_counts, y.data(), t.data(), counts.data(), rows, classes,
                           classes + 1, (int)OSPREY_SOFTMAX, 2, 0);
        print("classification_counts_softmax", counts.data(), size);
        const int binarySize = 2 * 2 + 1 + 2 * 2 * 200 + 3 * 256;
        std::vector<float> z = input(rows, 25), b(rows), binary(binarySize, 0.0f);
        for (int r = 0; r < rows; r++) b[r] = (float)(r % 2);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_classification_counts, z.data(), b.data(), binary.data(), rows, 1, 1,
                           (int)OSPREY_SIGMOID, 1, 250); // rows 250... of an epoch: lanes 250 to 255, then 0
        print("classification_counts_sigmoid", binary.data(), binarySize);
        // error sums alone (3 x 256 lanes) of 600 rows, so that lanes take two or three rows: 3 values through softmax
        // with a weight column, then as they are (rows 356... of an epoch: from lane 100), then one value through
        // sigmoid (from lane 255)
        const int errorRows = 600;
        std::vector<float> e = input(errorRows * 3, 26), et = input(errorRows * 4, 27), softmaxSums(3 * 256, 0.0f),
            plainSums(3 * 256, 0.0f), sigmoidSums(3 * 256, 0.0f);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_error_sums, e.data(), et.data(), softmaxSums.data(), errorRows, 3, 4,
                           (int)OSPREY_SOFTMAX, 0);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_error_sums, e.data(), et.data(), plainSums.data(), errorRows, 3, 4,
                           (int)OSPREY_LINEAR, 100);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_error_sums, e.data(), et.data(), sigmoidSums.data(), errorRows, 1, 1,
                           (int)OSPREY_SIGMOID, 255);
        print("error_sums_softmax", softmaxSums.data(), 3 * 256);
        print("error_sums_plain", plainSums.data(), 3 * 256);
        print("error_sums_sigmoid", sigmoidSums.data(), 3 * 256);
    }
    { // weight penalties on 30 weights: L1 0.01 and L2 0.05, the loss scaled by 8 (a batch of 8)
        std::vector<float> w = input(30, 22), g = input(30, 23), stats(2, 0.0f);
        w[5] = 0.0f; // sign(0) = 0
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_regularize, w.data(), g.data(), 30LL, 0.01f, 0.05f, 8.0f,
                           stats.data());
        print("regularized_gradient", g.data(), 30);
        print("regularized_stats", stats.data(), 2);
    }
    // batch normalization over 2 x 3 x 5 x 3 (30 rows of 3 channels) in chunks of 4 rows: training forward with moving
    // statistics (momentum 0.9), then the backward; plain, then with the ReLU fused (names end in _relu), then with a
    // ReLU capped at 0.5 fused (names end in _relu_capped: the cap clips some of these outputs)
    for (int mode = 0; mode < 3; mode++) {
        const int relu = mode > 0;
        const float cap = mode == 2 ? 0.5f : INFINITY;
        const int rows = 30, channels = 3, chunkRows = 4, chunks = (rows + chunkRows - 1) / chunkRows;
        std::vector<float> x = input(rows * channels, 16), y(rows * channels), dy = input(rows * channels, 17);
        for (size_t i = 0; i < x.size(); i++) x[i] = x[i] * 2.0f + 3.0f + (float)(i % channels);
        std::vector<float> gamma = input(channels, 18), beta = input(channels, 19), movingMean = input(channels, 20);
        std::vector<float> movingVar(channels, 0.75f), mean(channels), var(channels), pa(chunks * channels),
            pb(chunks * channels), dx(rows * channels), dGamma(channels), dBeta(channels);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_batch_norm_partials, x.data(), nullptr, nullptr, nullptr, pa.data(),
                           pb.data(), rows, channels, chunkRows, cap);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_batch_norm_statistics, x.data(), pa.data(), pb.data(), chunks, rows,
                           channels, mean.data(), var.data(), movingMean.data(), movingVar.data(), 0.9f);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_batch_norm_apply, x.data(), y.data(), mean.data(), var.data(),
                           gamma.data(), beta.data(), (long long)(rows * channels), channels, 1e-3f, relu, cap);
        const float* fusedOutput = relu ? y.data() : nullptr;
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_batch_norm_partials, x.data(), dy.data(), fusedOutput, mean.data(),
                           pa.data(), pb.data(), rows, channels, chunkRows, cap);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_batch_norm_backward_reduce, pa.data(), pb.data(), chunks, channels,
                           var.data(), 1e-3f, dGamma.data(), dBeta.data());
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_batch_norm_backward_apply, x.data(), dy.data(), fusedOutput,
                           mean.data(), var.data(), gamma.data(), dGamma.data(), dBeta.data(), dx.data(),
                           (long long)(rows * channels), channels, rows, 1e-3f, cap);
        const char* suffix = mode == 2 ? "_relu_capped" : relu ? "_relu" : "";
        char name[64];
        std::snprintf(name, sizeof name, "batch_norm_y%s", suffix);
        print(name, y.data(), rows * channels);
        std::snprintf(name, sizeof name, "batch_norm_mean%s", suffix);
        print(name, mean.data(), channels);
        std::snprintf(name, sizeof name, "batch_norm_variance%s", suffix);
        print(name, var.data(), channels);
        std::snprintf(name, sizeof name, "batch_norm_moving_mean%s", suffix);
        print(name, movingMean.data(), channels);
        std::snprintf(name, sizeof name, "batch_norm_moving_variance%s", suffix);
        print(name, movingVar.data(), channels);
        std::snprintf(name, sizeof name, "batch_norm_dx%s", suffix);
        print(name, dx.data(), rows * channels);
        std::snprintf(name, sizeof name, "batch_norm_dgamma%s", suffix);
        print(name, dGamma.data(), channels);
        std::snprintf(name, sizeof name, "batch_norm_dbeta%s", suffix);
        print(name, dBeta.data(), channels);
    }
    { // average pooling of 2 images of 5 x 6 x 3, window 3 x 2, strides 2 x 1, padding top 1, left 0 (bottom 1,
      // right 1), padding excluded from the count; then its backward
        const int n = 2, h = 5, w = 6, c = 3, ph = 3, pw = 2, sh = 2, sw = 1, top = 1, left = 0;
        const int outH = (h + 2 - ph) / sh + 1, outW = (w + 1 - pw) / sw + 1;
        std::vector<float> x = input(n * h * w * c, 23), y(n * outH * outW * c), dy = input(n * outH * outW * c, 24),
            dx(n * h * w * c);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_average_pool_forward, x.data(), y.data(), n, h, w, c, outH, outW,
                           ph, pw, sh, sw, top, left);
        print("average_pool", y.data(), (long long)y.size());
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_average_pool_backward, dy.data(), dx.data(), n, h, w, c, outH, outW,
                           ph, pw, sh, sw, top, left);
        print("average_pool_backward", dx.data(), (long long)dx.size());
    }
    { // layer normalization of 11 rows of 5 (rows offset by up to 40), chunks of 4 rows for the parameter gradients;
      // the training forward (statistics kept), the inference forward in place, the backward
        const int rows = 11, width = 5, chunkRows = 4, chunks = (rows + chunkRows - 1) / chunkRows;
        std::vector<float> x = input(rows * width, 23), y(rows * width), dy = input(rows * width, 24);
        for (size_t i = 0; i < x.size(); i++) x[i] = x[i] * 2.0f + 10.0f * (float)(i / width % 5);
        std::vector<float> gamma = input(width, 25), beta = input(width, 26), mean(rows), var(rows), dx(rows * width),
            pg(chunks * width), pb(chunks * width), dGamma(width), dBeta(width), inPlace = x;
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_layer_norm_forward, x.data(), y.data(), gamma.data(), beta.data(),
                           mean.data(), var.data(), rows, width, 1e-5f);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_layer_norm_forward, inPlace.data(), inPlace.data(), gamma.data(),
                           beta.data(), nullptr, nullptr, rows, width, 1e-5f);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_layer_norm_backward_data, x.data(), dy.data(), gamma.data(),
                           mean.data(), var.data(), dx.data(), rows, width, 1e-5f);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_layer_norm_param_partials, x.data(), dy.data(), mean.data(),
                           var.data(), pg.data(), pb.data(), rows, width, chunkRows, 1e-5f);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_layer_norm_param_reduce, pg.data(), pb.data(), chunks, width,
                           dGamma.data(), dBeta.data());
        print("layer_norm_y", y.data(), rows * width);
        print("layer_norm_y_in_place", inPlace.data(), rows * width);
        print("layer_norm_mean", mean.data(), rows);
        print("layer_norm_variance", var.data(), rows);
        print("layer_norm_dx", dx.data(), rows * width);
        print("layer_norm_dgamma", dGamma.data(), width);
        print("layer_norm_dbeta", dBeta.data(), width);
    }
    { // concatenation of (6, 2) and (6, 3) into (6, 5), then split back
        std::vector<float> a = input(12, 21), b = input(18, 22), whole(30), a2(12), b2(18);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_copy_columns, a.data(), whole.data(), 6, 2, 2, 0, 5, 0);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_copy_columns, b.data(), whole.data(), 6, 3, 3, 0, 5, 2);
        print("concat", whole.data(), 30);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_copy_columns, whole.data(), a2.data(), 6, 2, 5, 0, 2, 0);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_copy_columns, whole.data(), b2.data(), 6, 3, 5, 2, 3, 0);
        print("split_a", a2.data(), 12);
        print("split_b", b2.data(), 18);
    }
    { // dropout at rate 0.3, seed 1234
        std::vector<float> x = input(64, 4), mask(64), y(64);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_dropout_forward, x.data(), mask.data(), y.data(), 64LL, 0.3f, 1234LL);
        print("dropout_mask", mask.data(), 64);
        print("dropout_output", y.data(), 64);
    }
    { // add, multiply, scale, fill
        std::vector<float> a = input(9, 5), b = input(9, 6), out(9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_add, a.data(), b.data(), out.data(), 9LL);
        print("add", out.data(), 9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_multiply, a.data(), b.data(), out.data(), 9LL);
        print("multiply", out.data(), 9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_scale, a.data(), out.data(), 9LL, 0.25f, -1.5f);
        print("scale", out.data(), 9);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_fill, out.data(), 9LL, 2.5f);
        print("fill", out.data(), 9);
        std::vector<float> average = input(9, 5);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_moving_average, average.data(), (const float*)b.data(), 9LL, 0.9f);
        print("moving_average", average.data(), 9);
        // channel gates: 2 samples of 3 pixels x 4 channels, each sample's 4 gates
        std::vector<float> x = input(24, 7), gate = input(8, 8), gated(24);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_multiply_channels, x.data(), gate.data(), gated.data(), 24LL, 3, 4);
        print("multiply_channels", gated.data(), 24);
    }
    { // every activation kind (by its ordinal) forward, backward from the input and from the output: inputs in
      // [-4, 4), with alpha 0.3 and cap 2.5 (relu), alpha 0.7 (elu)
        for (int kind = OSPREY_LINEAR; kind <= OSPREY_HARD_SIGMOID; kind++) {
            if (kind == OSPREY_SOFTMAX) continue;
            std::vector<float> x = input(40, 13), y(40), dy = input(40, 14), dx(40), dxOut(40);
            for (float& v : x) v *= 4.0f;
            const float alpha = kind == OSPREY_ELU ? 0.7f : kind == OSPREY_RELU ? 0.3f : 0.0f;
            const float cap = kind == OSPREY_RELU ? 2.5f : INFINITY;
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_activation_forward, x.data(), y.data(), 40LL, kind, alpha, cap);
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_activation_backward, x.data(), y.data(), dy.data(), dx.data(),
                               40LL, kind, alpha, cap);
            OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_activation_backward, nullptr, y.data(), dy.data(), dxOut.data(),
                               40LL, kind, alpha, cap);
            char name[64];
            std::snprintf(name, sizeof name, "activation_%d", kind);
            print(name, y.data(), 40);
            std::snprintf(name, sizeof name, "activation_backward_%d", kind);
            print(name, dx.data(), 40);
            std::snprintf(name, sizeof name, "activation_backward_from_output_%d", kind);
            print(name, dxOut.data(), 40);
        }
    }
    { // dense bias + ReLU over 3 rows of 5 units, bias-free hard_swish, and the bias gradient
        std::vector<float> y = input(15, 7), bias = input(5, 8), db(5), z = input(15, 7);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_bias_activation_forward, y.data(), bias.data(), (const float*)nullptr,
                           3, 5, (int)OSPREY_RELU,
                           0.0f, INFINITY);
        print("bias_relu", y.data(), 15);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_bias_activation_forward, z.data(), nullptr, nullptr, 3, 5,
                           (int)OSPREY_HARD_SWISH, 0.0f, INFINITY);
        print("no_bias_hard_swish", z.data(), 15);
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
    { // bfloat16: 40 values of the formula and 8 special ones rounded (as bit patterns), the finite ones widened back;
      // a kernel moved into KRSC in bf16 and back; the bf16 convolution epilogue (widen, bias, ReLU)
        std::vector<float> x = input(40, 12);
        const float special[8] = {1.00390625f /* 1 + 2^-8: a tie, to even (1) */,
                                  1.01171875f /* 1 + 3 * 2^-8: a tie, to even (1 + 2^-6) */, -0.0f, 1e-40f /* subnormal */,
                                  3.40282347e38f /* the largest float: rounds up to infinity */, INFINITY, -INFINITY, NAN};
        x.insert(x.end(), special, special + 8);
        const long long n = (long long)x.size();
        std::vector<unsigned short> h(n);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_to_bf16, x.data(), h.data(), n);
        std::vector<float> bits(h.begin(), h.end()), back(n);
        print("bf16_bits", bits.data(), n);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_from_bf16, (const unsigned short*)h.data(), back.data(), n);
        print("bf16_widened", back.data(), 44); // the formula's 40, the ties, -0 and the subnormal

        std::vector<float> hwio = input(72, 10), back72(72);
        std::vector<unsigned short> krsc(72);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_hwio_to_krsc_bf16, (const float*)hwio.data(), krsc.data(), 9, 2, 4);
        std::vector<float> krscBits(krsc.begin(), krsc.end());
        print("krsc_bf16_bits", krscBits.data(), 72);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_krsc_bf16_to_hwio, (const unsigned short*)krsc.data(), back72.data(),
                           9, 2, 4);
        print("hwio_from_bf16", back72.data(), 72);

        std::vector<float> y = input(15, 7), bias = input(5, 8), out(15);
        std::vector<unsigned short> y16(15);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_to_bf16, (const float*)y.data(), y16.data(), 15LL);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_bias_activation_from_bf16, (const unsigned short*)y16.data(),
                           out.data(), (const float*)bias.data(), (const float*)nullptr, 3, 5, (int)OSPREY_RELU, 0.0f,
                           INFINITY);
        print("bias_relu_from_bf16", out.data(), 15);
        std::vector<float> residual = input(15, 13), withResidual(15), plain = input(15, 7);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_bias_activation_from_bf16, (const unsigned short*)y16.data(),
                           withResidual.data(), (const float*)bias.data(), (const float*)residual.data(), 3, 5,
                           (int)OSPREY_RELU, 0.0f, INFINITY);
        print("bias_residual_relu_from_bf16", withResidual.data(), 15);
        std::vector<float> large(15); // residuals up to 8 in magnitude: the cap of 6 is reached
        for (int i = 0; i < 15; i++) large[i] = 8.0f * residual[i];
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_bias_activation_forward, plain.data(), (const float*)nullptr,
                           (const float*)large.data(), 3, 5, (int)OSPREY_RELU, 0.0f, 6.0f); // relu6: ReLU capped at 6
        print("residual_relu6", plain.data(), 15);
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
    { // permute: 2 samples of 2x3x4, axes (2, 0, 1): each sample becomes 4x2x3
        std::vector<float> x = input(48, 14), y(48);
        OSPREY_HOST_LAUNCH(BLOCKS, THREADS, osprey_permute3, x.data(), y.data(), 2, 2, 3, 4, 2, 0, 1);
        print("permute", y.data(), 48);
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
