#!/usr/bin/env bash
# `pipx install .` from this clone, as a user who wants only the `provador` command would do it:
# a built wheel (not the editable install the tests use) in its own venv. Then what that wheel
# must carry works from it: the command, the licence, the recipes, the translations, the report's
# templates and the web page's files, and a one-epoch training that writes report.html.
#   scripts/check-package.sh PIPX CONSTRAINTS   (make package-check)
set -euo pipefail
pipx=$1 constraints=$(realpath "$2")
scratch=$(mktemp -d /tmp/provador-pipx.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
export PIPX_HOME="$scratch/home" PIPX_BIN_DIR="$scratch/bin" PIPX_MAN_DIR="$scratch/man"
"$pipx" install --pip-args="-q -c $constraints" . >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log"; exit 1; }
provador="$scratch/bin/provador"
python="$PIPX_HOME/venvs/provador/bin/python"

fail() { echo "package check: $*" >&2; exit 1; }
"$provador" --version | grep -q "provador" || fail "provador --version"
"$provador" recipes | grep -q "mlp-fast" || fail "the shipped recipes are missing"
"$python" - <<'PY' || fail "files missing from the wheel"
from importlib import metadata, resources
files = {str(f) for f in metadata.files("provador")}
assert any(f.endswith("licenses/LICENSE") or f.endswith("LICENSE") for f in files), "LICENSE"
assert "editable" not in (metadata.distribution("provador").read_text("direct_url.json") or ""), "not a wheel install"
root = resources.files("provador")
for part in ("py.typed", "show/templates/report.html", "show/templates/page.html", "show/templates/model-card.md", "serve/static/app.js",
             "serve/static/swagger-ui/swagger-ui-bundle.js", "locale/pt/LC_MESSAGES/provador.mo", "core/recipes/seed.toml"):
    assert root.joinpath(part).is_file(), part
PY
PROVADOR_LANG=pt "$provador" train --recipe seed --epochs 1 --set data.max_train=3000 --runs-dir "$scratch/runs" --quiet \
  >"$scratch/train.log" 2>&1 || { cat "$scratch/train.log"; fail "a one-epoch training"; }
grep -q "Curvas de aprendizado" "$scratch"/runs/seed-*/report.html || fail "report.html (in Portuguese) was not written"
grep -q "## Limitações" "$scratch"/runs/seed-*/model-card.md || fail "model-card.md (in Portuguese) was not written"
echo "package check: pipx install . gives a working provador ($("$provador" --version))"
