#!/usr/bin/env python3
"""Decoded images per second of torchvision's image-folder pipeline, for the bench's comparison at 224 px.

torchvision.datasets.ImageFolder (Pillow decodes) with the usual ImageNet training transforms,
RandomResizedCrop(224), RandomHorizontalFlip, ToTensor, Normalize(ImageNet mean and std), in a
torch.utils.data.DataLoader (batch 64, shuffled, --workers worker processes, persistent). It reads
the folder the bench's jpeg-folder mode writes, the same files the bench's streaming mode reads:

    dotnet distill-bench.dll jpeg-folder --folder /tmp/jpeg224 --images 2560
    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \\
        /usr/bin/python3 eng/pytorch-dataloader-speed.py --folder /tmp/jpeg224 --workers 2

Worker start-up is left out of the timed pass, as the .NET side leaves out its warm-up round: the
workers are persistent, started by --warmup untimed passes (default 1, which also brings the files
into the page cache); each timed pass is one full epoch, clocked from iter(loader), which hands the
running workers the new epoch's indices, to the last batch received. The images/s of each timed
pass, their median, and the versions (Pillow and the libjpeg it was built with) are printed as one
JSON object on the last line.
"""
import argparse
import json
import os
import platform
import statistics
import time

import PIL
import torch
import torchvision
from PIL import features
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True, help="root/<class>/<image> (the bench's jpeg-folder)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (the .NET side's --decode-threads)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of the main process (workers use 1 each, PyTorch's default)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes first (they start the persistent workers)")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers must be at least 1 (0 decodes in the main process, which the .NET side never does); got {args.workers}")
    if not os.path.isdir(args.folder):
        parser.error(f"--folder {args.folder} is not a folder")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    transform = transforms.Compose([
        transforms.RandomResizedCrop(args.image_size),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    dataset = datasets.ImageFolder(args.folder, transform=transform)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        persistent_workers=True, drop_last=False)

    def one_pass():
        start = time.perf_counter()
        images = 0
        for batch, labels in loader:
            images += labels.shape[0]
        seconds = time.perf_counter() - start
        assert images == len(dataset), (images, len(dataset))
        return images / seconds

    for round in range(args.warmup):
        print(f"warm-up pass {round}: {one_pass():.1f} images/s (worker start-up included)", flush=True)
    samples = []
    for round in range(args.repeats):
        samples.append(one_pass())
        print(f"timed pass {round}: {samples[-1]:.1f} images/s", flush=True)

    print(json.dumps({
        "case": f"torchvision ImageFolder + RandomResizedCrop({args.image_size}), RandomHorizontalFlip, ToTensor, Normalize; "
                f"DataLoader batch {args.batch_size}, {args.workers} workers (persistent), shuffled",
        "images": len(dataset),
        "classes": len(dataset.classes),
        "workers": args.workers,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "warmup_passes": args.warmup,
        "images_per_second": samples,
        "median_images_per_second": statistics.median(samples) if samples else None,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "libjpeg_api": features.version("jpg"),
        "libjpeg_turbo": features.version_feature("libjpeg_turbo"),
        "python": platform.python_version(),
        "cpu": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor()),
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
    }))


if __name__ == "__main__":
    main()
