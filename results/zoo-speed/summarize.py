#!/usr/bin/env python3
"""Joins eng/zoo-speed-vs-pytorch.sh's rounds (the folder given, default this one) into summary.json:
per model and layout, this library's training images/s (the bench's precision mode, median of its
5 rounds) against PyTorch 1.13's (eng/pytorch-training-speed.py, median of its 5 rounds), round by
round (the two alternate), and the median of the per-round ratios."""
import json
import statistics
import sys
from pathlib import Path

folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
rounds = sorted(int(p.stem.split("-")[1]) for p in folder.glob("dotnet-*.json"))
settings = {"fp32": "float32 NCHW", "fp32-cl": "float32 channels-last"}
rows = []
for model in ("resnet20", "mobilenetv2"):
    for key, name in settings.items():
        per_round = []
        for r in rounds:
            dotnet = json.loads((folder / f"dotnet-{r}.json").read_text())
            torch = json.loads((folder / f"pytorch-{r}.json").read_text())
            ideas = {i["name"]: i for i in dotnet["ideas"]}
            idea = ideas[f"{model}: {name}"] if key != "fp32" else next(i for n, i in ideas.items() if n.startswith(f"{model}:"))
            ours = idea["variant"]["median"] if key != "fp32" else idea["baseline"]["median"]
            theirs = torch["results"][f"{model}-{key}"]["median"]
            per_round.append({"round": r, "library": ours, "pytorch": theirs, "ratio": ours / theirs})
        rows.append({"model": model, "setting": name, "rounds": per_round,
                     "medianRatio": statistics.median(p["ratio"] for p in per_round)})
    best = []
    for r in rounds:
        dotnet = json.loads((folder / f"dotnet-{r}.json").read_text())
        torch = json.loads((folder / f"pytorch-{r}.json").read_text())
        ideas = [i for i in dotnet["ideas"] if i["name"].startswith(f"{model}:")]
        candidates = [(i["name"], i["variant"]["median"]) for i in ideas] + [(f"{model}: float32 NCHW", ideas[0]["baseline"]["median"])]
        fastest = max(candidates, key=lambda c: c[1])
        best.append({"round": r, "setting": fastest[0], "library": fastest[1],
                     "pytorchFloat32Best": max(torch["results"][f"{model}-fp32"]["median"], torch["results"][f"{model}-fp32-cl"]["median"])})
    rows.append({"model": model, "setting": "the library's fastest setting against PyTorch's faster float32 layout", "rounds": best,
                 "medianRatio": statistics.median(b["library"] / b["pytorchFloat32Best"] for b in best)})
cpu = (folder / "cpu-flags.txt").read_text().strip() if (folder / "cpu-flags.txt").exists() else ""
summary = {"what": "training images/s, batch 128, 2 threads, SGD 0.01 momentum 0.9, malloc tuned on both sides; the library and PyTorch 1.13 alternating", "cpu": cpu, "rows": rows}
(folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
for row in rows:
    cells = ", ".join(f"{p['library']:.0f} vs {p.get('pytorch', p.get('pytorchFloat32Best')):.0f}" for p in row["rounds"])
    print(f"{row['model']:12s} {row['setting'][:60]:60s} ratio {row['medianRatio']:.2f}  ({cells})")
