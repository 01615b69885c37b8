#!/usr/bin/env python3
"""The tutorial CNN in PyTorch, measured the same way as Osprey's ModelThroughput: training images/s at batch
32 and 256 (shuffled batches, Adam, cross-entropy), inference images/s at batch 256, batch-1 latency (median,
p99). Reads the same real Fashion-MNIST images (the bundled 10k test set). Prints one JSON object.
Usage: pytorch_cnn.py IMAGES.gz LABELS.gz [seconds-per-figure] [threads] [cpu|cuda] [eager|compile]
          [extra training batch sizes...]"""
import glob, gzip, json, os, sys, time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def blas():
    """The BLAS Debian's alternatives select (libopenblas0-openmp gives OpenBLAS with OpenMP)."""
    for link in glob.glob("/etc/alternatives/libblas.so.3*"):
        return os.path.realpath(link)
    return "unknown"


def tutorial_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))


def sync(x):
    if x.is_cuda:
        torch.cuda.synchronize()


def train_images_per_second(model, x, y, batch, seconds):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = x[:9600], y[:9600]

    def one_epoch(n):
        order = torch.randperm(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()

    model.train()
    one_epoch(batch * 20)
    sync(x)
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        one_epoch(xs.shape[0])
        images += xs.shape[0]
    sync(x)
    return images / (time.perf_counter() - start)


def inference_images_per_second(model, x, batch, seconds):
    model.eval()
    with torch.no_grad():
        for start in range(0, batch * 4, batch):
            torch.softmax(model(x[start:start + batch]), 1)
        images, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for start in range(0, x.shape[0], batch):
                torch.softmax(model(x[start:start + batch]), 1).cpu().numpy()
            images += x.shape[0]
    return images / (time.perf_counter() - t0)


def latency_ms(model, x, seconds):
    model.eval()
    singles = [x[i:i + 1] for i in range(256)]
    samples = []
    with torch.no_grad():
        for i in range(500):
            torch.softmax(model(singles[i % 256]), 1).cpu().numpy()
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end and len(samples) < 200_000:
            t0 = time.perf_counter()
            torch.softmax(model(singles[len(samples) % 256]), 1).cpu().numpy()
            samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(np.ceil(len(samples) * 0.99)) - 1)]


def main():
    images, labels = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    device = sys.argv[5] if len(sys.argv) > 5 else "cpu"
    mode = sys.argv[6] if len(sys.argv) > 6 else "eager"
    extra = [int(b) for b in sys.argv[7:]]
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    x = torch.from_numpy(read_idx(images).astype(np.float32) / 255.0).unsqueeze(1).contiguous().to(device)
    y = torch.from_numpy(read_idx(labels).astype(np.int64)).to(device)
    model = tutorial_cnn().to(device)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # cuDNN's algorithm search, as Osprey does
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        backend = f"torch {torch.__version__} on {torch.cuda.get_device_name()}, {mode}, TF32"
    else:
        backend = f"torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: {blas()}"
    if mode == "compile":
        model = torch.compile(model)
    result = {
        "framework": "pytorch" if mode == "eager" else "pytorch-compile",
        "backend": backend,
        "train_b32_img_s": train_images_per_second(model, x, y, 32, seconds),
        "train_b256_img_s": train_images_per_second(model, x, y, 256, seconds),
    }
    for b in extra:
        result[f"train_b{b}_img_s"] = train_images_per_second(model, x, y, b, seconds)
    result["infer_b256_img_s"] = inference_images_per_second(model, x, 256, seconds)
    result["latency_b1_median_ms"], result["latency_b1_p99_ms"] = latency_ms(model, x, seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
