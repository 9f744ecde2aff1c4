#!/usr/bin/env bash
# Hostile inputs against the built sample (issue 29). Each case: a fresh copy of the tiny folder, a setup, the sample's flags.
set -u
H=/tmp/hostile
DLL=/work/wt-reliability/samples/Distillation.Cifar10/bin/Release/net10.0/distill-cifar10.dll
OUT=$H/results.tsv
: > "$OUT"
n=0
fresh() { rm -rf "$H/w"; mkdir -p "$H/w"; cp -r "$H/base" "$H/w/f"; }
run() { # name, then sample args; setup already done
  local name="$1"; shift
  n=$((n+1))
  local o="$H/w/out"
  local start=$(date +%s.%N)
  timeout 300 dotnet "$DLL" --epochs 1 --threads 1 --no-speed --no-charts --batch-size 16 --output "$o" "$@" > "$H/w/stdout" 2> "$H/w/stderr"
  local code=$?
  local secs=$(echo "$(date +%s.%N) - $start" | bc)
  local err=$(grep -a '^error:' "$H/w/stderr" | head -1)
  [ -z "$err" ] && err=$(grep -av '^\s*$' "$H/w/stderr" | tail -1)
  local warn=$(grep -a 'warn' "$H/w/stderr" -A1 | grep -av 'warn' | head -2 | tr '\n' ' ')
  local imgs=$(grep -a '^Images from\|^CIFAR-10 from' "$H/w/stdout" | head -1)
  local lines=$(grep -ac '^error:' "$H/w/stderr")
  local trace=$(grep -ac '   at ' "$H/w/stderr")
  local lock=$( [ -e "$o/distill-cifar10.lock" ] && echo "lock left" || echo "")
  printf '%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\n' "$n" "$name" "$code" "$secs" "$imgs" "$err" "$warn" "errlines=$lines traces=$trace" "$lock" >> "$OUT"
  echo "$n $name -> $code"
}
F="--data-folder $H/w/f"
C="--data /work/shared/datasets --no-download --train-limit 200 --test-limit 40"

# ---- image folders
fresh; ln -s .. "$H/w/f/cat/up"; run "folder: link cat/up -> .. (loop)" $F
fresh; ln -s .. "$H/w/f/cat/up"; ln -s "$H/w/f" "$H/w/f/dog/root"; run "folder: two loop links (cat/up -> .., dog/root -> root)" $F
fresh; ln -s ../dog "$H/w/f/cat/dogs"; run "folder: link from cat into dog" $F
fresh; mkdir -p "$H/w/ext"; cp -r "$H/base/cat" "$H/w/ext/bird"; ln -s "$H/w/ext/bird" "$H/w/f/bird"; run "folder: class folder linked to images outside the tree" $F
fresh; ln -s 0000.png "$H/w/f/cat/dup.png"; ln -s ../cat/0001.png "$H/w/f/dog/zz.png"; run "folder: file links duplicating images (same and other class)" $F
fresh; ln -s /nonexistent.png "$H/w/f/cat/dangling.png"; run "folder: dangling file link" $F
fresh; cp "$H/base/cat/0000.png" "$H/w/f/cat/$(printf 'bad\377\376.png')"; run "folder: file name not valid UTF-8" $F
fresh; mkdir "$H/w/f/$(printf '\351t\351')"; cp "$H/base/cat/"*.png "$H/w/f/$(printf '\351t\351')/"; run "folder: class folder name not valid UTF-8" $F
fresh; rm -rf "$H/w/f/dog"; run "folder: a single class" $F
fresh; mkdir "$H/w/f/empty"; run "folder: an empty class folder" $F
fresh; rm -rf "$H/w/f"/*; run "folder: no class folder" $F
fresh; run "folder: --data-folder is a file" --data-folder "$H/w/f/cat/0000.png"
fresh; run "folder: --data-folder missing" --data-folder "$H/w/missing"
fresh; head -c 100 "$H/base/cat/0001.png" > "$H/w/f/cat/0001.png"; run "folder: truncated PNG" $F
fresh; : > "$H/w/f/dog/0002.png"; run "folder: zero-byte .png" $F
fresh; echo "not an image" > "$H/w/f/dog/0003.jpg"; run "folder: text file named .jpg" $F
fresh; python3 -c "import sys; sys.path.insert(0,'$H'); import mkpng; open('$H/w/f/cat/huge.png','wb').write(mkpng.header_only(100000,100000))"; run "folder: PNG header declaring 100000x100000" $F
fresh; mkdir -p "$H/w/s"; cp -r "$H/base" "$H/w/s/train"; cp -r "$H/base" "$H/w/s/test"; mkdir -p "$H/w/s/test/owl"; cp "$H/base/cat/0000.png" "$H/w/s/test/owl/"; run "folder: test/ has a class train/ lacks" --data-folder "$H/w/s"
fresh; mkdir -p "$H/w/s"; cp -r "$H/base" "$H/w/s/train"; run "folder: only train/ (read as one class 'train')" --data-folder "$H/w/s"
fresh; d="$H/w/f/cat"; for i in $(seq 70); do d="$d/d"; done; mkdir -p "$d"; cp "$H/base/cat/0000.png" "$d/deep.png"; run "folder: an image 70 folders deep" $F
fresh; cp "$H/base/cat/0000.png" "$H/w/f/cat/$(printf 'new\nline.png')"; run "folder: file name with a newline" $F
fresh; cp "$H/base/cat/0000.png" "$H/w/f/cat/$(printf 'esc\033[31mred.png')"; run "folder: file name with a terminal escape" $F
fresh; mkdir "$H/w/f/.cache"; cp "$H/base/cat/0000.png" "$H/w/f/.cache/"; ln -s ../.cache "$H/w/f/dog/c"; run "folder: link into a hidden folder of the tree" $F

# ---- numbers and flags
fresh; run "flag: --lr 1e39" $F --lr 1e39
fresh; run "flag: --lr 1e-320 (subnormal)" $F --lr 1e-320
fresh; run "flag: --weight-decay 1e300" $F --weight-decay 1e300
fresh; run "flag: --temperature 1e300" $F --temperature 1e300
fresh; run "flag: --temperature 1e-300" $F --temperature 1e-300
fresh; run "flag: --hard-weight 1e30" $F --hard-weight 1e30
fresh; run "flag: --method kd:1e30" $F --method kd:1e30
fresh; run "flag: --threads 1000" $F --threads 1000
fresh; run "flag: --batch-size 2147483647" $F --batch-size 2147483647
fresh; run "flag: --warmup 1 with --epochs 1" $F --warmup 1
fresh; run "flag: --lr NaN" $F --lr NaN
fresh; run "flag: --lr -0" $F --lr -0
fresh; run "flag: --seed -9223372036854775808" $F --seed -9223372036854775808
fresh; run "flag: --train-limit 0" $F --train-limit 0
fresh; run "flag: --validation 2147483647" $F --validation 2147483647
fresh; run "flag: --recipe with --teacher-lr 1e39" $C --recipe strong --teacher-lr 1e39
fresh; run "flag: --epochs 2147483647 --schedule multistep --warmup 2147483647" $F --epochs 2147483647 --schedule multistep --warmup 2147483647

# ---- checkpoints and weights files
fresh; run "checkpoint: first run (for the next cases)" $F
cp -r "$H/w/out" "$H/ckpt-out"
for case in truncated zero garbage; do
  fresh; cp -r "$H/ckpt-out" "$H/w/out"; f=$(ls "$H/w/out"/checkpoints/*/*-last.checkpoint 2>/dev/null | head -1)
  case $case in
    truncated) head -c 200 "$f" > "$f.t"; mv "$f.t" "$f";;
    zero) : > "$f";;
    garbage) head -c 4096 /dev/urandom > "$f";;
  esac
  run "checkpoint: --resume with a $case checkpoint (${f#$H/w/out/})" $F --resume
done
fresh; cp -r "$H/ckpt-out" "$H/w/out"; run "checkpoint: --resume with other settings (--lr 0.01)" $F --resume --lr 0.01
fresh; f=$(ls "$H/ckpt-out"/checkpoints/*/*-last.checkpoint | head -1); run "weights: --teacher given a training checkpoint" $F --teacher "$f"
fresh; head -c 3000 /dev/urandom > "$H/w/garbage.weights"; run "weights: --teacher given random bytes" $F --teacher "$H/w/garbage.weights"
fresh; run "weights: --teacher given a folder" $F --teacher "$H/w/f"


# ---- a signal while decoding (400 images of 1024², one decoding thread)
rm -rf "$H/w"; mkdir -p "$H/w"
o="$H/w/out"
start=$(date +%s.%N)
dotnet "$DLL" --epochs 1 --threads 1 --no-speed --no-charts --output "$o" --data-folder "$H/big" > "$H/w/stdout" 2> "$H/w/stderr" &
pid=$!
for i in $(seq 600); do grep -q "Decoding" "$H/w/stdout" 2>/dev/null && break; sleep 0.1; done
sleep 1
sent=$(date +%s.%N); kill -TERM $pid; wait $pid; code=$?
after=$(echo "$(date +%s.%N) - $sent" | bc)
n=$((n+1)); lock=$( [ -e "$o/distill-cifar10.lock" ] && echo "lock left" || echo "lock released")
printf '%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\n' "$n" "signal: SIGTERM 1 s into decoding 400 images of 1024²" "$code" "$after" "" "$(grep -av '^\s*$' "$H/w/stderr" | tr '\n' ' ')" "" "" "$lock" >> "$OUT"
echo "$n signal -> $code in $after s"
echo all-done
