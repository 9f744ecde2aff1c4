#!/usr/bin/env bash
# Installs the native prerequisite of TorchSharp 0.107.0 (libtorch 2.10) on Linux:
# a libstdc++ that exports GLIBCXX_3.4.32 (GCC 13.2 or later).
#
# Idempotent: does nothing where the symbol is already present. On Debian 12 ("bookworm") it adds
# Debian 13 ("trixie") as a second apt source, pinned low so nothing else is upgraded by accident,
# derived from the machine's own /etc/apt/sources.list.d/debian.sources (same URIs and keys), and
# installs libstdc++6 from it. Anywhere else without the symbol it stops and says what is needed.
set -euo pipefail

readonly required_symbol="GLIBCXX_3.4.32"
readonly debian_sources="/etc/apt/sources.list.d/debian.sources"
readonly trixie_sources="/etc/apt/sources.list.d/distillation-trixie.sources"
readonly trixie_pin="/etc/apt/preferences.d/distillation-trixie.pref"

log() { printf 'install-native-deps: %s\n' "$*" >&2; }

# Every libstdc++.so.6 the dynamic loader knows about (ldconfig), plus the usual paths as a fallback.
find_libstdcxx() {
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
    if grep -aq "$required_symbol" "$(readlink -f "$lib")"; then
      return 0
    fi
  done < <(find_libstdcxx)
  return 1
}

if [ "$(uname -s)" != "Linux" ]; then
  log "not Linux: nothing to do."
  exit 0
fi

if has_required_symbol; then
  log "$required_symbol present: nothing to do."
  exit 0
fi

. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != "debian" ] || [ "${VERSION_CODENAME:-}" != "bookworm" ]; then
  log "TorchSharp 0.107.0 needs a libstdc++ exporting $required_symbol (GCC 13.2 or later),"
  log "and this system (${PRETTY_NAME:-unknown}) lacks it. Ubuntu 24.04+, Debian 13+ and Fedora 39+ ship it;"
  log "install a newer libstdc++6 from your distribution, then run this script again."
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  log "Debian 12 needs libstdc++6 from Debian 13 (trixie): run this script as root (sudo $0)."
  exit 1
fi

if [ ! -f "$trixie_sources" ]; then
  if [ ! -f "$debian_sources" ]; then
    log "expected $debian_sources (deb822 format) to derive the trixie source from; not found."
    exit 1
  fi
  # Keep the first stanza whose Suites name bookworm (the main archive, not -security), with the
  # suite changed to trixie; URIs, Components and Signed-By stay the machine's own.
  awk -v RS= -v ORS='\n\n' '
    /(^|\n)Suites:[^\n]*bookworm([ \n]|$)/ && !done {
      n = split($0, lines, "\n"); out = ""
      for (i = 1; i <= n; i++) {
        if (lines[i] ~ /^Suites:/) lines[i] = "Suites: trixie"
        if (lines[i] ~ /^#/) continue
        out = out lines[i] "\n"
      }
      printf "%s", out; done = 1
    }' "$debian_sources" > "$trixie_sources.tmp"
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
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > "$trixie_pin.tmp"
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
