#!/usr/bin/env python3
"""The re-tuned control (weight decay 1e-3, chosen on validation) on the test set, seeds 42-44
(seed42/ … here, each the sample's results.json and run.log, copied from the run folder given,
default /work/runs/final-control), paired with the distilled students of ../seed42-44/ (same seed,
initialisation and batches; weight decay 5e-4, as the recipe gives them). Writes summary.json:
each arm's mean ± sd (sample sd, n − 1) and the paired gain."""
import json
import shutil
import statistics
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
runs = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/runs/final-control")
seeds = []
for seed in (42, 43, 44):
    source = runs / f"seed{seed}"
    if (source / "results.json").exists():
        (here / f"seed{seed}").mkdir(exist_ok=True)
        shutil.copy(source / "results.json", here / f"seed{seed}" / "results.json")
        shutil.copy(runs / f"seed{seed}.log", here / f"seed{seed}" / "run.log")
    if not (here / f"seed{seed}" / "results.json").exists():
        continue
    retuned = json.loads((here / f"seed{seed}" / "results.json").read_text())
    assert retuned["recipe"]["evaluatedOn"] == "test" and retuned["settings"]["controlWeightDecay"] == 1e-3
    control = retuned["recipe"]["runs"][0]["control"]
    first = json.loads((here.parent / f"seed{seed}" / "results.json").read_text())["recipe"]["runs"][0]
    seeds.append({
        "seed": seed,
        "controlRetuned": control["testAccuracy"],
        "controlRecipe": first["control"]["testAccuracy"],
        "distilled": first["distilled"]["testAccuracy"],
        "gain": first["distilled"]["testAccuracy"] - control["testAccuracy"],
        "controlMinutes": control["trainingSeconds"] / 60,
    })


def spread(values):
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


summary = {
    "what": "test set (10,000 images), 60 epochs; the control re-tuned on validation (weight decay 1e-3) against the distilled students of the airbench-60 final (weight decay 5e-4), paired by seed",
    "machine": "AMD EPYC, avx2 avx512f avx512_bf16 avx512_vnni, no AMX; 2 threads",
    "seeds": seeds,
    "controlRetuned": spread([s["controlRetuned"] for s in seeds]),
    "controlRecipe": spread([s["controlRecipe"] for s in seeds]),
    "distilled": spread([s["distilled"] for s in seeds]),
    "gain": spread([s["gain"] for s in seeds]),
}
(here / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
json.dump(summary, sys.stdout, indent=2)
print()
