#!/usr/bin/env bash
# Debian packages the test suite drives for real, which pip cannot install:
#   postgresql  PostgreSQL 15 server (tests/fixtures_postgres.py: the PostgreSQL Dagster instance)
#   chromium    the browser the chart-page test drives (Playwright never downloads one here)
# Installs only what is missing; a no-op when everything is present.
set -euo pipefail

missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

fail() {
  echo "scripts/system_deps.sh: cannot install ${missing[*]}: $1" >&2
  echo "Install them yourself (Debian 12: apt-get install ${missing[*]}) and run again." >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found (this script knows Debian/Ubuntu only)"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)  # -n: never wait for a password prompt (CI has no terminal)
else
  fail "not root and no password-less sudo"
fi

echo "scripts/system_deps.sh: installing ${missing[*]}" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt() {  # quiet on success; on failure show apt's last lines, then say what failed
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq "$@" >"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; fail "apt-get $1 failed"; }
}
apt update
apt install -y --no-install-recommends "${missing[@]}"
# The tests start their own server from these binaries (a cluster the package may start is unused).
[ -x /usr/lib/postgresql/15/bin/postgres ] || fail "PostgreSQL 15 binaries still missing after install"
command -v chromium >/dev/null 2>&1 || fail "chromium still missing after install"
