#!/bin/bash
# The 3-seed test-set final of issue 25 (60 epochs both arms, Gate 1 teacher), one process per seed.
cd /work/main
for s in 42 43 44; do
  out=/work/runs/final/seed$s
  if [ -f $out/results.json ]; then continue; fi
  echo "=== seed $s start $(date -u +%FT%TZ)" >> /work/runs/final/progress.log
  dotnet /work/final-bin/distill-cifar10.dll --data /work/shared/datasets --threads 2 --recipe airbench --seeds $s --epochs 60 \
    --teacher /work/runs/airbench-gate1/teacher.weights --fidelity --no-charts --no-speed --output $out > /work/runs/final/seed$s.log 2>&1
  echo "=== seed $s end rc=$? $(date -u +%FT%TZ)" >> /work/runs/final/progress.log
done
