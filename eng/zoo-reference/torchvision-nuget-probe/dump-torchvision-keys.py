#!/usr/bin/python3
"""Writes torchvision 0.14's state-dict keys and shapes, one "key d0,d1,..." line each, to DIR/<model>.txt."""
import sys

import torchvision.models as models

folder = sys.argv[1]
for name in ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]:
    with open("%s/%s.txt" % (folder, name), "w") as f:
        for key, value in getattr(models, name)().state_dict().items():
            f.write("%s %s\n" % (key, ",".join(map(str, value.shape))))
