#!/usr/bin/env python3
"""Per round and decoder count N: the library's streamed, augmented pass (crop while decoding, and
the same pass cropping on the reading thread) against the PyTorch DataLoader with N workers, the
ratio in each round, the median ratio, and the data wait of a mobilenet_v2 step. Reads the JSON
files eng/input-pipeline-vs-pytorch.sh wrote beside this script; writes summary.json."""
import json, pathlib, statistics

here = pathlib.Path(__file__).resolve().parent
rows = []
for n in (1, 2):
    rounds = []
    for r in range(1, 10):
        dotnet, pytorch = here / f"dotnet-{n}-{r}.json", here / f"pytorch-{n}-{r}.json"
        if not (dotnet.exists() and pytorch.exists()):
            continue
        d = json.loads(dotnet.read_text())
        cases = {c["name"]: c["stats"]["median"] for c in d["cases"]}
        decoding = next(v for k, v in cases.items() if k.endswith("(while decoding)"))
        reading = next(v for k, v in cases.items() if k.endswith("(on the reading thread)"))
        step = next(v for k, v in cases.items() if k.endswith(": step"))
        wait = next(v for k, v in cases.items() if k.endswith(": waiting for data"))
        torch = json.loads(pytorch.read_text())["median_images_per_second"]
        rounds.append({"round": r, "cropWhileDecoding": decoding, "cropOnReadingThread": reading, "pytorch": torch,
                       "ratio": decoding / torch, "ratioBefore": reading / torch,
                       "stepMs": step, "waitMs": wait, "waitShare": wait / step})
    if rounds:
        rows.append({"decoders": n, "rounds": rounds,
                     "medianRatio": statistics.median(r["ratio"] for r in rounds),
                     "medianRatioCropOnReadingThread": statistics.median(r["ratioBefore"] for r in rounds),
                     "medianWaitShare": statistics.median(r["waitShare"] for r in rounds)})
summary = {"what": "images/s at 224 px, batch 64: StreamingImageFolder + random-resized crop and flip against torchvision ImageFolder + RandomResizedCrop, RandomHorizontalFlip, ToTensor, Normalize in a DataLoader with the same number of workers, alternating",
           "cpu": (here / "cpu-flags.txt").read_text().strip(), "rows": rows}
(here / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
for row in rows:
    print(f"N={row['decoders']}: ratio median {row['medianRatio']:.2f} (crop on the reading thread {row['medianRatioCropOnReadingThread']:.2f}), "
          f"wait share {row['medianWaitShare']:.1%}; rounds " + ", ".join(f"{r['cropWhileDecoding']:.0f}/{r['pytorch']:.0f}" for r in row["rounds"]))
