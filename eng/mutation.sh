#!/usr/bin/env bash
# Mutation testing of part of Distillation.Core against tests/Distillation.Core.Tests (Stryker.NET,
# pinned in .config/dotnet-tools.json). Not part of .ci/run: a run takes minutes to hours.
#
#   eng/mutation.sh <folder-or-file>...        e.g. eng/mutation.sh Losses
#                                                   eng/mutation.sh Data/ImageDataset.cs Training/RandomStreams.cs
#
# Paths are relative to src/Distillation.Core (a leading src/Distillation.Core/ is accepted).
# By default only the tests of the matching test folders run (tests mirror src), e.g. Losses ->
# FullyQualifiedName~Distillation.Tests.Losses; MUTATION_TEST_FILTER overrides that filter
# (MUTATION_TEST_FILTER=all runs every test). One mutant at a time (--concurrency 1, the machine is
# shared), coverage per test, so each mutant runs only the tests that reach it.
# Reports go to StrykerOutput/<name>/ (ignored by git); the score and the surviving and uncovered
# mutants are printed at the end and written to StrykerOutput/<name>/summary.txt.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
core="src/Distillation.Core"
tests="tests/Distillation.Core.Tests"

if [ "$#" -eq 0 ]; then
  echo "usage: eng/mutation.sh <folder-or-file under $core>... (e.g. Losses, Data/ImageDataset.cs)" >&2
  exit 2
fi

mutate=()
filters=()
names=()
for target in "$@"; do
  target="${target#"$core"/}"
  target="${target%/}"
  if [ -d "$repo_root/$core/$target" ]; then
    mutate+=("**/$target/**/*.cs")
  elif [ -f "$repo_root/$core/$target" ]; then
    mutate+=("**/$target")
  else
    echo "mutation.sh: $core/$target is neither a folder nor a file" >&2
    exit 2
  fi
  folder="${target%%/*}"
  folder="${folder%.cs}"
  filter="FullyQualifiedName~Distillation.Tests.$folder."
  case " ${filters[*]-} " in *" $filter "*) ;; *) filters+=("$filter") ;; esac
  names+=("$(basename "${target%.cs}")")
done

if [ -n "${MUTATION_TEST_FILTER-}" ]; then
  test_filter="$MUTATION_TEST_FILTER"
else
  test_filter="$(IFS='|'; echo "${filters[*]}")"
fi
[ "$test_filter" = "all" ] && test_filter=""

name="$(IFS=+; echo "${names[*]}")"
output="$repo_root/StrykerOutput/$name"
rm -rf "$output"
mkdir -p "$output"

cd "$repo_root"
dotnet tool restore >/dev/null

args=(
  --config-file "$repo_root/eng/stryker-config.json"
  --output "$output"
)
for pattern in "${mutate[@]}"; do args+=(--mutate "$pattern"); done
[ -n "$test_filter" ] && args+=(--test-case-filter "$test_filter")

echo "mutation.sh: mutating ${mutate[*]}; tests: ${test_filter:-all}; reports in $output"
cd "$repo_root/$tests"
dotnet stryker "${args[@]}"

report="$(find "$output" -name mutation-report.json | head -n 1)"
if [ -z "$report" ]; then
  echo "mutation.sh: no JSON report was written" >&2
  exit 1
fi

# The score as Stryker computes it: killed (incl. timeouts) / (killed + survived + no coverage);
# compile errors and ignored mutants do not count.
python3 - "$report" "$repo_root" <<'PY' | tee "$output/summary.txt"
import json, os, sys
report, root = sys.argv[1], sys.argv[2]
data = json.load(open(report))
totals = {}
rows = []
for path, content in sorted(data["files"].items()):
    rel = os.path.relpath(path, root)
    counts = {}
    for m in content["mutants"]:
        counts[m["status"]] = counts.get(m["status"], 0) + 1
        totals[m["status"]] = totals.get(m["status"], 0) + 1
        if m["status"] in ("Survived", "NoCoverage"):
            line = m["location"]["start"]["line"]
            rows.append(f'  {m["status"]:<10} {rel}:{line}  {m["mutatorName"]}: {m.get("replacement", "")!r}')
    detected = counts.get("Killed", 0) + counts.get("Timeout", 0)
    valid = detected + counts.get("Survived", 0) + counts.get("NoCoverage", 0)
    if valid:
        print(f"{100.0 * detected / valid:6.2f} %  {rel}  ({detected} killed, {counts.get('Survived', 0)} survived, {counts.get('NoCoverage', 0)} not covered)")
detected = totals.get("Killed", 0) + totals.get("Timeout", 0)
valid = detected + totals.get("Survived", 0) + totals.get("NoCoverage", 0)
print(f"score {100.0 * detected / max(valid, 1):.2f} %: {detected} killed, {totals.get('Survived', 0)} survived, "
      f"{totals.get('NoCoverage', 0)} not covered, {totals.get('CompileError', 0)} compile errors, {totals.get('Ignored', 0)} ignored")
if rows:
    print("surviving and uncovered mutants:")
    print("\n".join(rows))
PY
