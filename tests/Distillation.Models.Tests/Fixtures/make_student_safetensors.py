#!/usr/bin/env python3
"""Writes student.safetensors: StudentNet's state dict with deterministic values, stdlib only.

Tensor k (its index in StudentNet's state-dict order below), element i (row-major flat index)
holds 0.1 * sin(i + k), computed in double precision and rounded to the stored dtype. Most
tensors are F32; a few use F64, F16 and BF16 so loading exercises dtype conversion. The header's
JSON keys are sorted (as the reference writer does) while the data follows state-dict order, so
a reader must use the offsets rather than the header order.

Run from this folder: python3 make_student_safetensors.py  (rewrites student.safetensors)
The tests (StateDictImportTests) compute the same formula in C#.
"""
import json
import math
import os
import struct

# (name, shape, dtype) in StudentNet's state-dict order.
TENSORS = [
    ("features.0.weight", [16, 3, 3, 3], "F32"),
    ("features.0.bias", [16], "F64"),
    ("features.3.weight", [16, 16, 3, 3], "F32"),
    ("features.3.bias", [16], "F32"),
    ("classifier.1.weight", [256, 1024], "F32"),
    ("classifier.1.bias", [256], "F32"),
    ("classifier.3.weight", [10, 256], "F16"),
    ("classifier.3.bias", [10], "BF16"),
]


def value(k, i):
    return 0.1 * math.sin(i + k)


def bf16_bits(x):
    """float32 rounded to bfloat16, round-to-nearest-even on the bit pattern."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits += 0x7FFF + ((bits >> 16) & 1)
    return (bits >> 16) & 0xFFFF


def encode(dtype, values):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F64":
        return struct.pack("<%dd" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    if dtype == "BF16":
        return struct.pack("<%dH" % len(values), *(bf16_bits(v) for v in values))
    raise ValueError(dtype)


def main():
    header = {"__metadata__": {"format": "pt", "generator": "make_student_safetensors.py"}}
    chunks = []
    offset = 0
    for k, (name, shape, dtype) in enumerate(TENSORS):
        count = math.prod(shape)
        data = encode(dtype, [value(k, i) for i in range(count)])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "student.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in chunks:
            f.write(data)
    print("wrote %s (%d bytes, %d tensors)" % (path, 8 + len(text) + offset, len(TENSORS)))


if __name__ == "__main__":
    main()
