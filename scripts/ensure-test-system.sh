#!/usr/bin/env bash
# What the test suite needs beyond Python packages: Debian's PostgreSQL server (the search's
# multi-machine tests start a throw-away one), Chromium and its driver (the web page's tests).
# As root with apt they are installed; otherwise this says exactly what to install and stops,
# unless ALLOW_SKIPS=1 (then the tests that need them are skipped, and pytest's summary says so).
set -euo pipefail

have_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { command -v initdb && command -v pg_ctl; } >/dev/null
}
missing=()
have_postgres || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's ${missing[*]} for the tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "The test suite needs: ${missing[*]} (Debian/Ubuntu package names)." >&2
echo "Fix: sudo apt-get install ${missing[*]}   then run \`make test\` again." >&2
if [ "${ALLOW_SKIPS:-}" = 1 ]; then
  echo "ALLOW_SKIPS=1: the tests that need them will be skipped." >&2
  exit 0
fi
echo "Or run \`make test ALLOW_SKIPS=1\` to skip the tests that need them." >&2
exit 1
