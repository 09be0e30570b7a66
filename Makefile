# Every target runs `setup` first; setup is idempotent and fast when nothing changed.
SHELL := /bin/bash
VENV ?= .venv
export PIP_CONFIG_FILE := /dev/null
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST_ARGS ?=
# One worker per CPU, and at least three: two run the cluster layer's two groups (each on its own local control
# plane, mostly waiting on controllers) while the others run every other test.
TEST_WORKERS ?= $(shell python3 -c 'import os; print(max(3, os.cpu_count() or 1))')
ENV ?= production

.PHONY: setup plan test test-fast lint golden docs bench clean cluster-tools cluster-up cluster-down

setup:
	@bash scripts/setup.sh

plan: setup  ## the main job: render, validate and size both charts for $(ENV) (CRD schemas: see scripts/plan.sh)
	bash scripts/plan.sh $(ENV)

test: setup cluster-tools  ## every test layer, the local control plane's included (started and stopped by the tests)
	pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-fast: setup  ## template, monitoring-rule and package tests (no end-to-end servers)
	pytest -n auto tests/charts tests/monitoring tests/package $(PYTEST_ARGS)

cluster-tools: setup  ## build the local control plane from tools/cluster (cached outside the tree; needs Go)
	@if command -v go >/dev/null; then archangel-helm cluster build; \
	else echo "WARNING: no go on PATH: the local control plane cannot be built; its tests skip, naming this"; fi

cluster-up: cluster-tools  ## start the local control plane (or reuse it); prints the KUBECONFIG to use
	archangel-helm cluster up

cluster-down: setup  ## stop what cluster-up started (by PID) and remove build/cluster (and the tests' second cluster, if a crashed run left it)
	archangel-helm cluster down
	@if [ -f build/cluster-2/state.json ]; then ARCHANGEL_CLUSTER_DIR=build/cluster-2 archangel-helm cluster down; fi

lint: setup
	ruff check python tests bench scripts
	ruff format --check python tests bench scripts
	mypy
	mypy tests

golden: setup  ## rewrite tests/golden after a deliberate template change
	archangel-helm golden --update

bench: setup  ## every benchmark; each is also one command on its own (see docs/BENCHMARKS.md)
	python bench/render.py
	python bench/check.py
	python bench/load.py
	python bench/backup.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

docs: setup  ## regenerate the chart README parameter tables from the @param comments in values.yaml
	for chart in charts/*/; do node_modules/.bin/readme-generator -v $$chart/values.yaml -r $$chart/README.md >/dev/null; done
