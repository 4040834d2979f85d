# Two commands on a fresh machine: `make demo` and `make test`. Nothing else is needed before them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml Makefile | sha256sum | cut -c1-12)

.PHONY: demo test test-faults lint lock dev clean install bench

install: $(STAMP)

# The lock file pins every package; uv installs it exactly (and fast), then the project itself.
# --compile-bytecode: Python reads .pyc files even where PYTHONDONTWRITEBYTECODE is set (it is on
# these machines, as in many container images) but then never writes them, so without it every
# process compiled what it imports again: 5 s of loading the Dagster definitions and 1 s of each
# dbt start, in every run.
$(STAMP): requirements.lock pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# A venv left half-made (an interrupted first install) has no pip yet.
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade >/dev/null
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "CiRM Warehouse needs Python 3.11"'
	@$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --quiet --compile-bytecode -r requirements.lock
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/cirm demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q -ra -n auto --dist loadfile -m "not faults"

# Crash safety: SIGKILL at many points of real runs, then rerun and compare with a clean run. Too
# slow for the 15-minute `make test`; CI (.ci/run) runs it after the tests.
test-faults: $(STAMP)
	$(BIN)/pytest -q -ra -m faults

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolve the pinned set after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

dev: $(STAMP)
	$(BIN)/cirm dev

# Benchmarks: S, M and L cities, each merged into bench/results/latest.json and bench/README.md.
# `make bench SCALES="S M"` runs a subset; S takes minutes, L hours (see bench/README.md).
SCALES ?= S M L
bench: $(STAMP)
	@set -e; for scale in $(SCALES); do $(BIN)/cirm bench --scale $$scale; done

clean:
	rm -rf $(VENV) data dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
