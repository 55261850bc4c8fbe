#!/usr/bin/env bash
# Make the project's virtual environment usable, then install provador into it when
# pyproject.toml changed since the last install.
#   scripts/ensure-venv.sh PYTHON VENV [EXTRAS] [GROUP]   (EXTRAS e.g. tensorflow,export,postgres; GROUP dev)
# Versions come from constraints.txt, what CI tested (`make lock` refreshes it), so that every
# machine installs the same releases and the same recipe gives the same numbers.
# Checked first, each with its fix named: Python 3.11+, and its venv module with pip (Debian
# and Ubuntu ship it apart, as python3-venv; installed here when we are root with apt). A .venv
# left broken by a failed earlier try (bin/python there, pip missing) is rebuilt.
set -euo pipefail
python=$1 venv=$2 extras=${3:-} group=${4:-}

if ! command -v "$python" >/dev/null; then
  echo "provador needs Python 3.11 or newer: '$python' was not found. Install python3, or run: make PYTHON=/path/to/python3.11 ..." >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "provador needs Python 3.11 or newer; $python is $("$python" -V 2>&1). Run: make PYTHON=python3.11 ... (or newer)" >&2
  exit 1
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  package="python$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's $package (Python's venv module with pip)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q "$package" >/dev/null \
      || apt-get install -y -q python3-venv >/dev/null
  else
    echo "Python's venv module with pip is missing (Debian and Ubuntu ship it apart)." >&2
    echo "Fix: sudo apt-get install $package   (or python3-venv), then run the same make command again." >&2
    exit 1
  fi
fi

if [ -e "$venv" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  echo "$venv is incomplete (no working pip: an earlier set-up failed); building it again."
  rm -rf "$venv"
fi
if [ ! -e "$venv" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi

stamp="$venv/.installed${extras:+-${extras//,/-}}${group:+-$group}"
pinned=()
[ -f constraints.txt ] && pinned=(-c constraints.txt)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || { [ -f constraints.txt ] && [ constraints.txt -nt "$stamp" ]; }; then
  echo "Installing provador${extras:+ with [$extras]}${group:+ and the $group tools} into $venv (first time: a few minutes)..."
  "$venv/bin/python" -m pip install -q "${pinned[@]}" -e ".${extras:+[$extras]}" ${group:+--group "$group"}
  touch "$stamp" "$venv/.installed"  # a fuller install holds the plain one
fi
