#!/bin/bash
# The distilled arm of the airbench-60 recipe with the re-tuned control's weight decay (1e-3 instead of
# 5e-4), on the validation split, seed 42, the Gate 1 teacher; compared with the control at 1e-3 of the
# same seed (../control-tuning/wd1e-3/) and the distilled arm at 5e-4 (../gate2-60-seed42/).
dotnet /work/ctl-bin/distill-cifar10.dll --data /work/shared/datasets --threads 2 --recipe airbench-60 --validation 5000 --seeds 42 \
  --no-control --weight-decay 1e-3 --teacher /work/runs/airbench-gate1/teacher.weights --eval-every-epoch --fidelity --no-charts --no-speed \
  --output /work/runs/gate2-wd/seed42 > /work/runs/gate2-wd/seed42.log 2>&1
