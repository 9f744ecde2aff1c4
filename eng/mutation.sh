#!/usr/bin/env bash
# Mutation testing of part of a library against its own test project (Stryker.NET, pinned in
# .config/dotnet-tools.json). Not part of .ci/run: a run takes minutes to hours.
#
#   eng/mutation.sh <folder-or-file>...        e.g. eng/mutation.sh Losses
#                                                   eng/mutation.sh Data/ImageDataset.cs Training/RandomStreams.cs
#   eng/mutation.sh --project <Name> <folder-or-file>...
#                                              e.g. eng/mutation.sh --project Onnx OnnxExporter.cs
#
# Without --project the library is src/Distillation.Core, tested by tests/Distillation.Core.Tests;
# --project Onnx (or Models, Onnx.Runtime, Onnx.Quantization, ...) mutates src/Distillation.<Name>
# against tests/Distillation.<Name>.Tests. Paths are relative to the library's folder (a leading
# src/Distillation.<Name>/ is accepted).
# By default only the tests of the matching test folders run (tests mirror src), e.g. Losses ->
# FullyQualifiedName~Distillation.Tests.Losses (Core) or, for a file at another library's root,
# OnnxExporter.cs -> FullyQualifiedName~Distillation.Onnx.Tests.OnnxExporter (OnnxExporterTests: its test
# classes are named after it; a folder -> its namespace). MUTATION_TEST_FILTER overrides that
# filter (MUTATION_TEST_FILTER=all runs every test of the test project). One mutant at a time
# (--concurrency 1, the machine is shared), coverage per test, so each mutant runs only the tests
# that reach it.
# Reports go to StrykerOutput/<name>/ (ignored by git); the score and the surviving and uncovered
# mutants are printed at the end and written to StrykerOutput/<name>/summary.txt.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="Core"
if [ "${1-}" = "--project" ]; then
  if [ "$#" -lt 2 ]; then
    echo "mutation.sh: --project needs a library name (Core, Onnx, Models, ...)" >&2
    exit 2
  fi
  project="${2#Distillation.}"
  shift 2
fi
core="src/Distillation.$project"
tests="tests/Distillation.$project.Tests"
if [ ! -f "$repo_root/$core/Distillation.$project.csproj" ] || [ ! -f "$repo_root/$tests/Distillation.$project.Tests.csproj" ]; then
  echo "mutation.sh: --project $project needs $core/Distillation.$project.csproj and $tests/Distillation.$project.Tests.csproj" >&2
  exit 2
fi
# The test namespace: Core's tests are Distillation.Tests.*, the others' Distillation.<Name>.Tests.*.
if [ "$project" = "Core" ]; then test_namespace="Distillation.Tests"; else test_namespace="Distillation.$project.Tests"; fi

if [ "$#" -eq 0 ]; then
  echo "usage: eng/mutation.sh [--project <Name>] <folder-or-file under $core>... (e.g. Losses, Data/ImageDataset.cs)" >&2
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
  if [ "$project" != "Core" ] && [ "${folder%.cs}" != "$folder" ]; then
    # A file at the library's root: its test classes are named after it (OnnxExporter.cs -> OnnxExporterTests).
    filter="FullyQualifiedName~$test_namespace.${folder%.cs}"
  else
    filter="FullyQualifiedName~$test_namespace.${folder%.cs}."
  fi
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
[ "$project" = "Core" ] || name="$project-$name"
output="$repo_root/StrykerOutput/$name"
rm -rf "$output"
mkdir -p "$output"

cd "$repo_root"
dotnet tool restore >/dev/null

# The shared settings with this project and its test project.
config="$output/stryker-config.json"
python3 - "$repo_root/eng/stryker-config.json" "$config" "$project" <<'PY'
import json, sys
source, target, project = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.load(open(source))
data["stryker-config"]["project"] = f"Distillation.{project}.csproj"
data["stryker-config"]["test-projects"] = [f"Distillation.{project}.Tests.csproj"]
json.dump(data, open(target, "w"), indent=2)
PY

args=(
  --config-file "$config"
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
