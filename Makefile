# Sentinelle: `make demo` runs the main job on the embedded default; `make test` runs everything.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
T ?=
TESTS ?= tests

.PHONY: demo test dev lint reformat bench services clean

$(BIN)/sentinelle: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

dev: $(BIN)/sentinelle

demo: dev
	$(BIN)/sentinelle demo

# Installs what the tests need (PostgreSQL from Debian when missing), then runs the whole suite.
# The pytest fixtures start a throwaway PostgreSQL cluster on a free loopback port and remove it.
test: dev services
	$(BIN)/pytest $(T) $(TESTS)

services:
	bash scripts/ensure-services

lint: dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

reformat: dev
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: dev services  # several minutes: 1M-event ingest, 10M-leaf proofs, 3 simulated seeds
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/ledger.py
	$(BIN)/python benchmarks/detect.py

clean:
	rm -rf $(VENV) sentinelle-data .pytest_cache .mypy_cache .ruff_cache .hypothesis
