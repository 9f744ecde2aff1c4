#!/usr/bin/python3
"""Writes the DIST reference values that DistLossReferenceTests (tests/Distillation.Core.Tests/Losses)
compares the library's DistLoss with.

Run with Debian's PyTorch 1.13 (apt-get install python3-torch), from the repository root:

    /usr/bin/python3 eng/make-dist-fixture.py

It writes tests/Distillation.Core.Tests/Losses/Fixtures/dist_reference.json. CI does not run it.
The formula is written here from the DIST paper and the equations of its published code
(Huang et al., NeurIPS 2022, "Knowledge Distillation from A Stronger Teacher"); this repository
keeps none of that code. With p = softmax(z / T) row by row and

    rho(a, b) = <a - mean(a), b - mean(b)> / (|a - mean(a)| * |b - mean(b)| + 1e-8)

(the published code's epsilon sits in the denominator, added to the product of the norms):

    inter = T^2 * (1 - mean over rows b    of rho(p_s[b, :], p_t[b, :]))
    intra = T^2 * (1 - mean over classes c of rho(p_s[:, c], p_t[:, c]))
    loss  = beta * inter + gamma * intra

Every value is computed in float64 by torch from logits drawn in float32 by a seeded generator
(stored exactly, so C# sees the same numbers in either precision), with the gradient of the loss
with respect to the student's logits from autograd. A rerun writes the same file byte for byte.

The case marked "degenerate" gives the teacher the same row for every image, so each of its class
columns is constant and only the epsilon keeps rho finite (0 there, so intra = T^2).
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "Distillation.Core.Tests", "Losses", "Fixtures", "dist_reference.json")
EPSILON = 1e-8


def one_minus_mean_correlation(a, b):
    """1 - mean over rows of the epsilon-guarded Pearson correlation of a[r, :] and b[r, :]."""
    centred_a = a - a.mean(dim=1, keepdim=True)
    centred_b = b - b.mean(dim=1, keepdim=True)
    correlation = (centred_a * centred_b).sum(dim=1) / (centred_a.norm(dim=1) * centred_b.norm(dim=1) + EPSILON)
    return 1.0 - correlation.mean()


def dist(student_logits, teacher_logits, temperature, beta, gamma):
    p_s = torch.softmax(student_logits / temperature, dim=1)
    p_t = torch.softmax(teacher_logits / temperature, dim=1)
    inter = temperature ** 2 * one_minus_mean_correlation(p_s, p_t)
    intra = temperature ** 2 * one_minus_mean_correlation(p_s.t(), p_t.t())
    return inter, intra, beta * inter + gamma * intra


def main():
    generator = torch.Generator().manual_seed(20261206)
    # (name, batch, classes, logit scale, T, beta, gamma, degenerate teacher)
    cases = [
        ("b8-c10-default", 8, 10, 3.0, 1.0, 1.0, 1.0, False),
        ("b8-c10-T4", 8, 10, 3.0, 4.0, 1.0, 1.0, False),
        ("b6-c5-T2-weighted", 6, 5, 2.0, 2.0, 2.0, 0.5, False),
        ("b5-c7-large-logits", 5, 7, 15.0, 1.0, 1.0, 1.0, False),
        ("b4-c3-intra-only", 4, 3, 1.0, 0.5, 0.0, 1.0, False),
        ("b3-c4-inter-only", 3, 4, 2.0, 1.0, 1.0, 0.0, False),
        ("b16-c10-T4-cifar", 16, 10, 4.0, 4.0, 1.0, 1.0, False),
        ("b1-c6-one-image", 1, 6, 2.0, 1.0, 1.0, 1.0, False),
        ("b4-c5-constant-teacher-columns", 4, 5, 2.0, 1.0, 1.0, 1.0, True),
    ]
    out = {
        "generator": "eng/make-dist-fixture.py",
        "torch": torch.__version__,
        "note": "float64 DIST values and gradients w.r.t. the student logits; see the script's docstring.",
        "cases": [],
    }
    for name, batch, classes, scale, temperature, beta, gamma, degenerate in cases:
        student32 = torch.randn(batch, classes, generator=generator) * scale
        teacher32 = torch.randn(batch, classes, generator=generator) * scale
        if degenerate:
            teacher32 = teacher32[:1].repeat(batch, 1)
        student = student32.double().requires_grad_(True)
        teacher = teacher32.double()
        inter, intra, loss = dist(student, teacher, temperature, beta, gamma)
        loss.backward()
        out["cases"].append({
            "name": name,
            "shape": [batch, classes],
            "temperature": temperature,
            "beta": beta,
            "gamma": gamma,
            "degenerate": degenerate,
            "student": [float(v) for v in student32.flatten().tolist()],
            "teacher": [float(v) for v in teacher32.flatten().tolist()],
            "inter": inter.item(),
            "intra": intra.item(),
            "loss": loss.item(),
            "gradient": student.grad.flatten().tolist(),
        })
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}: {len(cases)} cases")


if __name__ == "__main__":
    main()
