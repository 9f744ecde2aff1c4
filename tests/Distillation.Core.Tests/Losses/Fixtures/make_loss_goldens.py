#!/usr/bin/env python3
"""Writes loss_goldens.json: golden values of every loss term, for LossGoldenValueTests.

The values are computed here from the papers' definitions in plain Python floats (IEEE double
precision, the standard library's math module only), independently of TorchSharp and of the
library's code: no tensor library is involved, and the formulas are written from the
definitions below, not ported from src/Distillation.Core/Losses. The inputs are drawn from a
seeded random.Random, so a rerun writes the same file byte for byte. Not run by CI:

    python3 tests/Distillation.Core.Tests/Losses/Fixtures/make_loss_goldens.py

Definitions (B rows, C classes, temperature T, p = softmax(z / T) row by row):
  ce      mean over rows of  logsumexp(z) - z[y]                              (PyTorch cross_entropy)
  kd      T^2 / B * sum_rows sum_c p_t[c] * (log p_t[c] - log p_s[c])         (Hinton et al. 2015;
          kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T^2)
  kd-ls   kd on z-scored rows: (z - mean) / (std + 1e-7), std unbiased over the classes
          (Sun et al., "Logit Standardization in Knowledge Distillation", CVPR 2024)
  dkd     (Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022)
          TCKD = T^2 / B * sum_rows KL((p_t[y], 1 - p_t[y]) || (p_s[y], 1 - p_s[y]))
          NCKD = T^2 / B * sum_rows KL(q_t || q_s), q = softmax over the classes other than y of z / T
          total = min(epoch / warmup, 1) * (alpha * TCKD + beta * NCKD)   (ramp 1 when warmup = 0)
  cosine  both features flattened per row; a teacher k times wider is average-pooled over runs of
          k consecutive values; mean over rows of 1 - cos, with cos = <s, t> / sqrt((|s|^2 + 1e-12)
          (|t|^2 + 1e-12)) as PyTorch's cosine_embedding_loss with target 1
  hint    FitNets (Romero et al. 2015): r = conv2d(student, W, b), 3x3 kernel, stride 1, zero
          padding 1 (cross-correlation, as PyTorch); mean over all elements of (r - teacher)^2
"""

import json
import math
import os
import random


def log_softmax(row):
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def softmax(row):
    return [math.exp(v) for v in log_softmax(row)]


def kl(target_probabilities, input_probabilities):
    """KL(target || input) over one distribution; 0 log 0 = 0."""
    return sum(t * (math.log(t) - math.log(i)) for t, i in zip(target_probabilities, input_probabilities) if t > 0)


def cross_entropy(student, labels):
    return sum(-log_softmax(row)[y] for row, y in zip(student, labels)) / len(student)


def kd(student, teacher, temperature):
    total = 0.0
    for s, t in zip(student, teacher):
        log_s = log_softmax([v / temperature for v in s])
        log_t = log_softmax([v / temperature for v in t])
        total += sum(math.exp(lt) * (lt - ls) for ls, lt in zip(log_s, log_t))
    return temperature * temperature * total / len(student)


def standardize(row):
    n = len(row)
    mean = sum(row) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in row) / (n - 1))
    return [(v - mean) / (std + 1e-7) for v in row]


def dkd_parts(student, teacher, labels, temperature):
    tckd = nckd = 0.0
    for s, t, y in zip(student, teacher, labels):
        p_s = softmax([v / temperature for v in s])
        p_t = softmax([v / temperature for v in t])
        tckd += kl([p_t[y], 1.0 - p_t[y]], [p_s[y], 1.0 - p_s[y]])
        q_s = softmax([v / temperature for c, v in enumerate(s) if c != y])
        q_t = softmax([v / temperature for c, v in enumerate(t) if c != y])
        nckd += kl(q_t, q_s)
    scale = temperature * temperature / len(student)
    return tckd * scale, nckd * scale


def cosine(student_rows, teacher_rows):
    total = 0.0
    for s, t in zip(student_rows, teacher_rows):
        if len(t) != len(s):
            k = len(t) // len(s)
            t = [sum(t[i * k:(i + 1) * k]) / k for i in range(len(s))]
        dot = sum(a * b for a, b in zip(s, t))
        norms = (sum(a * a for a in s) + 1e-12) * (sum(b * b for b in t) + 1e-12)
        total += 1.0 - dot / math.sqrt(norms)
    return total / len(student_rows)


def hint(x, weight, bias, target):
    """x [B][Cs][H][W], weight [Ct][Cs][3][3], bias [Ct], target [B][Ct][H][W]."""
    batch, cs, h, w = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    ct = len(weight)
    squares = 0.0
    for b in range(batch):
        for o in range(ct):
            for i in range(h):
                for j in range(w):
                    r = bias[o]
                    for c in range(cs):
                        for di in range(3):
                            for dj in range(3):
                                ii, jj = i + di - 1, j + dj - 1
                                if 0 <= ii < h and 0 <= jj < w:
                                    r += weight[o][c][di][dj] * x[b][c][ii][jj]
                    squares += (r - target[b][o][i][j]) ** 2
    return squares / (batch * ct * h * w)


def matrix(rng, rows, cols, scale):
    return [[rng.gauss(0.0, scale) for _ in range(cols)] for _ in range(rows)]


def nested(rng, shape, scale):
    if len(shape) == 1:
        return [rng.gauss(0.0, scale) for _ in range(shape[0])]
    return [nested(rng, shape[1:], scale) for _ in range(shape[0])]


def flat(values):
    return [v for item in values for v in flat(item)] if isinstance(values, list) else [values]


def shape_of(values):
    return [len(values)] + shape_of(values[0]) if isinstance(values, list) else []


def main():
    rng = random.Random(20260415)
    goldens = {
        "generator": "tests/Distillation.Core.Tests/Losses/Fixtures/make_loss_goldens.py",
        "note": "Plain-Python double-precision values from the papers' definitions; see the script's docstring.",
        "ce": [], "kd": [], "kdLs": [], "dkd": [], "cosine": [], "hint": [],
    }

    # (batch, classes, logit scale): one row, the 10 CIFAR classes, two classes, and large logits
    # (scale 20) where a naive softmax would overflow in float32.
    logit_cases = [(1, 10, 1.0), (4, 10, 3.0), (3, 2, 2.0), (5, 7, 20.0), (6, 3, 0.5)]
    temperatures = [1.0, 4.0, 2.0, 10.0, 0.5]

    for index, ((batch, classes, scale), temperature) in enumerate(zip(logit_cases, temperatures)):
        student = matrix(rng, batch, classes, scale)
        teacher = matrix(rng, batch, classes, scale)
        labels = [rng.randrange(classes) for _ in range(batch)]
        base = {"name": f"generated-{index}-B{batch}-C{classes}", "shape": [batch, classes],
                "student": flat(student), "teacher": flat(teacher), "labels": labels}

        goldens["ce"].append({**base, "expected": cross_entropy(student, labels)})
        goldens["kd"].append({**base, "temperature": temperature, "expected": kd(student, teacher, temperature)})
        if classes > 2 or index == 2:
            goldens["kdLs"].append({**base, "temperature": temperature,
                                    "expected": kd([standardize(r) for r in student], [standardize(r) for r in teacher], temperature)})

        tckd, nckd = dkd_parts(student, teacher, labels, temperature)
        alpha, beta = [(1.0, 8.0), (0.5, 2.0), (1.0, 1.0), (2.0, 8.0), (1.0, 0.0)][index]
        for warmup, epoch in [(0, 1), (20, 5), (4, 9)]:
            ramp = 1.0 if warmup == 0 else min(epoch / warmup, 1.0)
            goldens["dkd"].append({**base, "temperature": temperature, "alpha": alpha, "beta": beta,
                                   "warmupEpochs": warmup, "epoch": epoch,
                                   "tckd": tckd, "nckd": nckd, "expected": ramp * (alpha * tckd + beta * nckd)})

    # Cosine: equal widths, [B, C, H, W] maps, and teachers 2 and 4 times wider (pooled).
    for index, (student_shape, teacher_shape) in enumerate([
            ([3, 6], [3, 6]), ([2, 2, 2, 2], [2, 2, 2, 2]), ([4, 5], [4, 10]), ([2, 3, 2, 1], [2, 6, 2, 2])]):
        student = nested(rng, student_shape, 1.0)
        teacher = nested(rng, teacher_shape, 1.0)
        rows = lambda t: [flat(r) for r in t]
        goldens["cosine"].append({"name": f"generated-{index}", "studentShape": student_shape, "teacherShape": teacher_shape,
                                  "student": flat(student), "teacher": flat(teacher),
                                  "expected": cosine(rows(student), rows(teacher))})

    # Hint: student [B, Cs, H, W] -> teacher [B, Ct, H, W] through fixed regressor weights.
    for index, (batch, cs, ct, h, w) in enumerate([(2, 2, 3, 3, 3), (1, 1, 2, 4, 2), (3, 3, 4, 2, 2)]):
        x = nested(rng, [batch, cs, h, w], 1.0)
        weight = nested(rng, [ct, cs, 3, 3], 0.3)
        bias = nested(rng, [ct], 0.1)
        target = nested(rng, [batch, ct, h, w], 1.0)
        goldens["hint"].append({"name": f"generated-{index}", "studentShape": [batch, cs, h, w], "teacherShape": [batch, ct, h, w],
                                "student": flat(x), "teacher": flat(target),
                                "weightShape": shape_of(weight), "weight": flat(weight), "bias": bias,
                                "expected": hint(x, weight, bias, target)})

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss_goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(goldens, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
