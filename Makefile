# Two commands do all set-up on a fresh machine: `make bench TASK=tdoa` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TASK ?= tdoa
PROFILE ?= default
JOBS ?= 1
TORCH_PIN ?= torch==2.13.0

.PHONY: bench test lint regress site venv dev clean-results

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PIN)

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.installed-dev

bench: $(VENV)/.installed
	$(BIN)/bench run $(TASK) --profile $(PROFILE) --jobs $(JOBS) --publish

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check bench methods datasets metrics tests examples

regress: $(VENV)/.installed
	$(BIN)/bench regress $(TASK)

# The static leaderboard site of every committed board: open site/index.html (no server).
site: $(VENV)/.installed
	$(BIN)/bench site --out site

clean-results:
	rm -rf results/runs results/mlflow.db
