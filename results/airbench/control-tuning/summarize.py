#!/usr/bin/env python3
"""The 60-epoch control re-tuned on validation (seed 42): one sample process per setting, each
`--recipe airbench-60 --validation 5000 --control-only` with its flags (run.sh). Copies each
setting's results.json and log here (<setting>/) from the run folder given (default
/work/runs/control-tuning) and writes summary.json: each setting's final and best validation
accuracy, its difference from the recipe's control of the same seed and batches (78.60 % for
seed 42 in ../gate2-60-seed42/, 78.52 % for seed 43 in ../gate2-60-seed43/), and its training time."""
import json
import shutil
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
runs = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/runs/control-tuning")
def recipe_control(seed):
    return json.loads((here.parent / f"gate2-60-seed{seed}" / "results.json").read_text())["recipe"]["runs"][0]["control"]


def best(run):
    return max(e["accuracy"] for e in run["epochs"] if e.get("accuracy") is not None)


rows = [{"setting": f"recipe (lr 0.05, wd 5e-4, no mixup), seed {seed}", "seed": seed, "validationAccuracy": recipe_control(seed)["testAccuracy"],
         "bestValidationAccuracy": best(recipe_control(seed)), "difference": 0.0, "minutes": recipe_control(seed)["trainingSeconds"] / 60,
         "files": f"../gate2-60-seed{seed}/"} for seed in (42, 43)]
for folder in sorted(p for p in runs.iterdir() if p.is_dir() and (p / "results.json").exists()):
    results = json.loads((folder / "results.json").read_text())
    assert results["recipe"]["evaluatedOn"] == "validation", f"{folder} was not evaluated on validation"
    control = results["recipe"]["runs"][0]["control"]
    seed = results["recipe"]["runs"][0]["seed"]
    settings = results["settings"]
    target = here / folder.name
    target.mkdir(exist_ok=True)
    shutil.copy(folder / "results.json", target / "results.json")
    shutil.copy(runs / f"{folder.name}.log", target / "run.log")
    rows.append({
        "setting": folder.name,
        "seed": seed,
        "controlLearningRate": settings.get("controlLearningRate") or settings["learningRate"],
        "controlWeightDecay": settings.get("controlWeightDecay") or settings["weightDecay"],
        "mixup": settings.get("mixupAlpha", 0),
        "validationAccuracy": control["testAccuracy"],
        "bestValidationAccuracy": best(control),
        "difference": control["testAccuracy"] - recipe_control(seed)["testAccuracy"],
        "minutes": control["trainingSeconds"] / 60,
        "files": f"{folder.name}/",
    })
summary = {"what": "the airbench-60 control (CE, 60 epochs) on the 5,000-image validation split, one setting changed at a time; difference: against the recipe's control of the same seed",
           "machine": "AMD EPYC, avx2 avx512f avx512_bf16 avx512_vnni, no AMX; 2 threads", "rows": rows}
(here / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
for r in rows:
    print(f"{r['setting']:40s} {100 * r['validationAccuracy']:6.2f} % (best {100 * r['bestValidationAccuracy']:.2f}) {100 * r['difference']:+.2f}  {r['minutes']:.1f} min")
