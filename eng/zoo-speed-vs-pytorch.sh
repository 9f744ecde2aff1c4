#!/usr/bin/env bash
# Training speed of the zoo's resnet20 and mobilenetv2 (CIFAR) in this library against Debian's
# PyTorch 1.13 with the same models (RepDistiller's code), batch 128, threads and optimizer (SGD
# 0.01, momentum 0.9), glibc's malloc tuned alike, the two alternating ROUNDS times in one run.
# Each .NET round is the bench's precision mode (5 timed rounds after a warm-up, float32 and
# bfloat16 mixed, NCHW and channels-last); each PyTorch round is eng/pytorch-training-speed.py
# (5 timed rounds after a warm-up, float32 NCHW and channels-last).
#
#   REPDISTILLER=/path/to/RepDistiller bash eng/zoo-speed-vs-pytorch.sh <output folder> [ROUNDS]
set -euo pipefail
out=${1:?usage: zoo-speed-vs-pytorch.sh <output folder> [rounds]}
rounds=${2:-3}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${REPDISTILLER:?set REPDISTILLER to a checkout of HobbitLong/RepDistiller}"
mkdir -p "$out"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
dotnet build "$repo/bench/Distillation.Benchmarks" -c Release -o "$bin" > "$out/build.log" 2>&1
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16)$' | tr '\n' ' ' > "$out/cpu-flags.txt"
grep -m1 'model name' /proc/cpuinfo >> "$out/cpu-flags.txt"
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824
for round in $(seq 1 "$rounds"); do
  /usr/bin/python3 "$repo/eng/pytorch-training-speed.py" --threads 2 --batches 8 --repeats 5 \
    --cases resnet20-fp32,resnet20-fp32-cl,mobilenetv2-fp32,mobilenetv2-fp32-cl > "$out/pytorch-$round.log" 2>&1
  tail -n 1 "$out/pytorch-$round.log" > "$out/pytorch-$round.json"
  dotnet "$bin/distill-bench.dll" precision --models resnet20,mobilenetv2 --threads 2 \
    --data "${DATA:-$repo/../shared/datasets}" --output "$out/dotnet-$round.json" > "$out/dotnet-$round.log" 2>&1
done
echo "done: $out"
