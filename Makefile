# Two commands do everything on a fresh machine:
#   make demo   set up, then train the notebook's model on Fashion-MNIST and show its results
#   make test   set up (with the test tools and TensorFlow), then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup setup-dev data lint clean translations

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The demo needs only provador itself (Keras on JAX); the tests add pytest, Selenium,
# scikit-learn (reference metrics), Jupyter's runner, TensorFlow (the backend test) and psycopg
# (the search's PostgreSQL tests, against Debian's server: see .ci/run).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,tensorflow,export]"
	touch $@ $(VENV)/.installed

data:
	@bash scripts/ensure-data.sh

demo: setup data
	$(BIN)/provador data info
	$(BIN)/provador train --recipe seed
	$(BIN)/provador predict runs/latest --test-index 0:10

test: setup-dev data
	PROVADOR_REQUIRE_TENSORFLOW=1 PROVADOR_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest

# After marking or changing a string with _(): extract it, merge it into the Portuguese catalog,
# translate the new entries in src/provador/locale/pt/LC_MESSAGES/provador.po, then run this again
# to compile (tests/test_i18n.py fails while a string lacks a translation or the .mo is stale).
LOCALE := src/provador/locale
translations: setup-dev
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project provador -o $(LOCALE)/provador.pot .
	$(BIN)/pybabel update -D provador -i $(LOCALE)/provador.pot -d $(LOCALE) -l pt --ignore-obsolete --no-wrap
	$(BIN)/pybabel compile -D provador -d $(LOCALE) --statistics

lint: setup-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
