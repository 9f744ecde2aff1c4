#!/usr/bin/env python3
"""Training speed of the notebook's teacher and student in Debian's PyTorch 1.13, for the bench's comparison.

Trains each model for a number of batches of random CIFAR-sized images (batch 128, Adam, cross-entropy,
as the notebook), in float32 and, for the record, under CPU autocast bfloat16, and prints one JSON
object with images per second per case (the median of --repeats rounds, after one warm-up round).
Run it with glibc's malloc tuned as the library tunes it (DeviceOptions.TuneCpuAllocator):

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \
        /usr/bin/python3 eng/pytorch-training-speed.py --threads 2 --batches 16 --repeats 5

Zoo models (the cases resnet20-fp32, mobilenetv2-fp32, and with -cl channels-last batches and
weights) come from RepDistiller's own code, as eng/make-zoo-fixtures.py takes them (REPDISTILLER
names a checkout; b84f547 was used), and train as the bench's precision mode trains them: SGD at
0.01 with momentum 0.9, 8 batches of 128 per round (--batches 8), random CIFAR-sized images:

    REPDISTILLER=/path/to/RepDistiller MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \
        /usr/bin/python3 eng/pytorch-training-speed.py --threads 2 --batches 8 \
        --cases resnet20-fp32,resnet20-fp32-cl,mobilenetv2-fp32,mobilenetv2-fp32-cl
"""
import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn


def teacher():
    return nn.Sequential(
        nn.Conv2d(3, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(2048, 512), nn.ReLU(), nn.Linear(512, 10))


def student():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 10))


def zoo(name):
    """A CIFAR zoo model from RepDistiller's code (the reference the zoo's parameter counts are tested against)."""
    root = os.environ.get("REPDISTILLER")
    if not root or not os.path.isfile(os.path.join(root, "models", "resnet.py")):
        sys.exit("pytorch-training-speed: set REPDISTILLER to a checkout of HobbitLong/RepDistiller for the zoo cases.")
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(root, "models"))
    with contextlib.redirect_stdout(io.StringIO()):  # RepDistiller's MobileNetV2 prints in its constructor
        import mobilenetv2
        import resnet
        return {"resnet20": lambda: resnet.resnet20(num_classes=10), "mobilenetv2": lambda: mobilenetv2.mobile_half(10)}[name]()


def rate(model, mixed, batches, batch_size, channels_last, sgd=False):
    torch.manual_seed(0)
    images = [torch.randn(batch_size, 3, 32, 32) for _ in range(batches)]
    if channels_last:
        images = [x.contiguous(memory_format=torch.channels_last) for x in images]
    labels = [torch.randint(0, 10, (batch_size,)) for _ in range(batches)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if sgd else torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for x, y in zip(images, labels):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed):
            logits = model(x)
        loss_fn(logits.float(), y).backward()
        optimizer.step()
    return batches * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default="teacher-fp32,student-fp32,teacher-autocast-bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for case in args.cases.split(","):
        name, precision = case.split("-", 1)
        channels_last = precision.endswith("-cl")
        precision = precision.removesuffix("-cl")
        is_zoo = name not in ("teacher", "student")
        torch.manual_seed(0)
        model = zoo(name) if is_zoo else teacher() if name == "teacher" else student()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        mixed = precision != "fp32"
        batches = args.batches if not mixed else max(2, args.batches // 8)  # 1.13's CPU autocast is very slow
        rate(model, mixed, 1, args.batch_size, channels_last, is_zoo)  # warm-up
        rounds = [rate(model, mixed, batches, args.batch_size, channels_last, is_zoo) for _ in range(args.repeats)]
        results[case] = {"median": statistics.median(rounds), "min": min(rounds), "max": max(rounds), "batches": batches}
        print(f"{case}: {results[case]['median']:.0f} images/s ({min(rounds):.0f}-{max(rounds):.0f})", flush=True)
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "batchSize": args.batch_size,
                      "machine": platform.processor() or platform.machine(), "results": results}))


if __name__ == "__main__":
    main()
