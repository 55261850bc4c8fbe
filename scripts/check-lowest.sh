#!/usr/bin/env bash
# The suite's quick tests of the library and the server at the LOWEST versions pyproject.toml
# admits (uv's lowest-direct resolution: every direct dependency at its floor), so the floors are
# versions the code is known to run on, not guesses. The test tools come at their usual versions
# (httpx below 0.28: the floor's Starlette test client needs it). Numbers may differ from the
# pinned set (JAX changed its random numbers since 0.4.30): "same numbers" is constraints.txt's promise.
#   scripts/check-lowest.sh PYTHON   (make test-lowest)
set -euo pipefail
python=$1 venv=.venv-lowest
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q "uv==0.13.9"
"$venv/bin/uv" pip install -q --python "$venv/bin/python" --resolution lowest-direct -e ".[mlflow,tensorboard,postgres]"
"$venv/bin/uv" pip install -q --python "$venv/bin/python" "pytest>=8" "pytest-xdist>=3.5" "hypothesis>=6.100" \
  "httpx>=0.27,<0.28" "scikit-learn>=1.4" "tensorboard>=2.16"
"$venv/bin/python" - <<'PY'
# The resolution did what it says: the floors are what is installed.
from importlib.metadata import version
floors = {"keras": "3.15.1", "jax": "0.4.30", "numpy": "1.26.0", "fastapi": "0.110.0", "uvicorn": "0.30.0",
          "optuna": "5.0.0", "pydantic": "2.6.0", "pillow": "10.3.0", "jinja2": "3.1.0", "matplotlib": "3.8.0"}
wrong = {name: version(name) for name, floor in floors.items() if version(name) != floor}
assert not wrong, f"not at the floor: {wrong}"
print("lowest versions:", ", ".join(f"{name} {version(name)}" for name in floors))
PY
# Not the catalog's byte-for-byte check: Babel's floor compiles the same catalog to other bytes.
env -u CI -u PROVADOR_REQUIRE_ALL "$venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider -m "not slow" \
  tests/base tests/core tests/work tests/show tests/serve \
  --deselect tests/base/test_i18n.py::test_the_shipped_mo_file_is_compiled_from_the_po_file
