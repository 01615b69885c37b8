#!/usr/bin/python3
"""Exports torchvision's image classifiers to ONNX, each with one test_data_set, for run-torchvision-import.sh.

Usage: /usr/bin/python3 benchmarks/onnx/torchvision_zoo.py OUT_DIR [NAME ...]   (no names: every model below)

Random weights (nothing can be downloaded), BatchNorm statistics randomised so that a mapping error shows, eval mode,
the default opset and constant folding: the file a PyTorch user gets from torch.onnx.export. Seeded: rerunning gives
the same inputs and outputs. Each model is written as OUT_DIR/NAME.onnx and OUT_DIR/NAME/test_data_set_0/{input_0,
output_0}.pb (ONNX's test-data layout, which `osprey import --verify` reads).
"""
import inspect
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torchvision.models as tv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import randomise_batchnorm  # noqa: E402 (the test fixtures' recipe)

MODELS = {
    "alexnet": lambda: tv.alexnet(weights=None),
    "vgg11_bn": lambda: tv.vgg11_bn(weights=None),
    "resnet18": lambda: tv.resnet18(weights=None),
    "resnet50": lambda: tv.resnet50(weights=None),
    "resnext50_32x4d": lambda: tv.resnext50_32x4d(weights=None),
    "wide_resnet50_2": lambda: tv.wide_resnet50_2(weights=None),
    "squeezenet1_1": lambda: tv.squeezenet1_1(weights=None),
    "densenet121": lambda: tv.densenet121(weights=None),
    "googlenet": lambda: tv.googlenet(weights=None, aux_logits=False, init_weights=True),
    "inception_v3": lambda: tv.inception_v3(weights=None, aux_logits=False, init_weights=True),
    "shufflenet_v2_x1_0": lambda: tv.shufflenet_v2_x1_0(weights=None),
    "mobilenet_v2": lambda: tv.mobilenet_v2(weights=None),
    "mobilenet_v3_small": lambda: tv.mobilenet_v3_small(weights=None),
    "mobilenet_v3_large": lambda: tv.mobilenet_v3_large(weights=None),
    "mnasnet0_5": lambda: tv.mnasnet0_5(weights=None),
    "efficientnet_b0": lambda: tv.efficientnet_b0(weights=None),
    "efficientnet_v2_s": lambda: tv.efficientnet_v2_s(weights=None),
    "regnet_x_400mf": lambda: tv.regnet_x_400mf(weights=None),
    "regnet_y_400mf": lambda: tv.regnet_y_400mf(weights=None),
    "convnext_tiny": lambda: tv.convnext_tiny(weights=None),
    "vit_b_16": lambda: tv.vit_b_16(weights=None),
    "swin_t": lambda: tv.swin_t(weights=None),
}


def randomise(model, generator):
    """BatchNorm statistics and affine terms away from the identity (as the test fixtures' are); ViT's
    zero-initialised head given weights."""
    randomise_batchnorm(model, generator)
    head = getattr(getattr(model, "heads", None), "head", None)
    if head is not None:
        with torch.no_grad():
            nn.init.normal_(head.weight, std=0.02)


def tensor_file(path, array, name):
    with open(path, "wb") as f:
        f.write(onnx.numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name).SerializeToString())


def export(out, name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    randomise(model, torch.Generator().manual_seed(1))
    size = 299 if name == "inception_v3" else 224
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    path = os.path.join(out, name + ".onnx")
    # gradients on: under no_grad, torch 1.13 routes ViT's attention through a fused op it cannot export
    options = dict(do_constant_folding=True, input_names=["input"], output_names=["output"])
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False  # torch 2.9 made the dynamo exporter the default: keep the TorchScript one's graphs
    torch.onnx.export(model, x, path, **options)
    with torch.no_grad():
        y = model(x)
    onnx.checker.check_model(onnx.load(path))
    data = os.path.join(out, name, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    tensor_file(os.path.join(data, "input_0.pb"), x.numpy(), "input")
    tensor_file(os.path.join(data, "output_0.pb"), y.numpy(), "output")
    print(f"exported {name}", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    out, names = sys.argv[1], sys.argv[2:] or list(MODELS)
    os.makedirs(out, exist_ok=True)
    for n in names:
        try:
            export(out, n)
        except Exception as e:  # one model's exporter failure is that model's row, not the run's end
            print(f"export failed {n}: {type(e).__name__}: {e}", flush=True)
