# watcher: `make run` starts the daemon on config/watcher.yaml; `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint bench clean

RUN_STAMP := $(VENV)/.run-stamp

# What running needs; the dev tools (pytest, mypy, ruff) only for the tests.
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	@echo "watcher is in $(BIN)/: $(BIN)/watcher status, $(BIN)/watcher --help"
	$(BIN)/watcher run -c config/watcher.yaml

lint: $(STAMP)
	$(BIN)/ruff check watcher tests benchmarks
	$(BIN)/ruff format --check watcher tests benchmarks
	$(BIN)/mypy

# Tests wait on subprocesses and local servers much of the time: one worker per CPU.
# Bytecode is compiled first: with PYTHONDONTWRITEBYTECODE set, as on CI, every watcher
# the tests start would compile the package again.
test: lint
	$(BIN)/python -m compileall -q watcher
	$(BIN)/pytest -n auto

# The edit-run loop: no lint, no tests marked slow.
test-fast: $(STAMP)
	$(BIN)/python -m compileall -q watcher
	$(BIN)/pytest -n auto -m "not slow"

bench: $(STAMP)
	command -v nginx >/dev/null || (test "$$(id -u)" = 0 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null) || echo "no nginx: the Python feed server stands in"
	$(BIN)/python benchmarks/matcher.py
	$(BIN)/python benchmarks/hostile.py
	$(BIN)/python benchmarks/desk.py
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
