#!/usr/bin/env python3
"""The zoo's airbench-style net in PyTorch, and its fixtures.

A PyTorch definition of the network that src/Distillation.Models/Zoo/AirbenchNet.cs builds, written
for this project from the published description of airbench94 (Keller Jordan, "94% on CIFAR-10 in
3.29 seconds on a single GPU", 2024): a 2x2 whitening convolution (24 filters, bias), GELU, three
conv groups (conv 3x3, max-pool 2, BatchNorm, GELU, conv 3x3, BatchNorm, GELU) of 64, 256 and 256
channels, a 3x3 max-pool (global at 32x32), a bias-free linear head and logits scaled by 1/9.

    /usr/bin/python3 eng/zoo_airbench.py   # adds "airbench" to tests/.../Fixtures/zoo (reference-models.json, logits/)

eng/make-zoo-fixtures.py calls update_fixtures() too, so rewriting the other models keeps this one.
"""
import json
import math
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "Distillation.Models.Tests", "Fixtures", "zoo")


def conv_group(channels_in, channels_out):
    return nn.Sequential(collections_ordered([
        ("conv1", nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False)),
        ("pool", nn.MaxPool2d(2)),
        ("norm1", nn.BatchNorm2d(channels_out, eps=1e-12, momentum=0.4)),
        ("activ1", nn.GELU()),
        ("conv2", nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)),
        ("norm2", nn.BatchNorm2d(channels_out, eps=1e-12, momentum=0.4)),
        ("activ2", nn.GELU()),
    ]))


def collections_ordered(pairs):
    from collections import OrderedDict
    return OrderedDict(pairs)


class Airbench(nn.Module):
    def __init__(self, classes, widths=(64, 256, 256)):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)
        self.activation = nn.GELU()
        self.block1 = conv_group(24, widths[0])
        self.block2 = conv_group(widths[0], widths[1])
        self.block3 = conv_group(widths[1], widths[2])
        self.head = nn.Linear(widths[2], classes, bias=False)
        self.whiten.weight.requires_grad = False
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.requires_grad = False

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.activation(self.whiten(x)))))
        x = nn.functional.max_pool2d(x, 3).flatten(1)  # airbench's MaxPool2d(3): global at 32x32
        return self.head(x) / 9


def randomise(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                value.fill_(seed)
            elif name.endswith("running_var") or (name.endswith("weight") and ".norm" in name):
                value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                value.copy_(torch.randn(value.shape, generator=generator) * 0.1)
            else:
                fan_in = value[0].numel()
                value.copy_((torch.rand(value.shape, generator=generator) * 2 - 1) / math.sqrt(fan_in))


def update_fixtures(folder=FIXTURES, seed=1234):
    torch.manual_seed(0)
    model = Airbench(10)
    path = os.path.join(folder, "reference-models.json")
    with open(path) as f:
        reference = json.load(f)
    reference["models"]["airbench"] = {
        "source": "eng/zoo_airbench.py (airbench94's net, from its published description)",
        "parameters": sum(p.numel() for p in model.parameters()),  # as the zoo counts: the fixed whitening filters and BatchNorm scales included
        "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()],
    }
    with open(path, "w") as f:
        json.dump(reference, f)
        f.write("\n")

    # A float16 logits case, as the other committed ones: random weights, the largest logit scaled to 5.
    torch.manual_seed(seed)
    model = Airbench(10)
    randomise(model, seed)
    model.eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        model.head.weight.mul_(5.0 / model(x).abs().max().item())
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.copy_(value.half().float())
        logits = model(x)
    logits_folder = os.path.join(folder, "logits")
    torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}, os.path.join(logits_folder, "airbench.pth"))
    torch.save({"input": x, "logits": logits}, os.path.join(logits_folder, "airbench.io.pth"))
    cases_path = os.path.join(logits_folder, "cases.json")
    with open(cases_path) as f:
        cases = json.load(f)
    cases["cases"] = [c for c in cases["cases"] if c["model"] != "airbench"] + [{
        "model": "airbench", "classes": 10, "input_size": 32, "batch": 2, "dtype": "float16", "max_abs_logit": logits.abs().max().item()}]
    with open(cases_path, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    print("airbench: %d parameters; wrote %s and logits/airbench.pth" % (reference["models"]["airbench"]["parameters"], path))


if __name__ == "__main__":
    torch.set_num_threads(1)
    update_fixtures()
