# mlrepro: see README.md. RECIPE=mini by default; RECIPE=paper for full scale.
# RUNNER=python uses the active environment instead of uv (machines with a preinstalled stack).
SHELL := /bin/bash
PAPERS := $(notdir $(wildcard packages/*))
RECIPE ?= mini
RUNNER ?= uv
ARGS ?=

ifeq ($(RUNNER),python)
RUN_CLI = python -m mlrepro_$*
PYTEST = python -m pytest
PYRUN = python
else
RUN_CLI = uv run --frozen --package mlrepro-$* mlrepro-$*
PYTEST = uv run --frozen --all-packages --group dev pytest
PYRUN = uv run --frozen --all-packages python
endif

.PHONY: setup test test-shared lint lock bench reproduce-all-mini install-alone help

help:
	@echo "make setup | test | test-<slug> | smoke-<slug> | reproduce-<slug> [RECIPE=mini|paper] | reproduce-all-mini | bench | lint | lock"
	@echo "papers: $(PAPERS)"

setup:
ifeq ($(RUNNER),uv)
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --all-packages --frozen --group dev
endif

# Full test suite: shared library, then each package in its own `uv run --package` environment, then the
# install-alone check (fresh venv with ./shared + one package, smoke recipe).
test: setup
ifeq ($(RUNNER),uv)
	bash ci/test-all.sh
else
	$(PYTEST) shared/tests packages
endif

test-shared: setup
	$(PYTEST) shared/tests

test-%:
	@test -d packages/$* || { echo "unknown package $*"; exit 2; }
ifeq ($(RUNNER),uv)
	uv run --frozen --package mlrepro-$* --group dev pytest packages/$*/tests
else
	python -m pytest packages/$*/tests
endif

smoke-%:
	@test -d packages/$* || { echo "unknown package $*"; exit 2; }
	$(RUN_CLI) reproduce --recipe smoke $(ARGS)

reproduce-%:
	@test -d packages/$* || { echo "unknown package $*"; exit 2; }
	$(RUN_CLI) reproduce --recipe $(RECIPE) $(ARGS)

reproduce-all-mini:
	for p in $(PAPERS); do $(MAKE) reproduce-$$p RECIPE=mini || exit 1; done

install-alone:
	bash ci/install-alone.sh $(PAPERS)

bench: setup
	$(PYRUN) -m benchmarks $(ARGS)

lint:
ifeq ($(RUNNER),uv)
	uv run --frozen --group dev ruff check shared packages benchmarks ci
else
	ruff check shared packages benchmarks ci
endif

lock:
	uv lock
