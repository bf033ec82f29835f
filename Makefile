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

# Installs what the tests need (PostgreSQL and Chromium from Debian when missing), then runs the
# whole suite on every core, each test file on one worker (its module fixtures are set up once).
# The pytest fixtures start a throwaway PostgreSQL cluster per worker on a free loopback port.
test: dev services
	$(BIN)/pytest -n auto --dist loadfile $(T) $(TESTS)

services:
	bash scripts/ensure-services

lint: dev
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy src examples

reformat: dev
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

bench: dev services  # an hour or more: 1M-event ingest, 10M-leaf proofs, 10M-event scope, seeds × profiles
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/ingest_detect.py
	$(BIN)/python benchmarks/activity.py
	$(BIN)/python benchmarks/ledger.py
	$(BIN)/python benchmarks/api_reads.py
	$(BIN)/python benchmarks/api_reads.py --clients 8
	$(BIN)/python benchmarks/guard.py
	$(BIN)/python benchmarks/guard.py --http --grants 10000
	$(BIN)/python benchmarks/witness.py
	$(BIN)/python benchmarks/otlp.py
	$(BIN)/python benchmarks/notify.py
	$(BIN)/python benchmarks/outbound.py
	$(BIN)/python benchmarks/scope.py
	$(BIN)/python benchmarks/transparency.py
	$(BIN)/python benchmarks/verify_slices.py
	$(BIN)/python benchmarks/detect.py
	$(BIN)/python benchmarks/detect.py --sizes medium,xlarge --profiles desk,holdout,world2
	$(BIN)/python benchmarks/triage.py
	$(BIN)/python benchmarks/cli_start.py

clean:
	rm -rf $(VENV) sentinelle-data .pytest_cache .mypy_cache .ruff_cache .hypothesis
