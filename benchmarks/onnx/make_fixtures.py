#!/usr/bin/env python3
"""Create small ONNX test fixtures for Osprey's ONNX importer.

Each fixture is written as
    <fixtures>/<name>/model.onnx
    <fixtures>/<name>/test_data_set_0/input_0.pb
    <fixtures>/<name>/test_data_set_0/output_0.pb
(the layout of ONNX's own backend test suite). The fmnist_cnn fixture also gets
pytorch_predictions.bin and pytorch_accuracy.txt.

Usage (from the repository root, with Debian's python3):
    python3 benchmarks/onnx/make_fixtures.py                  # all the small fixtures
    python3 benchmarks/onnx/make_fixtures.py --only resnet_small
    python3 benchmarks/onnx/make_fixtures.py --resnet18 benchmarks/onnx/out/resnet18
"""
import argparse
import gzip
import os
import random
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES_DIR = os.path.join(
    REPO_ROOT, "java", "onnx", "src", "test", "resources", "dev", "osprey", "onnx", "fixtures")
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
SEED = 1234
OPSET = 17


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- helpers

def randomise_batchnorm(model, gen):
    """Give every BatchNorm layer non-trivial affine parameters and running statistics."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model


def write_tensor(path, arr, name):
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    with open(path, "wb") as f:
        f.write(onnx.numpy_helper.from_array(arr, name).SerializeToString())


def export_fixture(model, example_input, out_dir, opset=OPSET, export_without_grad=True, dynamic_batch=True):
    """Export model to out_dir/model.onnx and write one test data set for example_input. export_without_grad=False
    exports with autograd on, as a plain torch.onnx.export call does: under no_grad, eval-mode
    nn.MultiheadAttention takes a fused fast path that torch 1.13 cannot export. dynamic_batch=False fixes the batch
    at the example's, so the exporter writes shapes it would compute as constants (as torchvision exports do by
    default)."""
    os.makedirs(os.path.join(out_dir, "test_data_set_0"), exist_ok=True)
    model = model.eval()
    model_path = os.path.join(out_dir, "model.onnx")
    with torch.set_grad_enabled(not export_without_grad):
        torch.onnx.export(
            model, example_input, model_path,
            opset_version=opset,
            do_constant_folding=True,
            # Keep BatchNormalization as nodes (the default folds them into the convolutions), so that the
            # importer's BatchNorm mapping is what the fixtures test.
            training=torch.onnx.TrainingMode.PRESERVE,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None,
        )
        output = model(example_input).detach()
    onnx.checker.check_model(onnx.load(model_path))
    data_dir = os.path.join(out_dir, "test_data_set_0")
    write_tensor(os.path.join(data_dir, "input_0.pb"), example_input.numpy(), "input")
    write_tensor(os.path.join(data_dir, "output_0.pb"), output.numpy(), "output")
    print(f"wrote {model_path} (input {tuple(example_input.shape)}, output {tuple(output.shape)})")


# ---------------------------------------------------------------- Fashion-MNIST

def read_idx(path):
    """Parse a gzip-compressed IDX file into a numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    arr = np.frombuffer(data, dtype=np.uint8, offset=offset)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims}, got {arr.size} bytes")
    return arr.reshape(dims)


def load_fmnist(split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(FMNIST_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(FMNIST_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    # Preprocessing is exactly float32(pixel) / 255.0, NCHW.
    x = images.astype(np.float32)[:, None, :, :] / np.float32(255.0)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


class FmnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 32, 3)
        self.fc1 = nn.Linear(32 * 5 * 5, 64)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # 16x14x14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)   # 32x7x7
        x = F.relu(self.conv3(x))                              # 32x5x5
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        return self.fc2(x)


def make_fmnist_cnn(out_dir):
    seed_all(SEED)
    torch.set_num_threads(2)
    x_train, y_train = load_fmnist("train")
    x_test, y_test = load_fmnist("test")
    model = FmnistCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(SEED)
    batch = 128
    for epoch in range(2):
        model.train()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        total = 0.0
        for i in range(0, perm.numel(), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        print(f"fmnist_cnn epoch {epoch + 1}: mean loss {total / perm.numel():.4f}")

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, x_test.shape[0], 1000):
            preds.append(model(x_test[i:i + 1000]).argmax(dim=1))
    preds = torch.cat(preds)
    correct = int((preds == y_test).sum())
    accuracy = correct / y_test.numel()
    print(f"fmnist_cnn test accuracy {accuracy:.4f} ({correct}/{y_test.numel()})")

    export_fixture(model, x_test[:4].clone(), out_dir)
    with open(os.path.join(out_dir, "pytorch_predictions.bin"), "wb") as f:
        f.write(preds.numpy().astype(np.uint8).tobytes())
    with open(os.path.join(out_dir, "pytorch_accuracy.txt"), "w") as f:
        f.write(f"{accuracy:.4f} {correct}\n")


# ---------------------------------------------------------------- small ResNet

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + s)


class ResNetSmall(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=2, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers = []
        cin = widths[0]
        for stage, w in enumerate(widths):
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(cin, w, stride))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.pool(self.layers(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def make_random_fixture(model, input_shape, out_dir):
    gen = torch.Generator().manual_seed(SEED + 1)
    randomise_batchnorm(model, gen)
    x = torch.randn(*input_shape, generator=gen)
    export_fixture(model, x, out_dir)


def make_resnet_small(out_dir):
    seed_all(SEED)
    make_random_fixture(ResNetSmall(), (4, 3, 32, 32), out_dir)


def make_mobilenet_v2(out_dir):
    seed_all(SEED)
    model = torchvision.models.mobilenet_v2(width_mult=0.35, num_classes=10)
    make_random_fixture(model, (4, 3, 32, 32), out_dir)


def small_convnext():
    """torchvision's ConvNeXt at 16 and 32 channels (two stages, three blocks), every LayerNorm's weights and every
    layer scale random, so that a scale of 1 or 1e-6 hides nothing."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    model = ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)], num_classes=10)
    gen = torch.Generator().manual_seed(SEED + 2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return model


def make_convnext_small(out_dir):
    """Opset 17: ONNX's LayerNormalization op."""
    seed_all(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    export_fixture(small_convnext(), torch.randn(3, 3, 32, 32, generator=gen), out_dir)


def make_convnext_small_op14(out_dir):
    """Opset 14 (torch 1.13's default): each LayerNorm written out as ReduceMean, Sub, Pow, ..., Div, Mul, Add."""
    seed_all(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    export_fixture(small_convnext(), torch.randn(3, 3, 32, 32, generator=gen), out_dir, opset=14)


def small_vit():
    """torchvision's VisionTransformer on 32x32 images: 8x8 patches (16 tokens and the class token), width 32, two
    blocks of two heads, MLP 64; the class token, position embedding, LayerNorm weights and the head random (torchvision
    starts the head and the class token at zeros, which would hide them)."""
    from torchvision.models.vision_transformer import VisionTransformer
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                              num_classes=10)
    gen = torch.Generator().manual_seed(SEED + 3)
    with torch.no_grad():
        model.class_token.copy_(torch.randn(model.class_token.shape, generator=gen))
        model.encoder.pos_embedding.copy_(torch.randn(model.encoder.pos_embedding.shape, generator=gen) * 0.5)
        model.heads.head.weight.copy_(torch.randn(model.heads.head.weight.shape, generator=gen) * 0.2)
        model.heads.head.bias.copy_(torch.randn(model.heads.head.bias.shape, generator=gen) * 0.1)
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            if isinstance(m, nn.MultiheadAttention):
                m.in_proj_bias.copy_(torch.randn(m.in_proj_bias.shape, generator=gen) * 0.1)
    return model


def make_vit_small(out_dir):
    """Opset 14 (torch 1.13's default): nn.MultiheadAttention written out sequence-first with a packed in_proj, the
    class token expanded over the batch, LayerNorms written out in ops, x[:, 0] as a Gather."""
    seed_all(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    export_fixture(small_vit(), torch.randn(3, 3, 32, 32, generator=gen), out_dir, opset=14,
                   export_without_grad=False)


def make_vit_small_static(out_dir):
    """vit_small exported for its batch of 3 only: the attention's Reshape targets are constants that hold the batch
    (3 * 2 heads), as a plain torch.onnx.export of torchvision's ViT writes them."""
    seed_all(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    export_fixture(small_vit(), torch.randn(3, 3, 32, 32, generator=gen), out_dir, opset=14,
                   export_without_grad=False, dynamic_batch=False)


def make_resnet18(out_dir):
    seed_all(SEED)
    model = torchvision.models.resnet18()  # random weights, 1000 classes
    make_random_fixture(model, (2, 3, 224, 224), out_dir)


FIXTURES = {
    "fmnist_cnn": make_fmnist_cnn,
    "resnet_small": make_resnet_small,
    "mobilenet_v2": make_mobilenet_v2,
    "convnext_small": make_convnext_small,
    "convnext_small_op14": make_convnext_small_op14,
    "vit_small": make_vit_small,
    "vit_small_static": make_vit_small_static,
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=sorted(FIXTURES), help="regenerate just this fixture")
    p.add_argument("--resnet18", metavar="DIR",
                   help="export only a full-size torchvision resnet18 to DIR (not committed)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    if args.resnet18:
        make_resnet18(args.resnet18)
        if not args.only:
            return 0
    names = [args.only] if args.only else list(FIXTURES)
    for name in names:
        FIXTURES[name](os.path.join(FIXTURES_DIR, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
