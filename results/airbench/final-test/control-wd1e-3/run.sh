#!/bin/bash
# The re-tuned control on the test set: the airbench-60 recipe's control with weight decay 1e-3 (chosen on
# validation, ../../control-tuning/), seeds 42-44, all 50,000 training images, evaluated once on the
# 10,000 test images; paired with the distilled students of ../seed42-44/ (same seeds, batches, initialisation).
for s in 42 43 44; do
  out=/work/runs/final-control/seed$s
  if [ -f $out/results.json ]; then continue; fi
  dotnet /work/ctl-bin/distill-cifar10.dll --data /work/shared/datasets --threads 2 --recipe airbench-60 --seeds $s \
    --control-only --control-weight-decay 1e-3 --no-charts --no-speed --output $out > /work/runs/final-control/seed$s.log 2>&1
done
