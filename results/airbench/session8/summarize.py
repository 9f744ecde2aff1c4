#!/usr/bin/env python3
"""Issue 25, eighth session: the last two levers of the 60-epoch protocol on the validation split
(45,000 / 5,000), seeds 42 and 43, the Gate 1 teacher. Copies each run's results.json and log
(from the run folder given, default /work/runs/s8; see run.sh) into <run>/ here and writes
summary.json:
  - the control with mixup 0.2 at its re-tuned decay (1e-3), against the same control without
    mixup (../control-tuning/wd1e-3 and wd1e-3-s43);
  - the distilled arm at weight decay 2.5e-4, against the recipe's 5e-4 (../gate2-60-seed42 and
    -seed43) and 1e-3 (../gate2-60-wd1e-3-seed42, seed 42 only);
  - the distilled arm with mixup 0.2 (run-mixup.sh), the teacher labelling the mixed images;
  - each distilled setting's paired gain over the best control: the control at 1e-3 with mixup or
    without, whichever has the better mean over the seeds (one setting for all seeds)."""
import json
import shutil
import statistics
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
airbench = here.parent
runs = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/runs/s8")


def recipe_run(path):
    results = json.loads(path.read_text())
    assert results["recipe"]["evaluatedOn"] == "validation", f"{path} was not evaluated on validation"
    return results, results["recipe"]["runs"][0]


def accuracy(path, arm):
    return recipe_run(path)[1][arm]["testAccuracy"]


controls = {  # the control of each seed at weight decay 1e-3, no mixup (the re-tuned one)
    42: accuracy(airbench / "control-tuning/wd1e-3/results.json", "control"),
    43: accuracy(airbench / "control-tuning/wd1e-3-s43/results.json", "control"),
}
distilled_5e4 = {
    42: accuracy(airbench / "gate2-60-seed42/results.json", "distilled"),
    43: accuracy(airbench / "gate2-60-seed43/results.json", "distilled"),
}
distilled_1e3 = {42: accuracy(airbench / "gate2-60-wd1e-3-seed42/results.json", "distilled")}

new = {}
for folder in sorted(p for p in runs.iterdir() if p.is_dir() and (p / "results.json").exists()):
    results, run = recipe_run(folder / "results.json")
    target = here / folder.name
    target.mkdir(exist_ok=True)
    shutil.copy(folder / "results.json", target / "results.json")
    shutil.copy(runs / f"{folder.name}.log", target / "run.log")
    arm = "distilled" if run.get("distilled") else "control"
    new[folder.name] = {"seed": run["seed"], "arm": arm, "accuracy": run[arm]["testAccuracy"],
                        "weightDecay": results["settings"]["weightDecay"], "controlWeightDecay": results["settings"].get("controlWeightDecay"),
                        "mixup": results["settings"].get("mixupAlpha", 0), "minutes": run[arm]["trainingSeconds"] / 60,
                        "files": f"{folder.name}/"}

rows = []
mixup_controls = {}
for name, row in new.items():
    seed = row["seed"]
    if row["arm"] == "control":
        row["againstControlWithoutMixup"] = row["accuracy"] - controls[seed]
        mixup_controls[seed] = row["accuracy"]
    rows.append({"run": name, **row})
# One control setting for every seed, the better on the mean over the seeds both ran (choosing per
# seed would take the larger of two noisy values, an optimistic control).
both = sorted(set(mixup_controls) & set(controls))
mixup_better = set(mixup_controls) >= set(controls) and sum(mixup_controls[s] for s in both) > sum(controls[s] for s in both)
best_control = dict(mixup_controls) if mixup_better else dict(controls)
best_control_setting = "weight decay 1e-3, mixup 0.2" if mixup_better else "weight decay 1e-3, no mixup"
for row in rows:
    seed = row["seed"]
    if row["arm"] == "distilled":
        row["againstDistilledAt5e-4"] = row["accuracy"] - distilled_5e4[seed]
        row["gainOverBestControl"] = row["accuracy"] - best_control[seed]


def paired(values):
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else None, "perSeed": values}


seeds = sorted(best_control)
summary = {
    "what": "airbench-60 on the validation split (45,000 / 5,000), Gate 1 teacher; accuracies are the last epoch's",
    "machine": "AMD EPYC, avx2 avx512f avx512_bf16 avx512_vnni, no AMX; 2 threads; minutes include pauses while other jobs had the machine",
    "bestControlSetting": best_control_setting,
    "bestControl": {str(s): best_control[s] for s in seeds},
    "mixupForTheControl": paired([mixup_controls[s] - controls[s] for s in both]) if both else None,
    "baselines": {"controlWd1e-3": {str(s): controls[s] for s in seeds}, "distilledWd5e-4": {str(s): distilled_5e4[s] for s in seeds},
                  "distilledWd1e-3": {str(s): v for s, v in distilled_1e3.items()}},
    "gainOfDistilledWd5e-4": paired([distilled_5e4[s] - best_control[s] for s in seeds]),
    "rows": rows,
}
# Each new distilled setting, over the seeds it ran: its gain over the best control, and its
# difference from the distilled arm without the change, paired by seed.
settings = {}
for r in rows:
    if r["arm"] == "distilled":
        settings.setdefault(f"weight decay {r['weightDecay']:g}, mixup {r['mixup']:g}", []).append(r)
summary["distilledSettings"] = {
    name: {"seeds": [r["seed"] for r in sorted(group, key=lambda r: r["seed"])],
           "gainOverBestControl": paired([r["gainOverBestControl"] for r in sorted(group, key=lambda r: r["seed"])]),
           "againstDistilledAt5e-4WithoutMixup": paired([r["againstDistilledAt5e-4"] for r in sorted(group, key=lambda r: r["seed"])])}
    for name, group in settings.items()}
(here / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))
for r in rows:
    print(r)
