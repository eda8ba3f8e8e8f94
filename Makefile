# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck contracts unit install install-dev lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

# Installs come from the lock files (requirements/*.txt, exact versions), then the
# project itself without resolving anything more.
$(VENV)/.installed: $(BIN)/python requirements/base.txt setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -r requirements/base.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python requirements/dev.txt setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make lock: compile requirements/base.txt and dev.txt from setup.cfg (pip-tools); the
## pins already there are kept unless setup.cfg needs others: LOCK_ARGS=--upgrade for newer
LOCK_ARGS ?=
PIP_COMPILE = CUSTOM_COMPILE_COMMAND='make lock' $(BIN)/pip-compile --quiet --strip-extras \
	--no-build-isolation --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock: $(VENV)/.installed-dev
	$(PIP_COMPILE) --output-file requirements/base.txt setup.cfg
	$(PIP_COMPILE) --extra dev --output-file requirements/dev.txt setup.cfg

## make run: install, migrate the embedded SQLite database, make a demo organization, serve
run: $(VENV)/.installed
	$(BIN)/mentormatch db upgrade
	$(BIN)/mentormatch demo --host $(HOST) --port $(PORT)
	$(BIN)/mentormatch serve --host $(HOST) --port $(PORT)

## make test: lint, import contracts, types, the whole suite
test: lint contracts typecheck unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

contracts: $(VENV)/.installed-dev
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy scoring matcher models api

unit: $(VENV)/.installed-dev
	$(BIN)/pytest

## make bench: every benchmark at sizes that finish in about 10 minutes on 2 cores
## (BENCH_FULL=1: the large sizes too, an estimated 15-30 minutes more), JSON and PNG under
## benchmarks/results/, then the marked tables of benchmarks/README.md regenerated (the
## matcher's lazy cases run in a process of their own: their max RSS is the whole process')
BENCH_SCORING := --sizes 1000,5000,10000,20000
BENCH_MATCHER := --sizes 1000 4000 8000 --lsa-max 8000 --both 500:3:3
BENCH_RUN := --sizes 1000 5000 10000
BENCH_BATCH := --sizes 1000,10000
ifneq ($(BENCH_FULL),)
BENCH_SCORING += --wide 100000
BENCH_MATCHER := --sizes 1000 4000 8000 16000 --lsa-max 8000 --both 500:3:3,10000:2:3
BENCH_BATCH += --large 50000
endif
bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.bench_scoring $(BENCH_SCORING)
	$(BIN)/python -m benchmarks.bench_matcher $(BENCH_MATCHER)
	if [ -n "$(BENCH_FULL)" ]; then $(BIN)/python -m benchmarks.bench_matcher \
	  --sizes --no-rect --large 20000,50000,100000 --time-limit 400; fi
	$(BIN)/python -m benchmarks.bench_run $(BENCH_RUN)
	$(BIN)/python -m benchmarks.bench_batch $(BENCH_BATCH)
	$(BIN)/python -m benchmarks.feedback_sim
	$(BIN)/python -m benchmarks.bench_cli
	$(BIN)/python -m benchmarks.report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
