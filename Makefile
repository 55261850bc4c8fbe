# Two commands do everything on a fresh machine:
#   make demo   set up, then train the notebook's model on Fashion-MNIST and show its results
#   make test   set up, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS := dev,tensorflow

.PHONY: demo test setup data lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

data:
	@bash scripts/ensure-data.sh

demo: setup data
	$(BIN)/provador data info
	$(BIN)/provador train --recipe seed
	$(BIN)/provador predict runs/latest --test-index 0:10

test: setup data
	PROVADOR_REQUIRE_TENSORFLOW=1 $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
