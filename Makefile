# For a newcomer: `make setup`, `make demo` (see the product work), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test bench demo

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,dask]"

test:
	$(BIN)/python -m pytest -n 2 -q

demo:  # grades a small sample class (examples/demo_class/) and prints where its pages are
	$(BIN)/python examples/demo_class/run_demo.py

bench:
	$(BIN)/python benchmarks/grade_one.py
