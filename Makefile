# parley — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint typecheck pytest install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the monitor over the bundled demo feeds: alerts print to the terminal.
demo: $(STAMP)
	$(BIN)/parley demo

## Lint, type-check and run every test.
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy sees the installed layout (parley.flows, …) through a tree of symlinks.
typecheck: $(STAMP)
	@mkdir -p .build/typecheck/parley
	@for p in flows storage alerts; do ln -sfn ../../../$$p .build/typecheck/parley/$$p; done
	MYPYPATH=.build/typecheck $(BIN)/mypy -p parley.flows -p parley.storage -p parley.alerts

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/cycle.py

clean:
	rm -rf $(VENV) .build data .pytest_cache .mypy_cache .ruff_cache *.egg-info
