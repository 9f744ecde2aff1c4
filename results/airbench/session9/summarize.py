#!/usr/bin/env python3
"""Issue 25, ninth session (see run.sh): on the validation split (45,000 / 5,000), seed 42, an Intel
Xeon (not the AMD EPYC of the earlier sessions), a teacher trained again with Gate 1's settings.
Copies each run's results.json and log (from the run folder given, default /work/runs/s9) into
<run>/ here, the teacher's log into teacher/run.log, and writes summary.json:
  - the teacher against the Gate 1 teacher (its figures from its log: its run was stopped before
    results.json was written);
  - at Gate 1's 30 epochs, the recipe's distilled arm and the same with the KD-weight ramp
    (--soft-ramp 0.25), each against the control of the same seed, initialisation and batches, and
    the ramp against the arm without it, all three on this machine with this teacher;
  - the same seed's Gate 1 pair (AMD EPYC, the Gate 1 teacher) beside them."""
import json
import re
import shutil
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
airbench = here.parent
runs = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/runs/s9")


def last_fidelity(log):
    """The last epoch line's agreement and KL (the log has them; results.json does not)."""
    found = re.findall(r"agreement ([0-9.]+) %, KL ([0-9.]+) \(teacher ([0-9.]+) %\)", log.read_text())
    return {"agreement": float(found[-1][0]) / 100, "kl": float(found[-1][1]), "teacher": float(found[-1][2]) / 100} if found else None


def copy_run(name):
    source = runs / name
    results = json.loads((source / "results.json").read_text())
    assert results["recipe"]["evaluatedOn"] == "validation", f"{name} was not evaluated on validation"
    target = here / name
    target.mkdir(exist_ok=True)
    shutil.copy(source / "results.json", target / "results.json")
    shutil.copy(runs / f"{name}.log", target / "run.log")
    run = results["recipe"]["runs"][0]
    which = "distilled" if run.get("distilled") else "control"
    arm = run[which]
    return {"arm": which, "seed": run["seed"], "accuracy": arm["testAccuracy"], "epochs": len(arm["epochs"]),
            "minutes": round(arm["trainingSeconds"] / 60, 1), "softRamp": results["settings"].get("softRamp", 0),
            "imagesPerSecondMedian": sorted(e["imagesPerSecond"] for e in arm["epochs"])[len(arm["epochs"]) // 2],
            "fidelity": last_fidelity(target / "run.log") if which == "distilled" else None, "files": f"{name}/"}


# Two short probes, kept for the figures the docs quote: the distilled arm with the teacher forced to
# bfloat16 (stopped after 2 epochs), and the teacher's training on a 4,000-image slice, 1 thread,
# for its resident memory per epoch (stopped after 7 of 10 epochs).
for probe in ("probe-teacher-bf16.log", "memprobe.log"):
    if (runs / probe).exists():
        shutil.copy(runs / probe, here / probe)
(here / "teacher").mkdir(exist_ok=True)
shutil.copy(runs / "teacher.log", here / "teacher" / "run.log")
teacher_log = (here / "teacher" / "run.log").read_text()
teacher_epochs = re.findall(r"Epoch (\d+)/12, Loss: ([0-9.]+), ([0-9,]+) images/s, ([^,]+), validation accuracy ([0-9.]+) %, RSS ([0-9,]+) MiB", teacher_log)
final = re.search(r"Teacher validation accuracy: ([0-9.]+) % \(best validation accuracy ([0-9.]+) %", teacher_log)
gate1 = json.loads((airbench / "gate1/results.json").read_text())
summary = {
    "what": "airbench recipe, validation split (45,000 / 5,000), seed 42, 30 epochs; accuracies are the last epoch's",
    "machine": "Intel Xeon with avx512f avx512_bf16 avx512_fp16 avx512_vnni, no AMX; 2 cores, 2 threads (the earlier sessions: AMD EPYC, avx512_bf16)",
    "teacher": {
        "validationAccuracy": float(final.group(1)) / 100, "lastEpochWithFlipTta": float(final.group(2)) / 100,
        "epochs": [{"epoch": int(e), "loss": float(l), "imagesPerSecond": int(s.replace(",", "")), "time": t, "validationAccuracyWithFlipTta": float(a) / 100,
                    "rssMiB": int(r.replace(",", ""))} for e, l, s, t, a, r in teacher_epochs],
        "gate1Teacher": {"validationAccuracy": gate1["runs"][0]["testAccuracy"], "machine": "AMD EPYC", "files": "../gate1/run.log"},
    },
}
rows = {name: copy_run(name) for name in ("control-30-s42", "distilled-30-s42", "distilled-ramp0.25-30-s42") if (runs / name / "results.json").exists()}
summary["runs"] = rows
control = rows.get("control-30-s42")
if control:
    for name, row in rows.items():
        if row["arm"] == "distilled":
            row["gainOverControl"] = row["accuracy"] - control["accuracy"]
if "distilled-30-s42" in rows and "distilled-ramp0.25-30-s42" in rows:
    summary["rampAgainstNoRamp"] = rows["distilled-ramp0.25-30-s42"]["accuracy"] - rows["distilled-30-s42"]["accuracy"]
gate1_seed42 = gate1["recipe"]["runs"][0]
summary["gate1Seed42"] = {"control": gate1_seed42["control"]["testAccuracy"], "distilled": gate1_seed42["distilled"]["testAccuracy"],
                          "gain": gate1_seed42["distilled"]["testAccuracy"] - gate1_seed42["control"]["testAccuracy"], "files": "../gate1/results.json"}
(here / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps({k: v for k, v in summary.items() if k != "teacher"}, indent=2))
print(json.dumps({k: v for k, v in summary["teacher"].items() if k != "epochs"}, indent=2))
