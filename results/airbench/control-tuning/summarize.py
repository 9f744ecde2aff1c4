#!/usr/bin/env python3
"""The 60-epoch control re-tuned on validation (seed 42): one sample process per setting, each
`--recipe airbench-60 --validation 5000 --control-only` with its flags (run.sh). Copies each
setting's results.json and log here (<setting>/) from the run folder given (default
/work/runs/control-tuning) and writes summary.json: each setting's final and best validation
accuracy, its difference from the recipe's control (78.60 %, the same seed and batches in
../gate2-60-seed42/), and its training time."""
import json
import shutil
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
runs = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/runs/control-tuning")
recipe_control = json.loads((here.parent / "gate2-60-seed42" / "results.json").read_text())["recipe"]["runs"][0]["control"]
rows = [{"setting": "recipe (lr 0.05, wd 5e-4, no mixup)", "validationAccuracy": recipe_control["testAccuracy"],
         "bestValidationAccuracy": max(e["accuracy"] for e in recipe_control["epochs"] if e.get("accuracy") is not None),
         "difference": 0.0, "minutes": recipe_control["trainingSeconds"] / 60, "files": "../gate2-60-seed42/"}]
for folder in sorted(p for p in runs.iterdir() if p.is_dir() and (p / "results.json").exists()):
    results = json.loads((folder / "results.json").read_text())
    assert results["recipe"]["evaluatedOn"] == "validation", f"{folder} was not evaluated on validation"
    control = results["recipe"]["runs"][0]["control"]
    settings = results["settings"]
    target = here / folder.name
    target.mkdir(exist_ok=True)
    shutil.copy(folder / "results.json", target / "results.json")
    shutil.copy(runs / f"{folder.name}.log", target / "run.log")
    rows.append({
        "setting": folder.name,
        "controlLearningRate": settings.get("controlLearningRate") or settings["learningRate"],
        "controlWeightDecay": settings.get("controlWeightDecay") or settings["weightDecay"],
        "mixup": settings.get("mixupAlpha", 0),
        "validationAccuracy": control["testAccuracy"],
        "bestValidationAccuracy": max(e["accuracy"] for e in control["epochs"] if e.get("accuracy") is not None),
        "difference": control["testAccuracy"] - recipe_control["testAccuracy"],
        "minutes": control["trainingSeconds"] / 60,
        "files": f"{folder.name}/",
    })
summary = {"what": "the airbench-60 control (CE, 60 epochs) on the 5,000-image validation split, seed 42, one setting changed at a time",
           "machine": "AMD EPYC, avx2 avx512f avx512_bf16 avx512_vnni, no AMX; 2 threads", "rows": rows}
(here / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
for r in rows:
    print(f"{r['setting']:40s} {100 * r['validationAccuracy']:6.2f} % (best {100 * r['bestValidationAccuracy']:.2f}) {100 * r['difference']:+.2f}  {r['minutes']:.1f} min")
