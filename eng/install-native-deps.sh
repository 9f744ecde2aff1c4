#!/usr/bin/env bash
# Installs the native prerequisite of TorchSharp 0.107.0 (libtorch 2.10) on Linux:
# a libstdc++ that exports GLIBCXX_3.4.32 (GCC 13.2 or later).
#
# Idempotent: does nothing where the symbol is already present. On Debian 12 ("bookworm") it adds
# Debian 13 ("trixie") as a second apt source, pinned low, derived from the machine's own
# /etc/apt/sources.list.d/debian.sources (same URIs and keys), and installs libstdc++6 from it.
# Anywhere else without the symbol it stops and says what is needed.
#
# Beware: trixie's libstdc++6 needs trixie's C library, so on Debian 12 apt upgrades libc6
# (2.36 -> 2.41) and the core packages tied to it (27 of them on one machine, base-files among
# them, after which the machine calls itself Debian 13). The script therefore prints every package
# apt would install, upgrade or remove, with both versions, before it changes anything (it never
# prompts: CI runs it as root without a terminal). Prefer a distribution that needs nothing
# (Debian 13, Ubuntu 24.04) or a container where releases should not be mixed.
#
#   eng/install-native-deps.sh            install (as root), after printing the plan
#   eng/install-native-deps.sh --dry-run  print the plan only, from a throwaway apt state: no file
#                                         of the system is written, nothing is installed
#   eng/install-native-deps.sh --check    exit 0 where the symbol is present (or not Linux), 1 where
#                                         it is missing; prints nothing (the build's check, eng/NativePrerequisite.targets)
#   eng/install-native-deps.sh --summarize-simulation < apt-get-s-output
#                                         the plan's listing of an `apt-get -s` output (for tests)
#
# INSTALL_NATIVE_DEPS_LIBSTDCXX (colon-separated paths) replaces the libraries looked at, for tests.
set -euo pipefail

readonly required_symbol="GLIBCXX_3.4.32"
# The paths can be moved for tests of the dry run; the install itself always uses the real ones.
readonly debian_sources="${INSTALL_NATIVE_DEPS_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
readonly trixie_sources="/etc/apt/sources.list.d/distillation-trixie.sources"
readonly trixie_pin="/etc/apt/preferences.d/distillation-trixie.pref"

log() { printf 'install-native-deps: %s\n' "$*" >&2; }

# Reads `apt-get -s install …` output; prints one line per package apt would change, with versions
# (Inst name [old] (new …) is an upgrade, Inst name (new …) a new package, Remv name [old] a removal),
# then a count. Prints "no package changes" when there are none.
summarize_simulation() {
  awk '
    /^Inst / {
      name = $2; old = ""; new = ""
      if ($3 ~ /^\[/) { old = $3; gsub(/[][]/, "", old); new = $4 } else { new = $3 }
      gsub(/^\(/, "", new)
      if (old != "") { printf "    upgrade  %s %s -> %s\n", name, old, new; upgrades++ }
      else { printf "    install  %s %s (new)\n", name, new; installs++ }
      next
    }
    /^Remv / {
      old = $3; gsub(/[][]/, "", old)
      printf "    REMOVE   %s %s\n", $2, old; removals++
      next
    }
    END {
      total = upgrades + installs + removals
      if (total == 0) { print "    no package changes" }
      else { printf "    %d change(s): %d upgraded, %d newly installed, %d removed\n", total, upgrades, installs, removals }
    }'
}

# The first stanza of debian.sources whose Suites name bookworm (the main archive, not -security),
# with the suite changed to trixie; URIs, Components and Signed-By stay the machine's own.
derive_trixie_stanza() {
  awk -v RS= -v ORS='\n\n' '
    /(^|\n)Suites:[^\n]*bookworm([ \n]|$)/ && !done {
      n = split($0, lines, "\n"); out = ""
      for (i = 1; i <= n; i++) {
        if (lines[i] ~ /^Suites:/) lines[i] = "Suites: trixie"
        if (lines[i] ~ /^#/) continue
        out = out lines[i] "\n"
      }
      printf "%s", out; done = 1
    }' "$1"
}

readonly pin_text='Package: *
Pin: release n=trixie
Pin-Priority: 100
'

# What apt would do, computed in a throwaway apt state (sources, pin, package lists and cache in a
# temporary folder; the installed packages read from the real dpkg status, or
# INSTALL_NATIVE_DEPS_DPKG_STATUS for tests). Writes nothing of the system's.
dry_run_plan() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/sources.list.d" "$tmp/preferences.d" "$tmp/lists/partial" "$tmp/cache/archives/partial"
  cp "$debian_sources" "$tmp/sources.list.d/debian.sources"
  derive_trixie_stanza "$debian_sources" > "$tmp/sources.list.d/distillation-trixie.sources"
  if ! grep -q '^Suites: trixie' "$tmp/sources.list.d/distillation-trixie.sources"; then
    log "found no bookworm stanza in $debian_sources to derive the trixie source from."
    return 1
  fi
  printf '%s' "$pin_text" > "$tmp/preferences.d/distillation-trixie.pref"
  local apt=(apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$tmp/sources.list.d"
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$tmp/preferences.d"
    -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o Debug::NoLocking=1)
  # apt drops to _apt to download, which cannot write a folder of mktemp's: download as the caller.
  apt+=(-o APT::Sandbox::User="$(id -un)")
  if [ -n "${INSTALL_NATIVE_DEPS_DPKG_STATUS:-}" ]; then
    apt+=(-o Dir::State::status="$INSTALL_NATIVE_DEPS_DPKG_STATUS")
  fi
  "${apt[@]}" update -qq >&2
  "${apt[@]}" -s install -t trixie libstdc++6
}

dry_run=0
check_only=0
case "${1:-}" in
  "") ;;
  --dry-run) dry_run=1 ;;
  --check) check_only=1 ;;
  --summarize-simulation) summarize_simulation; exit 0 ;;
  *) log "unknown argument '$1': use --dry-run, --check, or nothing to install."; exit 2 ;;
esac

# Every libstdc++.so.6 the dynamic loader knows about (ldconfig), plus the usual paths as a fallback.
find_libstdcxx() {
  if [ -n "${INSTALL_NATIVE_DEPS_LIBSTDCXX:-}" ]; then
    tr ':' '\n' <<<"$INSTALL_NATIVE_DEPS_LIBSTDCXX"
    return
  fi
  {
    ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 / {print $NF}'
    ls /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/aarch64-linux-gnu/libstdc++.so.6 \
       /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6 2>/dev/null
  } | sort -u
}

has_required_symbol() {
  local lib
  while read -r lib; do
    [ -n "$lib" ] || continue
    # grep -a over the binary avoids depending on binutils' strings.
    if grep -aq "$required_symbol" "$(readlink -f "$lib")" 2>/dev/null; then
      return 0
    fi
  done < <(find_libstdcxx)
  return 1
}

if [ "$(uname -s)" != "Linux" ]; then
  [ "$check_only" = 1 ] || log "not Linux: nothing to do."
  exit 0
fi

if [ "$check_only" = 1 ]; then
  has_required_symbol
  exit
fi

# INSTALL_NATIVE_DEPS_ASSUME_MISSING=1 (with --dry-run only) computes the plan where nothing is needed, to test it.
if has_required_symbol && ! { [ "$dry_run" = 1 ] && [ "${INSTALL_NATIVE_DEPS_ASSUME_MISSING:-}" = 1 ]; }; then
  log "$required_symbol present: nothing to do."
  exit 0
fi

. "${INSTALL_NATIVE_DEPS_OS_RELEASE:-/etc/os-release}" 2>/dev/null || true
if [ "${ID:-}" != "debian" ] || [ "${VERSION_CODENAME:-}" != "bookworm" ]; then
  log "TorchSharp 0.107.0 needs a libstdc++ exporting $required_symbol (GCC 13.2 or later),"
  log "and this system (${PRETTY_NAME:-unknown}) lacks it. Ubuntu 24.04+, Debian 13+ and Fedora 39+ ship it;"
  log "install a newer libstdc++6 from your distribution, then run this script again."
  exit 1
fi

if [ "$dry_run" = 1 ]; then
  log "dry run: what installing libstdc++6 from Debian 13 (trixie) would change (nothing is changed now):"
  dry_run_plan | summarize_simulation >&2
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "Debian 12 needs libstdc++6 from Debian 13 (trixie): run this script as root: bash $0"
  log "To see first what it would change (libc6 and other core packages come along), run $0 --dry-run."
  exit 1
fi

# Builds of several projects may run this at once (eng/NativePrerequisite.targets): one installs,
# the others wait, then find the symbol present.
# /var/lock (a link to /run/lock) may be missing in a minimal container: then the temporary folder.
lock_dir=/var/lock
{ [ -d "$lock_dir" ] && [ -w "$lock_dir" ]; } || lock_dir="${TMPDIR:-/tmp}"
exec 9>"$lock_dir/distillation-install-native-deps.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if has_required_symbol; then
  log "$required_symbol present (installed meanwhile): nothing to do."
  exit 0
fi

# Say what will change before changing anything: apt's own simulation, in a throwaway state.
log "this adds $trixie_sources and $trixie_pin (trixie at priority 100), then apt changes these packages:"
dry_run_plan | summarize_simulation >&2

if [ ! -f "$trixie_sources" ]; then
  if [ ! -f "$debian_sources" ]; then
    log "expected $debian_sources (deb822 format) to derive the trixie source from; not found."
    exit 1
  fi
  derive_trixie_stanza "$debian_sources" > "$trixie_sources.tmp"
  if ! grep -q '^Suites: trixie' "$trixie_sources.tmp"; then
    rm -f "$trixie_sources.tmp"
    log "found no bookworm stanza in $debian_sources to derive the trixie source from."
    exit 1
  fi
  mv "$trixie_sources.tmp" "$trixie_sources"
  log "added $trixie_sources:"
  sed 's/^/    /' "$trixie_sources" >&2
fi

if [ ! -f "$trixie_pin" ]; then
  # Priority 100: trixie packages are installed only when asked for with -t trixie.
  printf '%s' "$pin_text" > "$trixie_pin.tmp"
  mv "$trixie_pin.tmp" "$trixie_pin"
  log "pinned trixie at priority 100 in $trixie_pin"
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -qq
log "apt-get install -t trixie libstdc++6"
apt-get install -y -qq -t trixie -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold libstdc++6 >&2

if has_required_symbol; then
  log "$required_symbol now present."
else
  log "libstdc++6 was installed from trixie, but $required_symbol is still missing."
  exit 1
fi
