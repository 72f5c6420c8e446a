# The two commands a user needs: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test test-fast lint demo bench bench-full lock image clean help

help:
	@echo "make demo      set up, then run the pipeline on generated sample data and query it"
	@echo "make test      set up, then run the test suite"
	@echo "make lint      ruff (lint + format check) and mypy; needs the venv (make setup)"
	@echo "make bench     set up, then measure the performance figures at quick sizes (~15 min)"
	@echo "make bench-full   every figure at COCO scale (123,287 items; hours)"
	@echo "make lock      re-resolve requirements.in into requirements.lock with uv"
	@echo "make image     build the Kubeflow component image (needs a Docker engine)"

setup:
	@scripts/setup.sh

# Two workers (pytest-xdist), a file per unit, longest first (tests/conftest.py): one
# sequential worker left a core idle most of the run. PYTEST_ARGS="-n 0" runs in-process.
XDIST := -n 2 --no-loadscope-reorder

test: setup
	@$(BIN)/python -m pytest -q --durations=15 $(XDIST) $(PYTEST_ARGS) tests

test-fast: setup
	@$(BIN)/python -m pytest -q -m "not slow" $(XDIST) $(PYTEST_ARGS) tests

# No `setup` prerequisite: linting never re-syncs the venv (.ci/run sets up first).
lint:
	@test -x $(BIN)/ruff || { echo "no $(BIN)/ruff: run make setup first"; exit 1; }
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: setup
	@$(BIN)/t2i demo

bench: setup
	@$(BIN)/python -m bench.run_all --quick

bench-full: setup
	@$(BIN)/python -m bench.run_all --full

lock:
	@uv=$$(command -v uv || echo .bootstrap/uv/bin/uv); \
	$$uv pip compile requirements.in --override overrides.txt --python-version 3.10 \
	  --python-platform x86_64-manylinux_2_28 -o requirements.lock

image:
	docker build -f docker/Dockerfile -t $${IMAGE:-t2i-searcher:$$(grep -m1 '^version' pyproject.toml | cut -d'"' -f2)} .

clean:
	rm -rf $(VENV) .bootstrap
