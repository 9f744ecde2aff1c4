#!/usr/bin/python3
"""Writes the reference data the model-zoo tests (tests/Distillation.Models.Tests/Zoo) compare with.

Run with Debian's PyTorch 1.13 and torchvision 0.14 (apt-get install python3-torchvision):

    REPDISTILLER=/path/to/RepDistiller /usr/bin/python3 eng/make-zoo-fixtures.py                  # committed fixtures only
    REPDISTILLER=/path/to/RepDistiller /usr/bin/python3 eng/make-zoo-fixtures.py --large-dir DIR  # also the large ones

REPDISTILLER names a checkout of HobbitLong/RepDistiller (the fixtures were made from commit
b84f547c5db6a35318d4671d7d5c4de74c822403, BSD 2-Clause); its models/ folder is imported from there.
This repository keeps none of its code.

Committed, in tests/Distillation.Models.Tests/Fixtures/zoo/:
  reference-models.json  for every zoo model built for 10 classes: the parameter count and the state
                         dict's keys and shapes in order. CIFAR models come from RepDistiller's own
                         code (models/ of the RepDistiller checkout), ImageNet models from
                         torchvision.models; the 1000-class parameter count is recorded too.
  logits/<model>.pth     a state dict (seeded random weights; BatchNorm statistics and affine
                         parameters randomised so eval-mode BatchNorm is exercised, the last Linear
                         scaled so the largest logit is 5), stored as
                         float16 to keep the files small: the weights are rounded to float16
                         first and the logits computed from the rounded values in float32.
  logits/<model>.io.pth  {"input": x, "logits": model(x)} in eval mode, float32.
  logits/cases.json      model, classes, input size, batch and dtype of each case.
With --large-dir DIR the same is written to DIR in float32 for every ImageNet-style model at
224 px (resnet18's state dict alone is 45 MB: never commit these). The test reads DIR from the
environment variable DISTILLATION_ZOO_LARGE_FIXTURES and skips without it.
"""
import argparse
import contextlib
import io
import json
import math
import os
import sys

import torch
import torchvision

sys.dont_write_bytecode = True  # keep the RepDistiller checkout free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
REPDISTILLER = os.environ.get("REPDISTILLER")
if not REPDISTILLER or not os.path.isfile(os.path.join(REPDISTILLER, "models", "resnet.py")):
    sys.exit("make-zoo-fixtures: set REPDISTILLER to a checkout of HobbitLong/RepDistiller (it must hold models/resnet.py).")
sys.path.insert(0, os.path.join(REPDISTILLER, "models"))
with contextlib.redirect_stdout(io.StringIO()):  # RepDistiller's MobileNetV2 prints in its constructor
    import mobilenetv2 as rd_mobilenetv2  # noqa: E402
    import resnet as rd_resnet  # noqa: E402
    import wrn as rd_wrn  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "tests", "Distillation.Models.Tests", "Fixtures", "zoo")
sys.path.insert(0, HERE)
import zoo_airbench  # noqa: E402


def quiet(build):
    def run(classes):
        with contextlib.redirect_stdout(io.StringIO()):
            return build(classes)
    return run


CIFAR = {
    "resnet20": lambda c: rd_resnet.resnet20(num_classes=c),
    "resnet32": lambda c: rd_resnet.resnet32(num_classes=c),
    "resnet56": lambda c: rd_resnet.resnet56(num_classes=c),
    "resnet110": lambda c: rd_resnet.resnet110(num_classes=c),
    "resnet8x4": lambda c: rd_resnet.resnet8x4(num_classes=c),
    "resnet32x4": lambda c: rd_resnet.resnet32x4(num_classes=c),
    "wrn_16_2": lambda c: rd_wrn.wrn_16_2(num_classes=c),
    "wrn_40_2": lambda c: rd_wrn.wrn_40_2(num_classes=c),
    "mobilenetv2": quiet(lambda c: rd_mobilenetv2.mobile_half(c)),
}
IMAGENET = {
    name: (lambda n: lambda c: getattr(torchvision.models, n)(num_classes=c))(name)
    for name in ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]
}


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def reference_models():
    models = {}
    for name, build in list(CIFAR.items()) + list(IMAGENET.items()):
        torch.manual_seed(0)
        model = build(10)
        entry = {
            "source": ("RepDistiller models/" if name in CIFAR else "torchvision.models.") + name,
            "parameters": parameter_count(model),
            "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()],
        }
        if name in IMAGENET:
            entry["parameters_1000_classes"] = parameter_count(build(1000))
        models[name] = entry
    return models


def randomise(model, seed):
    """Seeded values everywhere, with BatchNorm statistics that are not the identity."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
                module.num_batches_tracked.fill_(seed)
            elif isinstance(module, torch.nn.Linear):
                # torchvision's MobileNets draw N(0, 0.01), which leaves logits near zero: a 1e-4
                # tolerance would then say little. PyTorch's default scale keeps them near 1.
                bound = 1 / math.sqrt(module.in_features)
                module.weight.copy_((torch.rand(module.weight.shape, generator=generator) * 2 - 1) * bound)
                module.bias.copy_((torch.rand(module.bias.shape, generator=generator) * 2 - 1) * bound)


def write_logits_case(folder, name, build, size, batch, half, seed=1234):
    torch.manual_seed(seed)
    model = build(10)
    randomise(model, seed)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
    model.eval()
    # Deep residual stacks with random BatchNorm grow their logits to hundreds, MobileNets shrink
    # them to hundredths; scaling the classifier's last Linear puts the largest logit at 5, where
    # a 1e-4 tolerance means the same thing (2e-5 relative) for every model.
    last_linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        scale = 5.0 / model(x).abs().max().item()
        last_linear.weight.mul_(scale)
        last_linear.bias.mul_(scale)
    if half:
        with torch.no_grad():
            for value in model.state_dict().values():
                if value.is_floating_point():
                    value.copy_(value.half().float())
    with torch.no_grad():
        logits = model(x)
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(folder, name + ".pth"))
    torch.save({"input": x, "logits": logits}, os.path.join(folder, name + ".io.pth"))
    return {"model": name, "classes": 10, "input_size": size, "batch": batch,
            "dtype": "float16" if half else "float32", "max_abs_logit": logits.abs().max().item()}


def write_cases(folder, cases):
    os.makedirs(folder, exist_ok=True)
    written = [write_logits_case(folder, *case) for case in cases]
    with open(os.path.join(folder, "cases.json"), "w") as f:
        json.dump({"generator": "eng/make-zoo-fixtures.py", "torch": torch.__version__,
                   "torchvision": torchvision.__version__, "cases": written}, f, indent=1)
        f.write("\n")
    for case in written:
        size = os.path.getsize(os.path.join(folder, case["model"] + ".pth"))
        print("wrote %s/%s.pth (%d bytes)" % (folder, case["model"], size))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large-dir", help="also write float32 logits cases for every ImageNet-style model here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    os.makedirs(FIXTURES, exist_ok=True)
    with open(os.path.join(FIXTURES, "reference-models.json"), "w") as f:
        json.dump({"generator": "eng/make-zoo-fixtures.py", "torch": torch.__version__,
                   "torchvision": torchvision.__version__, "classes": 10, "models": reference_models()}, f)
        f.write("\n")

    # Small enough to commit (float16): one of each block family the zoo defines.
    write_cases(os.path.join(FIXTURES, "logits"), [
        ("resnet20", CIFAR["resnet20"], 32, 2, True),
        ("wrn_16_2", CIFAR["wrn_16_2"], 32, 2, True),
        ("mobilenetv2", CIFAR["mobilenetv2"], 32, 2, True),
        ("mobilenet_v3_small", IMAGENET["mobilenet_v3_small"], 64, 2, True),
    ])
    # The airbench net has no RepDistiller or torchvision original: its reference is this project's own.
    zoo_airbench.update_fixtures(FIXTURES)
    if args.large_dir:
        write_cases(args.large_dir, [(name, build, 224, 2, False) for name, build in IMAGENET.items()])


if __name__ == "__main__":
    main()
