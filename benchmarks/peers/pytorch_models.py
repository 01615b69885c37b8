#!/usr/bin/env python3
"""Osprey's built-in models in PyTorch, 10 classes, measured for the side-by-side scripts
benchmarks/run-graph-models-vs-peers.sh and benchmarks/run-inference-vs-peers.sh:
  resnet20, mobilenetv2  32x32x3 inputs, built to match Osprey's layer for layer;
  tutorial               28x28x1, the tutorial CNN (tutorial_cnn() of pytorch_cnn.py, 93,322 parameters);
  resnet18               224x224x3, torchvision's ResNet-18 as is;
  efficientnetb0, mobilenetv3small, convnexttiny, vittiny   32x32x3, torchvision's definitions (vittiny:
                         its VisionTransformer with DeiT-Tiny's widths on 4x4 patches);
  vittiny_224            224x224x3, DeiT-Tiny: the same VisionTransformer on 16x16 patches.

  pytorch_models.py MODEL SECONDS THREADS
      On seeded random normal images with random labels: training images/s at batch 64 and 128 (Adam lr 1e-3
      eps 1e-7, cross-entropy, train mode), inference images/s at batch N (256; 32 for resnet18) (eval mode,
      no_grad, softmax on the output), batch-1 latency median and p99 in ms (eval mode, no_grad, softmax). Each
      figure is measured in both memory formats (NCHW and channels_last) for SECONDS each, and the better of the
      two is reported. Prints "RESULT pytorch <model> <figure> <value>" per figure, figure in train_b64,
      train_b128, infer_bN, latency_p50_ms, latency_p99_ms (images/s or ms), plus INFO lines (versions,
      per-format values).
  pytorch_models.py infer MODEL SECONDS THREADS
      The inference figures only: infer_bN, latency_p50_ms, latency_p99_ms, as above.
  pytorch_models.py gpu-train MODEL SECONDS fp32|fp16|bf16
      On the GPU (CUDA): training images/s at batch 64 and 128 as above, channels_last, in fp32 (PyTorch's default
      math: TF32 convolutions) or under torch.autocast in fp16 (with a GradScaler: dynamic loss scaling, as Osprey's
      mixed_float16) or bf16. Prints "RESULT pytorch-PRECISION <model> train_bN <value>".
  pytorch_models.py gpu-infer MODEL SECONDS fp32|fp16|bf16
      On the GPU (CUDA): inference images/s at batch N and batch-1 latency (median, p99) as above, channels_last, in
      fp32 or under torch.autocast; as Osprey's predict does, each call copies its images from the host and its
      softmax back. Prints "RESULT pytorch-PRECISION <model> <figure> <value>".
  pytorch_models.py export MODEL OUT.onnx
      Exports the eval-mode model (opset 13, input "input" of the model's own input shape, output "logits",
      dynamic batch axis) and checks the file with onnx.checker.
"""
import glob, math, os, sys, time

import torch
from torch import nn

# Keras' BatchNormalization defaults as Osprey mirrors them: epsilon 1e-3, moving-average momentum 0.99
# (PyTorch's momentum is the weight of the new batch: 1 - 0.99).
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
# Trainable parameters and BatchNorm running statistics (mean + variance: what Keras adds to its count).
EXPECTED = {"resnet20": (272_474, 1_568), "mobilenetv2": (2_236_682, 34_112), "tutorial": (93_322, 0),
            "resnet18": (11_181_642, 9_600), "mobilenetv2_224": (2_236_682, 34_112),
            "efficientnetb0": (4_020_358, 42_016), "mobilenetv3small": (1_528_106, 12_112),
            "convnexttiny": (27_827_818, 0), "vittiny": (5_362_762, 0),
            "vittiny_224": (5_526_346, 0)}
# Each model's input (C, H, W) and the batch of its inference figure.
INPUT_SHAPE = {"resnet20": (3, 32, 32), "mobilenetv2": (3, 32, 32), "tutorial": (1, 28, 28),
               "resnet18": (3, 224, 224), "mobilenetv2_224": (3, 224, 224), "efficientnetb0": (3, 32, 32),
               "mobilenetv3small": (3, 32, 32), "convnexttiny": (3, 32, 32), "vittiny": (3, 32, 32),
               "vittiny_224": (3, 224, 224)}
INFER_BATCH = {"resnet18": 32, "mobilenetv2_224": 32, "vittiny_224": 32}
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


def tutorial():
    """The tutorial CNN, as pytorch_cnn.py defines it (the same module directory)."""
    from pytorch_cnn import tutorial_cnn
    return tutorial_cnn()


def resnet18(num_classes=10):
    """torchvision's ResNet-18 as is."""
    import torchvision
    return torchvision.models.resnet18(num_classes=num_classes)


def efficientnetb0(num_classes=10):
    """torchvision's EfficientNet-B0 without its stochastic depth (Osprey's has none), dropout 0.2 kept as Osprey's."""
    import torchvision
    model = torchvision.models.efficientnet_b0(num_classes=num_classes)
    for module in model.modules():
        for child_name, child in module.named_children():
            if type(child).__name__ == "StochasticDepth":
                setattr(module, child_name, nn.Identity())
    return model


def mobilenetv3small(num_classes=10):
    """torchvision's MobileNetV3-Small as is (its dropout 0.2 is Osprey's too)."""
    import torchvision
    return torchvision.models.mobilenet_v3_small(num_classes=num_classes)


def convnexttiny(num_classes=10):
    """torchvision's ConvNeXt-Tiny without its stochastic depth (Osprey's has none); layer scales start at 1e-6."""
    import torchvision
    return torchvision.models.convnext_tiny(num_classes=num_classes, stochastic_depth_prob=0.0)


def vittiny(num_classes=10):
    """torchvision's VisionTransformer with DeiT-Tiny's widths on 4x4 patches of 32x32 images (64 tokens and the
    class token), as Osprey's Models.vitTiny takes them; no dropout."""
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=32, patch_size=4, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
                             num_classes=num_classes)


def vittiny_224(num_classes=10):
    """DeiT-Tiny: torchvision's VisionTransformer on 16x16 patches of 224x224 images (196 tokens and the class
    token), as Osprey's Models.vitTiny takes them at that size; no dropout."""
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
                             num_classes=num_classes)


def infer_batch(name):
    return INFER_BATCH.get(name, 256)


def infer_figure(name):
    return f"infer_b{infer_batch(name)}"


def build(name):
    model = {"resnet20": resnet20, "mobilenetv2": mobilenetv2, "tutorial": tutorial, "resnet18": resnet18,
             "mobilenetv2_224": mobilenetv2, "efficientnetb0": efficientnetb0,
             "mobilenetv3small": mobilenetv3small, "convnexttiny": convnexttiny, "vittiny": vittiny,
             "vittiny_224": vittiny_224}[name]()
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


def random_images(name, n, fmt, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *INPUT_SHAPE[name], generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def train_images_per_second(name, fmt, batch, seconds, warmup_steps=5, device="cpu", precision="fp32"):
    model = fresh(name, fmt).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    x, y = random_images(name, batch * 8, fmt, seed=1)
    x, y = x.to(device), y.to(device)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, x.shape[0], batch)]
    autocast = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    scaler = torch.cuda.amp.GradScaler() if precision == "fp16" else None

    def step(i):
        xb, yb = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        if autocast is None:
            loss = loss_fn(model(xb), yb)
        else:
            with torch.autocast(device_type=device, dtype=autocast):
                loss = loss_fn(model(xb), yb)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    def synchronize():
        if device == "cuda":
            torch.cuda.synchronize()

    for i in range(warmup_steps):
        step(i)
    synchronize()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(steps)
        steps += 1
    synchronize()
    return steps * batch / (time.perf_counter() - start)


def inference_images_per_second(name, fmt, seconds):
    batch = infer_batch(name)
    model = fresh(name, fmt).eval()
    x, _ = random_images(name, batch * 4, fmt, seed=2)
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
    x, _ = random_images(name, 256, fmt, seed=3)
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


def figures(name, training):
    inference = (infer_figure(name), "latency_p50_ms", "latency_p99_ms")
    return (("train_b64", "train_b128") if training else ()) + inference


def measure(name, seconds, training=True):
    """Every figure in both memory formats, the formats alternating; returns {figure: {format: value}}."""
    values = {f: {} for f in figures(name, training)}
    if training:
        for fmt_name, fmt in FORMATS.items():
            values["train_b64"][fmt_name] = train_images_per_second(name, fmt, 64, seconds)
        for fmt_name, fmt in FORMATS.items():
            values["train_b128"][fmt_name] = train_images_per_second(name, fmt, 128, seconds)
    for fmt_name, fmt in FORMATS.items():
        values[infer_figure(name)][fmt_name] = inference_images_per_second(name, fmt, seconds)
    for fmt_name, fmt in FORMATS.items():
        values["latency_p50_ms"][fmt_name], values["latency_p99_ms"][fmt_name] = latency_ms(name, fmt, seconds)
    return values


def export(name, out):
    import onnx
    model = build(name).eval()
    x = torch.randn(1, *INPUT_SHAPE[name])
    torch.onnx.export(model, x, out, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(out))
    print(f"INFO exported {name} to {out} (input {'x'.join(map(str, INPUT_SHAPE[name]))}, opset 13, "
          f"onnx {onnx.__version__}, checker passed)")


def gpu_train(name, seconds, precision):
    if not torch.cuda.is_available():
        sys.exit("gpu-train: no CUDA device for PyTorch here")
    print(f"INFO pytorch torch={torch.__version__} device={torch.cuda.get_device_name(0)} precision={precision}",
          flush=True)
    for batch in (64, 128):
        value = train_images_per_second(name, torch.channels_last, batch, seconds, device="cuda", precision=precision)
        print(f"RESULT pytorch-{precision} {name} train_b{batch} {value:.4f}", flush=True)


def gpu_infer(name, seconds, precision):
    if not torch.cuda.is_available():
        sys.exit("gpu-infer: no CUDA device for PyTorch here")
    print(f"INFO pytorch torch={torch.__version__} device={torch.cuda.get_device_name(0)} precision={precision}",
          flush=True)
    model = fresh(name, torch.channels_last).to("cuda").eval()
    autocast = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)

    def predict(xb):
        with torch.no_grad():
            xb = xb.to("cuda", non_blocking=False)
            if autocast is None:
                out = model(xb)
            else:
                with torch.autocast(device_type="cuda", dtype=autocast):
                    out = model(xb)
            return torch.softmax(out.float(), 1).cpu().numpy()  # back on the host: the call waits for the GPU

    batch = infer_batch(name)
    x, _ = random_images(name, batch * 4, torch.channels_last, seed=2)
    batches = [x[i:i + batch] for i in range(0, x.shape[0], batch)]
    for xb in batches[:3]:
        predict(xb)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict(batches[runs % len(batches)])
        runs += 1
    print(f"RESULT pytorch-{precision} {name} {infer_figure(name)} {runs * batch / (time.perf_counter() - start):.4f}",
          flush=True)
    singles = [x[i:i + 1] for i in range(min(256, x.shape[0]))]
    for i in range(50):
        predict(singles[i % len(singles)])
    samples, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end and len(samples) < 200_000:
        t0 = time.perf_counter()
        predict(singles[len(samples) % len(singles)])
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    p99 = samples[min(len(samples) - 1, math.ceil(len(samples) * 0.99) - 1)]
    print(f"RESULT pytorch-{precision} {name} latency_p50_ms {samples[len(samples) // 2]:.4f}", flush=True)
    print(f"RESULT pytorch-{precision} {name} latency_p99_ms {p99:.4f}", flush=True)


def main(args):
    if len(args) == 3 and args[0] == "export" and args[1] in EXPECTED:
        export(args[1], args[2])
        return
    if len(args) == 4 and args[0] in ("gpu-train", "gpu-infer") and args[1] in EXPECTED \
            and args[3] in ("fp32", "fp16", "bf16"):
        (gpu_train if args[0] == "gpu-train" else gpu_infer)(args[1], float(args[2]), args[3])
        return
    training = not (len(args) == 4 and args[0] == "infer")
    if not training:
        args = args[1:]
    if len(args) != 3 or args[0] not in EXPECTED:
        sys.exit(__doc__)
    name, seconds, threads = args[0], float(args[1]), int(args[2])
    torch.set_num_threads(threads)
    print(f"INFO pytorch torch={torch.__version__} threads={torch.get_num_threads()} blas={blas()}", flush=True)
    values = measure(name, seconds, training)
    for figure in values:
        pick = min if figure.startswith("latency") else max
        best = pick(values[figure], key=values[figure].get)
        per_format = " ".join(f"{k}={v:.4f}" for k, v in values[figure].items())
        print(f"INFO pytorch {name} {figure} {per_format} best={best}")
        print(f"RESULT pytorch {name} {figure} {values[figure][best]:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
