#!/usr/bin/env bash
# The distill tool as a user meets it: pack it, install it into a temporary tool path, make a tiny
# image folder, train a notebook TeacherNet for 1 epoch and export it to ONNX (the library's
# exporter), then distil a zoo student from that ONNX teacher on the folder and export the student;
# then the same at 64 px with samples/configs/onnx-teacher-images-64px.yaml.
# Prints every command and its output (results/tool/e2e.log is one run of it). Takes 3-4 minutes.
set -euo pipefail
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d /tmp/distill-e2e.XXXXXX)}"
mkdir -p "$work"
cd "$work"
run() { echo "\$ $*"; local code=0; "$@" 2>&1 || code=$?; echo "[exit $code]"; echo; [ "$code" -eq 0 ]; }

run dotnet pack "$repo_root/src/Distillation.Tool" -c Release -o ./packages -nologo -v quiet
run dotnet tool install Distillation.Tool --tool-path ./tools --add-source ./packages --prerelease
export PATH="$work/tools:$PATH"
run python3 "$repo_root/eng/make-tiny-image-folder.py" tiny --per-class 16 --size 32
run distill teacher --images tiny --model teachernet --epochs 1 --batch-size 16 --output runs/teacher --export teacher.onnx
run distill student --images tiny --teacher-onnx teacher.onnx --student resnet20 --epochs 1 --batch-size 16 --output runs/student --export student.onnx
run distill eval --images tiny --onnx student.onnx
run distill student --config runs/student/config.yaml --epochs 2 --output runs/student-2 --export student-2.onnx --quiet
# The shipped example: an ONNX teacher (here a zoo resnet20 trained one epoch at 64 px) into a zoo student at 64 px.
run python3 "$repo_root/eng/make-tiny-image-folder.py" tiny64 --per-class 16 --size 64
run distill teacher --images tiny64 --image-size 64 --model resnet20 --epochs 1 --batch-size 16 --output runs/teacher64 --export teacher64.onnx --quiet
run distill student --config "$repo_root/samples/configs/onnx-teacher-images-64px.yaml" --images tiny64 --teacher-onnx teacher64.onnx \
  --epochs 4 --batch-size 16 --output runs/photos-64/student --export runs/photos-64/student.onnx
