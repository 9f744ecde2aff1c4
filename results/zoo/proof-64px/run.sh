#!/bin/bash
# Issue 23 item 4, second part: a zoo student distilled from an ONNX teacher on an image folder at 64 px, exported and checked in ONNX Runtime.
set -x
P=$(pgrep -f "distill-cifar10.dll.*zoo-proof" | head -1)
[ -n "$P" ] && kill -STOP $P
cd /work/runs/zoo-proof-64
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824
[ -d /tmp/cifar10-png/train ] || dotnet /work/bench-s7/distill-bench.dll png-folder --folder /tmp/cifar10-png --data /work/shared/datasets > png-folder.log 2>&1
D=/work/tool-s7/distill.dll
common="--images /tmp/cifar10-png --image-size 64 --folder-order name --train-limit 10000 --test-limit 2000 --seed 42 --threads 2 --precision bf16-mixed --augment"
time dotnet $D teacher $common --model resnet32 --epochs 8 --optimizer adamw --lr 0.002 --weight-decay 0.05 --schedule cosine --warmup 1 --output teacher --export teacher64.onnx > teacher.log 2>&1
time dotnet $D student --config /work/main/samples/configs/onnx-teacher-images-64px.yaml $common --teacher-onnx teacher64.onnx --student resnet20 --epochs 6 --output student --export student64.onnx > student.log 2>&1
[ -n "$P" ] && kill -CONT $P
echo finished
