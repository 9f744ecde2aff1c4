#!/bin/bash
cd /work/main
for i in 1 2 3; do
  for v in old new; do
    echo "=== $v round $i $(date -u +%H:%M:%S)"
    nice -n -10 dotnet /work/bench-$v/distill-bench.dll throughput --threads 2 --batch-size 128 --data /work/shared/datasets --output /work/runs/tp/$v-$i.json
  done
done
echo ALLDONE
