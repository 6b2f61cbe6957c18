# equiglass: two commands on a fresh machine with Python >= 3.10
#   make run    # venv + install + the quick pipeline end to end (results/, results/report.html)
#   make test   # venv + install + the test suite
#   make test-slurm   # the SLURM profile's executor against a real local SLURM (root, apt-get)
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
PRESET ?=
TORCH_SPEC ?= torch==2.13.0
# loadgroup: the tests of the tiny run (xdist_group "tiny_run") share one worker, so it runs once
PYTEST_ARGS ?= -m "not slow" -n 2 --dist loadgroup
# the fast tests on a real local SLURM (one cluster per machine: serial); skipped with the reason
# where it cannot be installed (not root, no apt-get)
SLURM_PYTEST_ARGS ?= -m "slurm and not slow" -p no:xdist -rs
BIN := $(VENV)/bin
STAMP := $(VENV)/.equiglass-installed
CONFIGFILE := $(if $(PRESET),--configfile presets/$(PRESET).yaml,)

.PHONY: run test test-all test-slurm lint lint-workflow bench report dry-run clean install docs findings

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) $(CONFIGFILE) --show-failed-logs
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) $(CONFIGFILE) --report results/report.html
	@echo "Results in results/ (figures in results/figures, metrics in results/tables/metrics.md, report in results/report.html)"
	@echo "make findings writes its findings page (docs/findings-<preset>.md)"

dry-run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) $(CONFIGFILE) --dry-run --quiet

test: $(STAMP) lint-workflow
	$(BIN)/ruff check src tests benchmarks scripts
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(SLURM_PYTEST_ARGS) tests/test_slurm_local.py

# the workflow: Snakemake's linter and snakefmt (as the snakemake-workflows catalog checks)
lint-workflow: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/

# all tests on a real single-node SLURM on localhost (root; apt-get installs slurm-wlm, slurmdbd,
# munge and mariadb-server once), including the slow ones: TIMEOUT resume, the tiny preset
# through profiles/slurm (~20 min); skipped where it cannot be installed
test-slurm: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m slurm -p no:xdist -rP tests/test_slurm_local.py

test-all: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP) lint-workflow
	$(BIN)/ruff check src tests benchmarks scripts

# the configuration reference, generated from the schema and the rules (a test fails when it is stale)
docs: $(STAMP)
	$(BIN)/python -m equiglass config-reference -o docs/configuration.md

# the findings page of the finished run in results/, stamped with its commit, machine and measured
# wall time (equiglass findings; docs/findings.md says how the pages are made)
findings: $(STAMP)
	$(BIN)/python -m equiglass findings results -o docs/

bench: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf results logs .snakemake
