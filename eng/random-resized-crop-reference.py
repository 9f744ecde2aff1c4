#!/usr/bin/env python3
"""Reference statistics of torchvision's RandomResizedCrop.get_params (Debian's python3-torchvision 0.14)
on a 48 x 64 image with the default scale (0.08, 1) and ratio (3/4, 4/3), for RandomResizedCropTests:
the mean share of the area a box keeps and the fraction of boxes narrower than tall.
Run: /usr/bin/python3 eng/random-resized-crop-reference.py"""
import torch
import torchvision.transforms as T

torch.manual_seed(0)
image = torch.zeros(3, 48, 64)
draws = 40000
shares, narrower = 0.0, 0
for _ in range(draws):
    _, _, h, w = T.RandomResizedCrop.get_params(image, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
    shares += h * w / (48 * 64)
    narrower += w < h
print(f"mean share {shares / draws:.4f}, narrower than tall {narrower / draws:.4f} ({draws} draws)")
