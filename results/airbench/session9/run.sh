#!/bin/bash
# Issue 25, ninth session, on the validation split (45,000 / 5,000), seed 42. This checkout is new
# and the Gate 1 teacher's weights are not committed (never weights), so the teacher was trained
# again with the Gate 1 command's teacher settings (the first command below, 2026-12-07 09:29-10:08
# UTC; its log is teacher/run.log here). This machine is not the AMD EPYC of the earlier sessions
# but an Intel Xeon (avx512_bf16, avx512_fp16, no AMX), where the teacher's forward is slower than
# there (730 images/s for a distillation epoch in float32, which --teacher-precision auto chose,
# and 674 in bfloat16, probe-teacher-bf16.log, against about 1,400 there): 100 epochs of the
# distilled arm would take about 105 minutes and did not fit the session, so that run was stopped
# after 2 epochs. Instead, the KD-weight ramp against the arm without it and the control, all
# three on this machine with this teacher, seed 42, at Gate 1's 30 epochs:
#   control-30-s42:          the control, cross-entropy alone (the recipe's, weight decay 5e-4);
#   distilled-30-s42:        the recipe's distilled arm (0.5·CE + 0.5·KD, T = 2);
#   distilled-ramp0.25-30-s42: the same with --soft-ramp 0.25 (KD's weight falls linearly from 0.5
#                            to 0 over the last 8 of 30 epochs while CE keeps 0.5).
# BIN is a Release build of samples/Distillation.Cifar10 at b718834 (the first command: 157088a).
BIN=${BIN:-/work/exp-bin2}
OUT=${OUT:-/work/runs/s9}
TEACHER=$OUT/teacher/teacher.weights
run() { # name, seed, flags
  local name=$1 seed=$2; shift 2
  [ -f "$OUT/$name/results.json" ] && return
  echo "=== $name start $(date -u +%FT%TZ)" >> "$OUT/progress.log"
  dotnet "$BIN/distill-cifar10.dll" --data /work/shared/datasets --threads 2 --validation 5000 --seeds "$seed" \
    --eval-every-epoch --no-charts --no-speed --output "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
  echo "=== $name end rc=$? $(date -u +%FT%TZ)" >> "$OUT/progress.log"
}
# The teacher (stopped after it, as said above):
#   dotnet $BIN/distill-cifar10.dll --data /work/shared/datasets --threads 2 --recipe airbench --epochs 100 --validation 5000 --seeds 42 \
#     --eval-every-epoch --no-charts --no-speed --output $OUT/teacher --no-control --fidelity
run control-30-s42 42 --recipe airbench --control-only
run distilled-30-s42 42 --recipe airbench --no-control --teacher "$TEACHER" --fidelity
run distilled-ramp0.25-30-s42 42 --recipe airbench --no-control --soft-ramp 0.25 --teacher "$TEACHER" --fidelity
