# Two commands for a newcomer: `make setup`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test bench

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"

test:
	$(BIN)/python -m pytest -n 2 -q

bench:
	$(BIN)/python benchmarks/grade_one.py
