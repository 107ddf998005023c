# For a newcomer: `make setup`, `make demo` (see the product work), `make test`.
# Test tiers (README "Set up and test"): test-fast while editing, test-quick before a commit, test in CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test test-fast test-quick bench demo

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,dask]"

test:  # everything; prints the 20 slowest tests
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=20

test-fast:  # no grading process at all: seconds
	$(BIN)/python -m pytest -q -m fast

test-quick:  # under 5 minutes: 1 in 12 of each bank of cases, one sandbox mode, each end-to-end path once
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --quick

demo:  # grades a small sample class (examples/demo_class/) and prints where its pages are
	$(BIN)/python examples/demo_class/run_demo.py

bench:
	$(BIN)/python benchmarks/grade_one.py
