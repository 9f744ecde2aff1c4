#!/usr/bin/env python3
"""The 3-seed test-set final of the airbench recipe at 60 epochs: one sample process per seed
(seed42/, seed43/, seed44/ here, each the sample's results.json and run.log), joined into
summary.json: each arm's mean ± sd and the paired gain (distilled − control, same seed), with the
sample standard deviation (n − 1), as the sample computes it."""
import json
import statistics
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
seeds = []
for folder in sorted(here.glob("seed*")):
    results = json.loads((folder / "results.json").read_text())
    assert results["recipe"]["evaluatedOn"] == "test", f"{folder} was not evaluated on the test set"
    for run in results["recipe"]["runs"]:
        seeds.append({
            "seed": run["seed"],
            "control": run["control"]["testAccuracy"],
            "distilled": run["distilled"]["testAccuracy"],
            "gain": run["distilled"]["testAccuracy"] - run["control"]["testAccuracy"],
            "controlMinutes": run["control"]["trainingSeconds"] / 60,
            "distilledMinutes": run["distilled"]["trainingSeconds"] / 60,
        })

def spread(values):
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}

summary = {
    "what": "airbench recipe, 60 epochs both arms, test set (10,000 images), teacher: the Gate 1 airbench teacher (trained on the 45,000-image split)",
    "seeds": seeds,
    "control": spread([s["control"] for s in seeds]),
    "distilled": spread([s["distilled"] for s in seeds]),
    "gain": spread([s["gain"] for s in seeds]),
}
(here / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
json.dump(summary, sys.stdout, indent=2)
print()
