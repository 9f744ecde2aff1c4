#!/usr/bin/env bash
# Re-tuning the 60-epoch control on the validation split (seed 42; 45,000 training images, 5,000 held out).
# Each line is one control run of the airbench-60 recipe with no teacher (--control-only).
# Usage: BIN=<folder of a Release build of samples/Distillation.Cifar10> bash run.sh <config>...
set -euo pipefail
BIN=${BIN:-/work/ctl-bin}
DATA=${DATA:-/work/shared/datasets}
OUT=${OUT:-/work/runs/control-tuning}
run() { # name, then extra flags
  local name=$1; shift
  dotnet "$BIN/distill-cifar10.dll" --data "$DATA" --threads 2 --recipe airbench-60 --validation 5000 --seeds "${SEEDS:-42}" \
    --control-only --eval-every-epoch --no-charts --no-speed --output "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
}
mkdir -p "$OUT"
for config in "$@"; do
  case $config in
    lr0.1)        run lr0.1 --control-lr 0.1 ;;
    lr0.025)      run lr0.025 --control-lr 0.025 ;;
    wd1e-3)       run wd1e-3 --control-weight-decay 1e-3 ;;
    wd2.5e-4)     run wd2.5e-4 --control-weight-decay 2.5e-4 ;;
    wd2e-3)       run wd2e-3 --control-weight-decay 2e-3 ;;
    wd1e-3-s43)   SEEDS=43 run wd1e-3-s43 --control-weight-decay 1e-3 ;;
    wd1e-3-mixup0.2) run wd1e-3-mixup0.2 --control-weight-decay 1e-3 --mixup 0.2 ;;
    mixup0.2)     run mixup0.2 --mixup 0.2 ;;
    lr0.1-wd1e-3) run lr0.1-wd1e-3 --control-lr 0.1 --control-weight-decay 1e-3 ;;
    lr0.1-wd2.5e-4) run lr0.1-wd2.5e-4 --control-lr 0.1 --control-weight-decay 2.5e-4 ;;
    base)         run base ;;
    *) echo "unknown config $config" >&2; exit 2 ;;
  esac
done
