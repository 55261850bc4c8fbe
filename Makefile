# Two commands do everything on a fresh machine:
#   make demo   set up, then train the notebook's model on Fashion-MNIST and show its results
#   make test   set up (with the test tools and TensorFlow), then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# make test ALLOW_SKIPS=1: run what this machine can, skipping (not failing) the tests whose
# Debian packages or data are missing; pytest's summary lists each skip and why.
ALLOW_SKIPS ?=

.PHONY: demo test setup setup-dev data test-system lint lock clean translations package-check test-lowest

# The demo needs only provador itself (Keras on JAX); the tests add pytest, Selenium,
# scikit-learn (reference metrics), Jupyter's runner, TensorFlow (the backend test and export),
# psycopg (the search's PostgreSQL tests), MLflow and TensorBoard (the tracking tests, with their
# servers). Each checks Python and its venv module first.
setup:
	@bash scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)"

setup-dev:
	@bash scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)" tensorflow,export,postgres,mlflow,tensorboard dev

data: setup
	@bash scripts/ensure-data.sh "$(BIN)/provador"

test-system:
	@ALLOW_SKIPS=$(ALLOW_SKIPS) bash scripts/ensure-test-system.sh

demo: setup data
	$(BIN)/provador data info
	$(BIN)/provador train --recipe seed
	$(BIN)/provador predict runs/latest --test-index 0:10

# Tests run in worker processes, one per core up to 4 (pytest-xdist): most wait on a child
# process, a server or a browser as much as they compute. PYTEST_WORKERS=0 runs them in one.
# --dist loadgroup: the tests marked xdist_group share a costly module fixture (the exports, an
# MLflow server, Chromium) and go to one worker together, so it is built once, not once per worker.
PYTEST_WORKERS ?= auto
test: setup-dev data test-system
	PROVADOR_REQUIRE_ALL=$(if $(filter 1,$(ALLOW_SKIPS)),,1) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --maxprocesses=4 --dist loadgroup

# After marking or changing a string with _(): extract it, merge it into every catalog in locale/,
# translate the new entries (src/provador/locale/<lang>/LC_MESSAGES/provador.po), then run this again
# to compile (tests/base/test_i18n.py fails while a string lacks a translation or the .mo is stale).
LOCALE := src/provador/locale
translations: setup-dev
	$(BIN)/pybabel extract -F babel.cfg --no-location --no-wrap --sort-output --project provador -o $(LOCALE)/provador.pot .
	$(BIN)/pybabel update -D provador -i $(LOCALE)/provador.pot -d $(LOCALE) --ignore-obsolete --no-wrap
	$(BIN)/pybabel compile -D provador -d $(LOCALE) --statistics

# `pipx install .` from this clone gives a working `provador`: the wheel, in a venv of its own, with
# its licence, templates, translations and web files; a one-epoch training writes its report (CI runs it).
package-check: setup-dev data
	@bash scripts/check-package.sh $(BIN)/pipx constraints.txt

# The quick tests of the library and the server at the lowest versions pyproject.toml admits (CI runs it).
test-lowest: data
	@bash scripts/check-lowest.sh "$(PYTHON)"

lint: setup-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

# constraints.txt pins every package `make test` installs, at what CI last passed with. To move
# to newer releases: `make lock` resolves them afresh in a scratch venv and rewrites the file;
# then `make test`, and commit constraints.txt with what the tests needed. ml_dtypes stays below 0.7:
# 0.7.0 adds about 0.8 s to every Keras import (bench/import_keras.py), so to every command that computes.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock && .venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e ".[tensorflow,export,postgres,mlflow,tensorboard]" --group dev "ml_dtypes<0.7"
	{ echo "# What \`make test\` and CI install (pip install -c constraints.txt). Refresh: make lock."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .venv-lowest build src/*.egg-info .pytest_cache
