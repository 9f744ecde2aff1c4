#!/usr/bin/env bash
# Builds the API reference site with docfx (a local tool, .config/dotnet-tools.json): the XML docs of
# the five packable libraries plus README.md and docs/*.md, into docfx/_site. Fails on any warning
# (a cref or link docfx cannot resolve, a page missing from the build), so CI keeps the site whole.
#
#   eng/build-api-site.sh           build (docfx/api and docfx/_site are generated, git-ignored)
#   eng/build-api-site.sh --serve   build, then serve the site at http://localhost:8080
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

serve=0
case "${1:-}" in
  "") ;;
  --serve) serve=1 ;;
  *) echo "build-api-site: unknown argument '$1': use --serve, or nothing." >&2; exit 2 ;;
esac

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet tool restore >/dev/null
# docfx reads the projects through MSBuild, which needs their restore (a no-op after a build).
for project in Core Datasets Models Onnx Onnx.Runtime Onnx.Quantization; do
  dotnet restore "src/Distillation.$project/Distillation.$project.csproj" -v quiet -p:DistillationSkipNativeCheck=true >/dev/null
done

rm -rf docfx/api docfx/_site
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
dotnet docfx docfx/docfx.json --warningsAsErrors 2>&1 | tee "$log" || status=$?
# docfx ends with "N warning(s)" and "N error(s)"; any warning fails the build even where
# --warningsAsErrors did not turn it into an error.
if [ "$status" -ne 0 ] || grep -Eq '(^|[^0-9])[1-9][0-9]* warning\(s\)' "$log" || ! grep -q '0 error(s)' "$log"; then
  echo "build-api-site: docfx reported warnings or errors (above)." >&2
  exit 1
fi
echo "build-api-site: docfx/_site/index.html"

if [ "$serve" = 1 ]; then
  dotnet docfx serve docfx/_site
fi
