#!/usr/bin/env bash
# Make Fashion-MNIST available offline: Debian's dataset-fashion-mnist package
# when we are root on Debian/Ubuntu, else provador downloads it now (checked against
# published hashes) into ~/.cache/provador, where provador and the tests find it.
#   scripts/ensure-data.sh [PROVADOR]      (the provador command that downloads)
set -euo pipefail
provador=${1:-provador}
system=/usr/share/datasets/fashion-mnist
cache="${XDG_CACHE_HOME:-$HOME/.cache}/provador/fashion-mnist"
if [ -f "$system/t10k-labels-idx1-ubyte.gz" ] || [ -f "$cache/t10k-labels-idx1-ubyte.gz" ] \
   || [ -n "${PROVADOR_DATA_DIR:-}" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's dataset-fashion-mnist package (offline copy of Fashion-MNIST)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  if apt-get install -y -q dataset-fashion-mnist >/dev/null; then exit 0; fi
  echo "apt-get could not install it; provador downloads the data instead."
else
  echo "Fashion-MNIST is not installed: provador downloads it now (30 MB, checked against published hashes)."
  echo "(Offline alternative: sudo apt-get install dataset-fashion-mnist)"
fi
"$provador" data info >/dev/null
