#!/bin/bash
# Issue 25, eighth session, after run.sh: the distilled arm with mixup 0.2, the teacher labelling each
# mixed image (function matching's lever), everything else the recipe's (weight decay 5e-4), on the
# validation split, the Gate 1 teacher, for the seeds given (default 42 43). Compared with the
# distilled arm without mixup (../gate2-60-seed42/ and -seed43/) and the best control of each seed
# (../control-tuning/wd1e-3/ and wd1e-3-s43/).
BIN=${BIN:-/work/exp-bin}
OUT=${OUT:-/work/runs/s8}
for seed in "${@:-42 43}"; do
  name=distilled-mixup0.2-s$seed
  [ -f "$OUT/$name/results.json" ] && continue
  echo "=== $name start $(date -u +%FT%TZ)" >> "$OUT/progress.log"
  dotnet "$BIN/distill-cifar10.dll" --data /work/shared/datasets --threads 2 --recipe airbench-60 --validation 5000 --seeds "$seed" \
    --eval-every-epoch --no-charts --no-speed --output "$OUT/$name" \
    --no-control --mixup 0.2 --teacher /work/runs/airbench-gate1/teacher.weights --fidelity > "$OUT/$name.log" 2>&1
  echo "=== $name end rc=$? $(date -u +%FT%TZ)" >> "$OUT/progress.log"
done
