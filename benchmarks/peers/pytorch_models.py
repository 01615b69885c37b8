#!/usr/bin/env python3
"""ResNet-20 and MobileNetV2 (32x32x3 inputs, 10 classes) in PyTorch, built to match Osprey's built-in models
layer for layer, measured for the side-by-side script benchmarks/run-graph-models-vs-peers.sh.

  pytorch_models.py MODEL SECONDS THREADS      MODEL = resnet20 | mobilenetv2
      On seeded random normal images with random labels: training images/s at batch 64 and 128 (Adam lr 1e-3
      eps 1e-7, cross-entropy, train mode), inference images/s at batch 256 (eval mode, no_grad, softmax on the
      output), batch-1 latency median and p99 in ms (eval mode, no_grad, softmax). Each figure is measured in
      both memory formats (NCHW and channels_last) for SECONDS each, and the better of the two is reported.
      Prints "RESULT pytorch <model> <figure> <value>" per figure, figure in train_b64, train_b128, infer_b256,
      latency_p50_ms, latency_p99_ms (images/s or ms), plus INFO lines (versions, per-format values).
  pytorch_models.py export MODEL OUT.onnx
      Exports the eval-mode model (opset 13, input "input", output "logits", dynamic batch axis) and checks the
      file with onnx.checker.
"""
import glob, math, os, sys, time

import torch
from torch import nn

# Keras' BatchNormalization defaults as Osprey mirrors them: epsilon 1e-3, moving-average momentum 0.99
# (PyTorch's momentum is the weight of the new batch: 1 - 0.99).
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
# Trainable parameters and BatchNorm running statistics (mean + variance: what Keras adds to its count).
EXPECTED = {"resnet20": (272_474, 1_568), "mobilenetv2": (2_236_682, 34_112)}
FIGURES = ("train_b64", "train_b128", "infer_b256", "latency_p50_ms", "latency_p99_ms")
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def bn(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def conv3x3(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3x3(stride) - BN - ReLU - conv3x3 - BN, plus the shortcut, then ReLU. The shortcut is the identity
    when the shape is unchanged, else a projection: conv1x1(stride) - BN (He et al. 2016, option B)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, cout, stride), bn(cout)
        self.conv2, self.bn2 = conv3x3(cout, cout, 1), bn(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), bn(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def resnet20(num_classes=10):
    """ResNet-20 for 32x32 images (He et al. 2016, section 4.2): a 16-filter stem, three stages of three basic
    blocks with 16, 32 and 64 filters (stages 2 and 3 start with stride 2), global average pool, dense layer."""
    layers = [conv3x3(3, 16, 1), bn(16), nn.ReLU()]
    cin = 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(cin, filters, stride))
            cin = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def mobilenetv2(num_classes=10, alpha=1.0):
    """torchvision's MobileNetV2 as is, except that the classifier's dropout is gone (Osprey's has none)."""
    import torchvision
    model = torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=alpha)
    assert isinstance(model.classifier[0], nn.Dropout), model.classifier
    model.classifier[0] = nn.Identity()
    return model


def build(name):
    model = {"resnet20": resnet20, "mobilenetv2": mobilenetv2}[name]()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    running = sum(m.running_mean.numel() + m.running_var.numel()
                  for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert (trainable, running) == EXPECTED[name], \
        f"{name}: {trainable:,} trainable parameters and {running:,} BN running statistics, " \
        f"expected {EXPECTED[name][0]:,} and {EXPECTED[name][1]:,}"
    return model


def blas():
    """The BLAS Debian's alternatives select (libopenblas0-openmp gives OpenBLAS with OpenMP)."""
    for link in glob.glob("/etc/alternatives/libblas.so.3*"):
        return os.path.realpath(link)
    return "unknown"


def fresh(name, fmt):
    """The model with the same seeded initial weights for every measurement, in the given memory format."""
    torch.manual_seed(0)
    return build(name).to(memory_format=fmt)


def random_images(n, fmt, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def train_images_per_second(name, fmt, batch, seconds, warmup_steps=5):
    model = fresh(name, fmt)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    x, y = random_images(batch * 8, fmt, seed=1)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, x.shape[0], batch)]

    def step(i):
        xb, yb = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()

    for i in range(warmup_steps):
        step(i)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(steps)
        steps += 1
    return steps * batch / (time.perf_counter() - start)


def inference_images_per_second(name, fmt, seconds, batch=256):
    model = fresh(name, fmt).eval()
    x, _ = random_images(batch * 4, fmt, seed=2)
    batches = [x[i:i + batch] for i in range(0, x.shape[0], batch)]
    with torch.no_grad():
        for xb in batches[:2]:
            torch.softmax(model(xb), 1).numpy()
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            torch.softmax(model(batches[runs % len(batches)]), 1).numpy()
            runs += 1
    return runs * batch / (time.perf_counter() - start)


def latency_ms(name, fmt, seconds):
    """Batch-1 latency over 256 different images, cycled: (median, p99) in ms."""
    model = fresh(name, fmt).eval()
    x, _ = random_images(256, fmt, seed=3)
    singles = [x[i:i + 1] for i in range(x.shape[0])]
    samples = []
    with torch.no_grad():
        warmup_end = time.perf_counter() + min(1.0, seconds / 4)
        i = 0
        while i < 20 or (i < 500 and time.perf_counter() < warmup_end):
            torch.softmax(model(singles[i % 256]), 1).numpy()
            i += 1
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end and len(samples) < 200_000:
            xb = singles[len(samples) % 256]
            t0 = time.perf_counter()
            torch.softmax(model(xb), 1).numpy()
            samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, math.ceil(len(samples) * 0.99) - 1)]


def measure(name, seconds):
    """Every figure in both memory formats, the formats alternating; returns {figure: {format: value}}."""
    values = {f: {} for f in FIGURES}
    for fmt_name, fmt in FORMATS.items():
        values["train_b64"][fmt_name] = train_images_per_second(name, fmt, 64, seconds)
    for fmt_name, fmt in FORMATS.items():
        values["train_b128"][fmt_name] = train_images_per_second(name, fmt, 128, seconds)
    for fmt_name, fmt in FORMATS.items():
        values["infer_b256"][fmt_name] = inference_images_per_second(name, fmt, seconds)
    for fmt_name, fmt in FORMATS.items():
        values["latency_p50_ms"][fmt_name], values["latency_p99_ms"][fmt_name] = latency_ms(name, fmt, seconds)
    return values


def export(name, out):
    import onnx
    model = build(name).eval()
    x = torch.randn(1, 3, 32, 32)
    torch.onnx.export(model, x, out, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(out))
    print(f"INFO exported {name} to {out} (opset 13, onnx {onnx.__version__}, checker passed)")


def main(args):
    if len(args) == 3 and args[0] == "export":
        export(args[1], args[2])
        return
    if len(args) != 3 or args[0] not in EXPECTED:
        sys.exit(__doc__)
    name, seconds, threads = args[0], float(args[1]), int(args[2])
    torch.set_num_threads(threads)
    print(f"INFO pytorch torch={torch.__version__} threads={torch.get_num_threads()} blas={blas()}", flush=True)
    values = measure(name, seconds)
    for figure in FIGURES:
        pick = min if figure.startswith("latency") else max
        best = pick(values[figure], key=values[figure].get)
        per_format = " ".join(f"{k}={v:.4f}" for k, v in values[figure].items())
        print(f"INFO pytorch {name} {figure} {per_format} best={best}")
        print(f"RESULT pytorch {name} {figure} {values[figure][best]:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
