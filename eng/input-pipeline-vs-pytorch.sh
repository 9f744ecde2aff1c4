#!/usr/bin/env bash
# The image-folder input pipeline at 224 px in this library against torchvision's in a PyTorch
# DataLoader (Debian's python3-torchvision 0.14, Pillow), on the same JPEG files, with the same
# number of decoders N = 1 and 2, glibc's malloc tuned alike, alternating ROUNDS times in one run
# (the side that goes first swaps every round).
#
#   bash eng/input-pipeline-vs-pytorch.sh <output folder> [ROUNDS]
#
# Each round, for N = 1 and 2:
#   .NET    the bench's streaming mode: one untimed and one timed pass of GetBatch (batch 64,
#           prefetch 2, N decode threads) with the training augmentation (random-resized crop
#           and flip) on every batch; then STEPS steps of Trainer.TrainStudent of MODEL on the
#           same streamed folder (after as many untimed), timing the wait for each batch
#           against the step: dotnet-N-ROUND.json / .log
#   PyTorch eng/pytorch-dataloader-speed.py: one untimed pass (which starts the persistent
#           workers) and one timed pass of ImageFolder + RandomResizedCrop(224),
#           RandomHorizontalFlip, ToTensor, Normalize, DataLoader batch 64, N workers:
#           pytorch-N-ROUND.json / .log
# The source folder (IMAGES CIFAR-10 training images upscaled to 320×240…500×400, JPEG q90,
# written by the bench's jpeg-folder mode) is made once at FOLDER when missing. cpu-flags.txt
# holds the CPU's model and flags. Environment: IMAGES (2560), MODEL (mobilenet_v2), STEPS (6),
# FOLDER (/tmp/distill-jpeg224-IMAGES), DATA (the folder holding cifar-10-batches-bin/).
# Training mobilenet_v2 at 224 px, batch 64, takes about 7 GiB of resident memory.
set -euo pipefail
out=${1:?usage: input-pipeline-vs-pytorch.sh <output folder> [rounds]}
rounds=${2:-3}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
images=${IMAGES:-2560}
model=${MODEL:-mobilenet_v2}
steps=${STEPS:-6}
folder=${FOLDER:-/tmp/distill-jpeg224-$images}
data=${DATA:-$repo/../shared/datasets}
mkdir -p "$out"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
dotnet build "$repo/bench/Distillation.Benchmarks" -c Release -o "$bin" > "$out/build.log" 2>&1
/usr/bin/python3 -c "import torchvision" || { echo "python3-torchvision is missing: apt-get install -y python3-torchvision" >&2; exit 1; }
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16)$' | tr '\n' ' ' > "$out/cpu-flags.txt"
grep -m1 'model name' /proc/cpuinfo >> "$out/cpu-flags.txt"
echo "nproc $(nproc); load average at start: $(cat /proc/loadavg)" >> "$out/cpu-flags.txt"
if [ ! -d "$folder" ]; then
  dotnet "$bin/distill-bench.dll" jpeg-folder --folder "$folder" --images "$images" --data "$data" \
    --output "$out/jpeg-folder.json" > "$out/jpeg-folder.log" 2>&1
fi
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824

run_dotnet() { # N ROUND
  dotnet "$bin/distill-bench.dll" streaming --folder "$folder" --image-size 224 --batch-size 64 \
    --streamed-only --augment --decode-threads "$1" --threads 2 --warmup 1 --repeats 1 \
    --model "$model" --steps "$steps" --output "$out/dotnet-$1-$2.json" > "$out/dotnet-$1-$2.log" 2>&1
}

run_pytorch() { # N ROUND
  /usr/bin/python3 "$repo/eng/pytorch-dataloader-speed.py" --folder "$folder" --workers "$1" \
    --batch-size 64 --image-size 224 --threads 2 --warmup 1 --repeats 1 > "$out/pytorch-$1-$2.log" 2>&1
  tail -n 1 "$out/pytorch-$1-$2.log" > "$out/pytorch-$1-$2.json"
}

for round in $(seq 1 "$rounds"); do
  for n in 1 2; do
    if (( round % 2 )); then run_dotnet "$n" "$round"; run_pytorch "$n" "$round"
    else run_pytorch "$n" "$round"; run_dotnet "$n" "$round"; fi
    echo "round $round, $n decoders: done"
  done
done
echo "done: $out"
