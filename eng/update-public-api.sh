#!/usr/bin/env bash
# Brings each library's PublicAPI.Unshipped.txt in line with its code: adds the symbols the
# PublicApiAnalyzers report as undeclared (RS0016) and drops the declared ones that are gone
# (RS0017). Review the diff: every line is a promise to users.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for project in "$repo_root"/src/*/*.csproj; do
  dir="$(dirname "$project")"
  [ -f "$dir/PublicAPI.Unshipped.txt" ] || continue
  log="$(mktemp)"
  dotnet build "$project" --no-incremental -nologo >"$log" 2>&1 || true
  python3 - "$dir/PublicAPI.Unshipped.txt" "$log" <<'PY'
import re, sys
path = sys.argv[1]
log = open(sys.argv[2], encoding='utf-8').read()
name = path.split('/')[-2]
mine = lambda line: f"/{name}/" in line
added = {m.group(1) for line in log.splitlines() if mine(line) and 'RS0016' in line
         for m in [re.search(r"Symbol '(.*)' is not part of the declared public API", line)] if m}
removed = {m.group(1) for line in log.splitlines() if mine(line) and 'RS0017' in line
           for m in [re.search(r"Symbol '(.*)' is part of the declared API, but is either not public", line)] if m}
lines = [l for l in open(path, encoding='utf-8').read().splitlines()[1:] if l and l not in removed]
open(path, 'w', encoding='utf-8').write('\n'.join(['#nullable enable'] + sorted(set(lines) | added)) + '\n')
print(f"{path}: +{len(added)} -{len(removed)}")
PY
  rm -f "$log"
done
