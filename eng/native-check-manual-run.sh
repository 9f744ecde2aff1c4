#!/usr/bin/env bash
# The documented manual run of the build's native prerequisite check (eng/NativePrerequisite.targets),
# each branch, on a machine that has the library: bash eng/native-check-manual-run.sh > results/front-door/native-check.log
# The missing branches point the check at a fake library; the root branch runs the real installer's
# dry run, told it is on Debian 12, so nothing is installed. NativePrerequisiteTargetsTests covers the
# same branches with a fake installer in CI.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fakes="$(mktemp -d)"
trap 'rm -rf "$fakes"' EXIT
fake="$fakes/libstdc++.so.6"
printf '\177ELF GLIBCXX_3.4.30\0GLIBCXX_3.4.31\0' > "$fake"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' > "$fakes/os-release"

quiet() { grep -v '^\s*$' | grep -vE 'Determining projects|All projects are up-to-date|^Time Elapsed|Warning\(s\)$' || true; }
run() {
  echo
  echo "\$ $*"
  local start=$SECONDS
  "$@" 2>&1 | quiet
  echo "(exit ${PIPESTATUS[0]}, $((SECONDS - start)) s)"
}

echo "# The native prerequisite check of eng/NativePrerequisite.targets, run by hand on $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# with eng/native-check-manual-run.sh. Machine: $(. /etc/os-release; echo "$PRETTY_NAME"), $(nproc) cores"
echo "# ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), user id $(id -u). It has GLIBCXX_3.4.32, so the"
echo "# missing branches point the check at a fake library holding GLIBCXX_3.4.30 and 3.4.31 only"
echo "# (-p:DistillationNativeLibraries=a temporary file)."

echo
echo "## 1. Present (this machine): the check's share of a build of the sample"
echo
echo "\$ dotnet build samples/Distillation.Cifar10 -clp:PerformanceSummary | grep -E 'DistillationCheckNativePrerequisite|Build succeeded|error'"
dotnet build samples/Distillation.Cifar10 -clp:PerformanceSummary 2>&1 | grep -E 'DistillationCheckNativePrerequisite|Build succeeded|error'

echo
echo "## 2. Missing, a user other than root (-p:DistillationNativeUserId=1000 stands for id -u):"
echo "##    README's test command stops on one line before any project builds"
run dotnet test Distillation.sln -p:DistillationNativeUserId=1000 -p:DistillationNativeLibraries="$fake"

echo
echo "## 3. Missing, root (the real id -u): the build says so and runs eng/install-native-deps.sh, here with"
echo "##    --dry-run (-p:DistillationNativeInstallerArguments=--dry-run), told it is on Debian 12"
echo "##    (INSTALL_NATIVE_DEPS_OS_RELEASE) and that the symbol is missing (INSTALL_NATIVE_DEPS_ASSUME_MISSING=1),"
echo "##    so nothing is installed. apt simulates from this machine's own package state, which already holds"
echo "##    Debian 13's libstdc++6 and C library (installed earlier), so its plan is short here; on a Debian 12"
echo "##    machine it lists libc6 and the other core packages (docs/reliability.md)."
INSTALL_NATIVE_DEPS_ASSUME_MISSING=1 INSTALL_NATIVE_DEPS_OS_RELEASE="$fakes/os-release" \
  run dotnet build samples/Distillation.Cifar10 -p:DistillationNativeInstallerArguments=--dry-run -p:DistillationNativeLibraries="$fake"

echo
echo "## 4. Opt-out: the same missing library and user, with -p:DistillationSkipNativeCheck=true"
run dotnet build samples/Distillation.Cifar10 -p:DistillationSkipNativeCheck=true -p:DistillationNativeUserId=1000 -p:DistillationNativeLibraries="$fake"
