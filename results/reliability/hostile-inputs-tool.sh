#!/usr/bin/env bash
# Hostile inputs against the built `distill` tool (issue 29, item 7 for the tool). Each case runs the
# tool's dll with small data and records: exit code, seconds, the first error line, how many error
# lines and stack-trace lines there were, and what was left in the output folder.
#   results/reliability/hostile-inputs-tool.sh [work-folder]   (default /tmp/hostile-tool)
# Needs: dotnet build src/Distillation.Tool -c Release (the dll below), python3 (eng/make-tiny-image-folder.py).
# Writes <work>/results.tsv; results/reliability/hostile-inputs-tool.tsv is one run of it.
set -u
repo="$(cd "$(dirname "$0")/../.." && pwd)"
H="${1:-/tmp/hostile-tool}"
DLL="$repo/src/Distillation.Tool/bin/Release/net8.0/distill.dll"
[ -f "$DLL" ] || { echo "build first: dotnet build src/Distillation.Tool -c Release ($DLL)" >&2; exit 2; }
rm -rf "$H"; mkdir -p "$H"
OUT="$H/results.tsv"
printf 'n\tcase\texit\tseconds\tfirst error or last line\terror lines\tstack-trace lines\tleft in the output folder\n' > "$OUT"
n=0
distill() { timeout 300 dotnet "$DLL" "$@"; }
T="--threads 1 --batch-size 8 --quiet"

# Shared fixtures: a tiny folder (3 classes, 8 images each), a 1-epoch teacher with its ONNX file, its logits.
python3 "$repo/eng/make-tiny-image-folder.py" "$H/tiny" --per-class 8 --size 32 > /dev/null
distill teacher --images "$H/tiny" --epochs 1 $T --output "$H/teacher" --export "$H/teacher.onnx" > "$H/setup.log" 2>&1 || { echo "setup failed"; cat "$H/setup.log"; exit 1; }
distill logits --images "$H/tiny" --teacher-onnx "$H/teacher.onnx" $T --output "$H/logits.safetensors" >> "$H/setup.log" 2>&1 || { echo "logits setup failed"; cat "$H/setup.log"; exit 1; }
distill logits --images "$H/tiny" --teacher-onnx "$H/teacher.onnx" $T --shard 0/2 --output "$H/shards" >> "$H/setup.log" 2>&1
distill logits --images "$H/tiny" --teacher-onnx "$H/teacher.onnx" $T --shard 1/2 --output "$H/shards" >> "$H/setup.log" 2>&1

run() { # name, output folder to inspect, then the tool's arguments
  local name="$1" out="$2"; shift 2
  n=$((n+1))
  local start; start=$(date +%s.%N)
  distill "$@" > "$H/stdout" 2> "$H/stderr"
  local code=$?
  record "$name" "$out" "$code" "$start"
}
record() {
  local name="$1" out="$2" code="$3" start="$4"
  local secs; secs=$(echo "$(date +%s.%N) - $start" | bc)
  local err; err=$(grep -a '^error:' "$H/stderr" | head -1)
  [ -z "$err" ] && err=$(grep -av '^\s*$' "$H/stderr" | tail -1)
  [ -z "$err" ] && err="(stdout) $(grep -av '^\s*$' "$H/stdout" | tail -1)"
  local lines traces left
  lines=$(grep -ac '^error:' "$H/stderr")
  traces=$(grep -ac '   at ' "$H/stderr")
  left=$( [ -d "$out" ] && (cd "$out" && find . -type f | sort | tr '\n' ' ') || echo "-")
  printf '%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n' "$n" "$name" "$code" "$secs" "$(echo "$err" | cut -c1-400)" "$lines" "$traces" "$left" >> "$OUT"
  echo "$n $name -> $code"
}
W="$H/w"; mkdir -p "$W"

# ---- run files (--config)
printf 'epochs: 1\n  lr: [0.1\n' > "$W/bad.yaml";            run "config: not valid YAML" "$W/o1" teacher --images "$H/tiny" --config "$W/bad.yaml" --output "$W/o1"
printf 'epochs: 1\nlearning-rate: 0.1\n' > "$W/unk.yaml";   run "config: unknown key (learning-rate)" "$W/o2" teacher --images "$H/tiny" --config "$W/unk.yaml" --output "$W/o2"
printf 'epochs: many\n' > "$W/type.yaml";                   run "config: epochs: many (wrong type)" "$W/o3" teacher --images "$H/tiny" --config "$W/type.yaml" --output "$W/o3"
printf 'epochs: [1, 2]\n' > "$W/list.yaml";                 run "config: a list as a value" "$W/o4" teacher --images "$H/tiny" --config "$W/list.yaml" --output "$W/o4"
printf -- '- epochs\n- 1\n' > "$W/seq.yaml";                 run "config: a list, not a mapping" "$W/o5" teacher --images "$H/tiny" --config "$W/seq.yaml" --output "$W/o5"
run "config: file missing" "$W/o6" teacher --images "$H/tiny" --config "$W/none.yaml" --output "$W/o6"
run "config: a folder" "$W/o7" teacher --images "$H/tiny" --config "$W" --output "$W/o7"
head -c 3000 /dev/urandom > "$W/garbage.yaml";             run "config: 3,000 random bytes" "$W/o8" teacher --images "$H/tiny" --config "$W/garbage.yaml" --output "$W/o8"
printf 'epochs: 99999999999\n' > "$W/big.yaml";             run "config: epochs beyond int" "$W/o9" teacher --images "$H/tiny" --config "$W/big.yaml" --output "$W/o9"
printf 'epochs: 1\nepochs: 2\n' > "$W/dup.yaml";            run "config: a key given twice" "$W/o10" teacher --images "$H/tiny" --config "$W/dup.yaml" --output "$W/o10"

# ---- numbers at the edge
run "flag: --lr 1e39" "$W/o11" teacher --images "$H/tiny" --epochs 1 $T --lr 1e39 --output "$W/o11"
run "flag: --lr NaN" "$W/o12" teacher --images "$H/tiny" --epochs 1 $T --lr NaN --output "$W/o12"
run "flag: --weight-decay 1e300" "$W/o13" teacher --images "$H/tiny" --epochs 1 $T --weight-decay 1e300 --output "$W/o13"
run "flag: --batch-size 2147483647" "$W/o14" teacher --images "$H/tiny" --epochs 1 --threads 1 --quiet --batch-size 2147483647 --output "$W/o14"
run "flag: --threads 1000 (2 cores)" "$W/o15" teacher --images "$H/tiny" --epochs 1 --batch-size 8 --quiet --threads 1000 --output "$W/o15"
run "flag: --image-size 100000" "$W/o16" teacher --images "$H/tiny" --epochs 1 $T --image-size 100000 --model resnet20 --output "$W/o16"
run "flag: --temperature 1e300 (student)" "$W/o17" student --images "$H/tiny" --teacher-onnx "$H/teacher.onnx" --epochs 1 $T --temperature 1e300 --output "$W/o17"
run "flag: --test-limit 0" "$W/o18" teacher --images "$H/tiny" --epochs 1 $T --test-limit 0 --output "$W/o18"

# ---- teacher files
head -c 200 "$H/logits.safetensors" > "$W/trunc.safetensors"
run "logits: truncated to 200 bytes" "$W/o19" student --images "$H/tiny" --teacher-logits "$W/trunc.safetensors" --epochs 1 $T --output "$W/o19"
python3 "$repo/eng/make-tiny-image-folder.py" "$W/other" --per-class 5 --size 32 > /dev/null
distill logits --images "$W/other" --teacher-onnx "$H/teacher.onnx" $T --output "$W/foreign.safetensors" > /dev/null 2>&1
run "logits: of another image folder (15 rows for 24)" "$W/o20" student --images "$H/tiny" --teacher-logits "$W/foreign.safetensors" --epochs 1 $T --output "$W/o20"
run "logits: the teacher's .weights given as logits" "$W/o21" student --images "$H/tiny" --teacher-logits "$H/teacher/teacher.weights" --epochs 1 $T --output "$W/o21"
mkdir -p "$W/mixed"; cp "$H/shards/"logits-shard-00000-of-00002.safetensors "$W/mixed/"
distill logits --images "$W/other" --teacher-onnx "$H/teacher.onnx" $T --shard 1/2 --output "$W/othershards" > /dev/null 2>&1
cp "$W/othershards/"logits-shard-00001-of-00002.safetensors "$W/mixed/"
run "logits merge: a shard of other data" "$W/o22" logits merge "$W/mixed" --output "$W/o22/merged.safetensors"
mkdir -p "$W/cut"; cp "$H/shards/"*.safetensors "$W/cut/"; f="$W/cut/logits-shard-00001-of-00002.safetensors"; head -c 500 "$f" > "$f.x"; mv "$f.x" "$f"
run "logits merge: a truncated shard" "$W/o23" logits merge "$W/cut" --output "$W/o23/merged.safetensors"
run "logits merge: shard 1 of 2 missing" "$W/o24" logits merge "$H/shards/$(ls "$H/shards" | head -1)" --output "$W/o24/merged.safetensors"
head -c 5000 "$H/teacher.onnx" > "$W/trunc.onnx"
run "onnx: truncated teacher" "$W/o25" student --images "$H/tiny" --teacher-onnx "$W/trunc.onnx" --epochs 1 $T --output "$W/o25"
head -c 4096 /dev/urandom > "$W/random.onnx"
run "onnx: 4 KiB of random bytes" "$W/o26" eval --images "$H/tiny" --onnx "$W/random.onnx" $T
run "onnx: a .weights file as --onnx" "$W/o27" eval --images "$H/tiny" --onnx "$H/teacher/teacher.weights" $T
run "weights: an ONNX file as --teacher-weights" "$W/o28" student --images "$H/tiny" --teacher-weights "$H/teacher.onnx" --epochs 1 $T --output "$W/o28"
run "weights: teachernet weights for resnet20" "$W/o29" eval --images "$H/tiny" --model resnet20 --weights "$H/teacher/teacher.weights" $T
run "weights: a checkpoint as --teacher-weights" "$W/o30" student --images "$H/tiny" --teacher-weights "$H/teacher/checkpoints/teacher-last.checkpoint" --epochs 1 $T --output "$W/o30"

# ---- outputs that cannot be written
mkdir -p "$W/o31/teacher.onnx"
run "output: --export names a folder" "$W/o31" teacher --images "$H/tiny" --epochs 1 $T --output "$W/o31" --export "$W/o31/teacher.onnx"
: > "$W/afile"
run "output: --output under a file" "$W/afile" teacher --images "$H/tiny" --epochs 1 $T --output "$W/afile/run"
run "output: eval --report under a file" "$W/o33" eval --images "$H/tiny" --onnx "$H/teacher.onnx" $T --report "$W/afile/report.json"
run "output: export --output names a folder" "$W/o34" export --model teachernet --weights "$H/teacher/teacher.weights" --classes 3 --output "$W"
run "output: logits --output inside the image folder" "$W/o35" logits --images "$H/tiny" --teacher-onnx "$H/teacher.onnx" $T --output "$H/tiny/logits.safetensors"

# ---- signals
sig() { # name, signal, seconds to wait, output folder, then arguments
  local name="$1" signal="$2" wait="$3" out="$4"; shift 4
  n=$((n+1))
  local start; start=$(date +%s.%N)
  dotnet "$DLL" "$@" > "$H/stdout" 2> "$H/stderr" &
  local pid=$!
  sleep "$wait"; kill "-$signal" "$pid"; local sent; sent=$(date +%s.%N)
  wait "$pid"; local code=$?
  echo "signal sent at $(echo "$sent - $start" | bc) s, exit $(echo "$(date +%s.%N) - $sent" | bc) s later" >> "$H/stderr"
  record "$name" "$out" "$code" "$start"
}
python3 "$repo/eng/make-tiny-image-folder.py" "$H/big" --per-class 400 --size 32 > /dev/null
sig "signal: SIGTERM during training" TERM 8 "$W/o36" teacher --images "$H/big" --epochs 50 --threads 1 --batch-size 16 --output "$W/o36"
# SIGINT is ignored by a background job of a non-interactive shell (as here), so the script sends SIGTERM; Ctrl-C is tested in-process (ToolAppTests).
sig "signal: SIGTERM during logits" TERM 2.5 "$W/o37" logits --images "$H/big" --teacher-onnx "$H/teacher.onnx" --threads 1 --batch-size 1 --output "$W/o37/logits.safetensors"
sig "signal: SIGTERM 7 s into a 1-epoch teacher run with --export" TERM 7 "$W/o38" teacher --images "$H/big" --epochs 1 --threads 1 --batch-size 64 --output "$W/o38" --export "$W/o38/teacher.onnx"
cp "$OUT" "$repo/results/reliability/hostile-inputs-tool.tsv"
