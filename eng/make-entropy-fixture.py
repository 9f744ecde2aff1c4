#!/usr/bin/env python3
"""Reference values for the entropy (KL) calibration of Distillation.Onnx.Quantization.

An independent numpy implementation of the method EntropyCalibration.cs documents (TensorRT's and
ONNX Runtime's calibrator: reference P with the outliers saturated into the window's end bins,
candidate Q merged into `steps` groups as even as whole bins allow and spread over P's non-empty bins, eps = 1e-4 smoothing,
KL(P || Q) of the normalized counts), applied to small histograms. It prints every candidate's
divergence and the chosen window; tests/Distillation.Onnx.Tests/Quantization/EntropyCalibrationTests.cs
holds the printed values. Run with Debian's numpy (python3-numpy):

    /usr/bin/python3 eng/make-entropy-fixture.py > eng/entropy-fixture.txt
"""
import numpy as np

EPS = 1e-4


def smooth(counts):
    counts = counts.astype(np.float64)
    empty = counts == 0
    if empty.all():
        return None
    taken = EPS * empty.sum() / (~empty).sum()
    if taken >= counts[~empty].min():
        return None
    return np.where(empty, EPS, counts - taken)


def divergence(hist, start, width, steps):
    window = hist[start:start + width].astype(np.float64)
    p = window.copy()
    p[0] += hist[:start].sum()
    p[-1] += hist[start + width:].sum()
    q = np.zeros(width)
    for group in range(steps):
        lo = group * width // steps
        hi = (group + 1) * width // steps
        occupied = np.count_nonzero(p[lo:hi])
        if occupied:
            q[lo:hi] = np.where(p[lo:hi] != 0, window[lo:hi].sum() / occupied, 0.0)
    p, q = smooth(p), smooth(q)
    if p is None or q is None:
        return np.inf
    p /= p.sum()
    q /= q.sum()
    return float(np.sum(p * np.log(p / q)))


def choose(hist, zero, steps):
    hist = np.asarray(hist, dtype=np.int64)
    bins = hist.size
    results = []
    for width in range(steps, bins + 1):
        # numpy's round is half to even, as C#'s MidpointRounding.ToEven.
        start = int(np.clip(np.round(zero * (bins - width) / bins), 0, bins - width))
        results.append((width, start, divergence(hist, start, width, steps)))
    best = min(range(len(results)), key=lambda i: (results[i][2], i))
    return results, results[best]


CASES = [
    # name, histogram, zero position in bins, steps
    ("all_positive", [4, 2, 1, 1], 0.0, 2),
    ("zero_inside_with_empty_bins", [1, 0, 3, 9, 14, 6, 2, 0, 0, 1, 0, 1], 3.0, 4),
    ("long_tail", [40, 25, 14, 8, 5, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1], 0.0, 4),
]

for name, hist, zero, steps in CASES:
    results, (width, start, kl) = choose(hist, zero, steps)
    print(f"{name}: histogram {hist}, zero at bin {zero}, {steps} steps")
    for w, s, d in results:
        print(f"  width {w:2d} start {s:2d} KL {d!r}")
    print(f"  chosen: bins [{start}, {start + width})")
