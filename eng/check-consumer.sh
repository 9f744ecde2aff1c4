#!/usr/bin/env bash
# Packs Distillation.Core, Distillation.Datasets, Distillation.Models, Distillation.Onnx, Distillation.Onnx.Runtime and Distillation.Onnx.Quantization, then proves another .NET project
# can use them: a copy of eng/consumer outside the repository restores the fresh packages from a local
# folder feed (plus TorchSharp-cpu from the usual NuGet source), builds, runs a forward pass and
# exports the student to ONNX (without ONNX Runtime); then builds the sample from those packages alone
# (a copy of its files, no project of the repository in reach) and runs its --help.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A unique prerelease version, so NuGet's global cache never serves an older build of the same number.
suffix="local.$(date -u +%Y%m%d%H%M%S).$$"
feed="$work/feed"

echo "check-consumer: packing into $feed (version suffix $suffix)"
dotnet pack "$repo_root/Distillation.sln" -c Release -o "$feed" --version-suffix "$suffix" -nologo -v quiet

version="$(basename "$feed"/Distillation.Core.*.snupkg .snupkg)"
version="${version#Distillation.Core.}"
for package in Distillation.Core Distillation.Datasets Distillation.Models Distillation.Onnx Distillation.Onnx.Runtime Distillation.Onnx.Quantization; do
  for extension in nupkg snupkg; do
    [ -f "$feed/$package.$version.$extension" ] || { echo "check-consumer: missing $package.$version.$extension" >&2; exit 1; }
  done
done

# Each package carries its own README (src/<package>/README.md), not the repository's.
for package in Distillation.Core Distillation.Datasets Distillation.Models Distillation.Onnx Distillation.Onnx.Runtime Distillation.Onnx.Quantization; do
  unzip -p "$feed/$package.$version.nupkg" README.md > "$work/$package.README.md"   # to a file: head would cut the pipe (pipefail)
  first_line="$(head -n 1 "$work/$package.README.md" | tr -d '\r\357\273\277')"
  [ "$first_line" = "# $package" ] || { echo "check-consumer: $package.$version.nupkg carries README.md starting '$first_line', not its own (# $package)" >&2; exit 1; }
done

# The libraries must leave the native backend to the application.
nuspec_deps="$(unzip -p "$feed/Distillation.Core.$version.nupkg" Distillation.Core.nuspec)"
grep -q 'id="TorchSharp"' <<<"$nuspec_deps" || { echo "check-consumer: Distillation.Core does not depend on TorchSharp" >&2; exit 1; }
if grep -qiE 'id="(TorchSharp-cpu|TorchSharp-cuda|libtorch)' <<<"$nuspec_deps"; then
  echo "check-consumer: Distillation.Core depends on a native backend; it must not" >&2
  exit 1
fi
# The exporter writes files; only the application that runs them needs ONNX Runtime.
onnx_nuspec="$(unzip -p "$feed/Distillation.Onnx.$version.nupkg" Distillation.Onnx.nuspec)"
grep -q 'id="OnnxSharp"' <<<"$onnx_nuspec" || { echo "check-consumer: Distillation.Onnx does not depend on OnnxSharp" >&2; exit 1; }
if grep -qiE 'id="(Microsoft\.ML\.OnnxRuntime|TorchSharp-cpu|TorchSharp-cuda|libtorch)' <<<"$onnx_nuspec"; then
  echo "check-consumer: Distillation.Onnx depends on a runtime or native backend; it must not" >&2
  exit 1
fi
# The ONNX teacher needs ONNX Runtime's managed API; the native build (CPU or GPU) is the application's choice.
ort_nuspec="$(unzip -p "$feed/Distillation.Onnx.Runtime.$version.nupkg" Distillation.Onnx.Runtime.nuspec)"
grep -q 'id="Microsoft.ML.OnnxRuntime.Managed"' <<<"$ort_nuspec" || { echo "check-consumer: Distillation.Onnx.Runtime does not depend on Microsoft.ML.OnnxRuntime.Managed" >&2; exit 1; }
grep -q 'id="Distillation.Core"' <<<"$ort_nuspec" || { echo "check-consumer: Distillation.Onnx.Runtime does not depend on Distillation.Core" >&2; exit 1; }
if grep -qiE 'id="(Microsoft\.ML\.OnnxRuntime|Microsoft\.ML\.OnnxRuntime\.Gpu[^"]*|TorchSharp-cpu|TorchSharp-cuda[^"]*|libtorch[^"]*)"' <<<"$ort_nuspec"; then
  echo "check-consumer: Distillation.Onnx.Runtime depends on a native runtime or backend; it must not" >&2
  exit 1
fi
unzip -l "$feed/Distillation.Onnx.Runtime.$version.nupkg" | grep " lib/net8.0/Distillation.Onnx.Runtime.xml\$" >/dev/null || { echo "check-consumer: lib/net8.0/Distillation.Onnx.Runtime.xml missing from Distillation.Onnx.Runtime" >&2; exit 1; }
# The quantizer calibrates through ONNX Runtime's managed API; the native build stays the application's choice.
quant_nuspec="$(unzip -p "$feed/Distillation.Onnx.Quantization.$version.nupkg" Distillation.Onnx.Quantization.nuspec)"
grep -q 'id="Microsoft.ML.OnnxRuntime.Managed"' <<<"$quant_nuspec" || { echo "check-consumer: Distillation.Onnx.Quantization does not depend on Microsoft.ML.OnnxRuntime.Managed" >&2; exit 1; }
grep -q 'id="Distillation.Onnx"' <<<"$quant_nuspec" || { echo "check-consumer: Distillation.Onnx.Quantization does not depend on Distillation.Onnx" >&2; exit 1; }
if grep -qiE 'id="(Microsoft\.ML\.OnnxRuntime|Microsoft\.ML\.OnnxRuntime\.Gpu[^"]*|TorchSharp-cpu|TorchSharp-cuda[^"]*|libtorch[^"]*)"' <<<"$quant_nuspec"; then
  echo "check-consumer: Distillation.Onnx.Quantization depends on a native runtime or backend; it must not" >&2
  exit 1
fi
onnx_listing="$(unzip -l "$feed/Distillation.Onnx.$version.nupkg")"
grep -q " lib/net8.0/Distillation.Onnx.xml\$" <<<"$onnx_listing" || { echo "check-consumer: lib/net8.0/Distillation.Onnx.xml missing from Distillation.Onnx:" >&2; echo "$onnx_listing" >&2; exit 1; }
# Image decoding lives in Distillation.Datasets, on the managed SkiaSharp only: Core does not decode
# images, and the native assets are the application's choice.
if grep -qi 'id="SkiaSharp' <<<"$nuspec_deps"; then
  echo "check-consumer: Distillation.Core depends on SkiaSharp; image decoding belongs to Distillation.Datasets" >&2
  exit 1
fi
datasets_nuspec="$(unzip -p "$feed/Distillation.Datasets.$version.nupkg" Distillation.Datasets.nuspec)"
grep -q 'id="SkiaSharp"' <<<"$datasets_nuspec" || { echo "check-consumer: Distillation.Datasets does not depend on SkiaSharp" >&2; exit 1; }
grep -q 'id="Distillation.Core"' <<<"$datasets_nuspec" || { echo "check-consumer: Distillation.Datasets does not depend on Distillation.Core" >&2; exit 1; }
if grep -qiE 'id="(SkiaSharp\.NativeAssets[^"]*|TorchSharp-cpu|TorchSharp-cuda[^"]*|libtorch[^"]*)"' <<<"$datasets_nuspec"; then
  echo "check-consumer: Distillation.Datasets depends on a native library; it must not" >&2
  exit 1
fi
for file in README.md LICENSE lib/net8.0/Distillation.Core.xml; do
  # grep -q would stop reading early and, under pipefail, fail the pipeline with unzip's SIGPIPE.
  unzip -l "$feed/Distillation.Core.$version.nupkg" | grep " $file\$" >/dev/null || { echo "check-consumer: $file missing from Distillation.Core" >&2; exit 1; }
done

consumer="$work/consumer"
cp -r "$repo_root/eng/consumer" "$consumer"
# Adds the folder feed to the machine's configured sources (no <clear/>), so TorchSharp-cpu still resolves.
cat > "$consumer/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="distillation-local" value="$feed" />
  </packageSources>
</configuration>
CONFIG

echo "check-consumer: restoring, building and running the consumer against $version"
status=0
# Links, not copies, of the 1.5 GB of native libraries (as Directory.Build.props does in the repository).
dotnet run --project "$consumer/Consumer.csproj" -c Release -p:DistillationVersion="$version" -p:CreateSymbolicLinksForCopyLocalIfPossible=true -nologo || status=$?

# The sample, built from the packed packages alone instead of the projects, then run: it needs the
# public API only. Built in a copy of the files it compiles (its folder, the shared console output,
# Core's two small helpers it compiles in, the repository's build settings), so no project of the
# repository is in reach.
if [ "$status" -eq 0 ]; then
  echo "check-consumer: building samples/Distillation.Cifar10 against the packed packages"
  mirror="$work/sample-repo"
  mkdir -p "$mirror"
  tar -C "$repo_root" --exclude=bin --exclude=obj -cf - samples/Distillation.Cifar10 src/Shared/ConsoleOutput \
    src/Distillation.Core/IO/AtomicFile.cs src/Distillation.Core/Diagnostics/ProcessMemory.cs \
    Directory.Build.props Directory.Build.targets Directory.Packages.props global.json eng/NativePrerequisite.targets \
    | tar -C "$mirror" -xf -
  dotnet build "$mirror/samples/Distillation.Cifar10/Distillation.Cifar10.csproj" -c Release -nologo -v quiet \
    -p:DistillationPackageVersion="$version" -p:RestoreAdditionalProjectSources="$feed" \
    -p:DistillationSkipNativeCheck=true -p:CreateSymbolicLinksForCopyLocalIfPossible=true || status=$?
  if [ "$status" -eq 0 ]; then
    dotnet "$mirror/samples/Distillation.Cifar10/bin/Release/net10.0/distill-cifar10.dll" --help >"$work/sample-help.txt" || status=$?
    grep -q -- "--recipe" "$work/sample-help.txt" || { echo "check-consumer: the sample built from the packages did not print its options" >&2; status=1; }
    [ -d "$mirror/src/Distillation.Core/bin" ] && { echo "check-consumer: the sample built a library project instead of using its package" >&2; status=1; }
  fi
fi

# Leave no one-off versions behind in the global package cache.
packages_dir="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
rm -rf "$packages_dir/distillation.core/$version" "$packages_dir/distillation.datasets/$version" "$packages_dir/distillation.models/$version" "$packages_dir/distillation.onnx/$version" "$packages_dir/distillation.onnx.runtime/$version" "$packages_dir/distillation.onnx.quantization/$version"
exit "$status"
