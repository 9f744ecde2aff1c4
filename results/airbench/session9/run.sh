#!/bin/bash
# Issue 25, ninth session: 100 epochs for both arms (the protocol's "60 and 100 epochs"), on the
# validation split (45,000 / 5,000). This checkout is new and the Gate 1 teacher's weights are not
# committed (never weights), so the first run trains the teacher again with the Gate 1 command's
# teacher settings (--recipe airbench, seed 42) and compares it with results/airbench/gate1/run.log,
# then distils seed 42 for 100 epochs from it; the control follows at its re-tuned decay (1e-3).
# BIN is a Release build of samples/Distillation.Cifar10 (main at 157088a).
BIN=${BIN:-/work/exp-bin}
OUT=${OUT:-/work/runs/s9}
run() { # name, seed, flags
  local name=$1 seed=$2; shift 2
  [ -f "$OUT/$name/results.json" ] && return
  echo "=== $name start $(date -u +%FT%TZ)" >> "$OUT/progress.log"
  dotnet "$BIN/distill-cifar10.dll" --data /work/shared/datasets --threads 2 --recipe airbench --epochs 100 --validation 5000 --seeds "$seed" \
    --eval-every-epoch --no-charts --no-speed --output "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
  echo "=== $name end rc=$? $(date -u +%FT%TZ)" >> "$OUT/progress.log"
}
TEACHER=$OUT/distilled-100-s42/teacher.weights
run distilled-100-s42 42 --no-control --fidelity
run control-100-s42 42 --control-only --control-weight-decay 1e-3
