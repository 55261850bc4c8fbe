#!/usr/bin/env bash
# Make Fashion-MNIST available offline: Debian's dataset-fashion-mnist package
# when we are root on Debian/Ubuntu, else provador downloads it on first use
# (checked against published hashes) into ~/.cache/provador.
set -euo pipefail
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
  echo "apt-get could not install it; provador will download the data instead."
else
  echo "Fashion-MNIST is not installed: provador will download it on first use."
  echo "(Offline alternative: sudo apt-get install dataset-fashion-mnist)"
fi
