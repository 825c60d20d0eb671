# Two commands on a fresh machine: `make repro` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# DVC runs each stage's `python stages/<name>.py` through the shell: the venv's
# python must come first on PATH for make repro, make test and their children.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install repro test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# `mtlstm check` validates all of params.yaml first: a misspelled section that no
# stage declares would otherwise be silently ignored by `dvc repro`.
repro: install
	mtlstm check
	dvc repro

test: install
	pytest

lint: install
	ruff check .
	ruff format --check .

format: install
	ruff format .
	ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache
