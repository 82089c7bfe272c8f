# Single entry point. Every target bootstraps what it needs from a fresh clone
# (only python3 >= 3.11, node and make are assumed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: help demo test lint typecheck unit synth bench deploy clean

help:
	@echo "make demo   - run the offline demo (no AWS account needed)"
	@echo "make test   - lint, type-check and run every test offline"
	@echo "make synth  - synthesize the CloudFormation template into cdk.out/"
	@echo "make deploy - deploy with the CDK CLI (needs AWS credentials)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "python3 >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Offline runtime only (what `make demo` needs; no CDK).
$(VENV)/.offline: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[offline]'
	touch $@

# Everything: offline runtime, CDK, test and lint tools.
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[offline,cdk,dev]'
	touch $@ $(VENV)/.offline

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.offline
	$(BIN)/clp demo

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

test: lint typecheck node_modules/.installed
	$(BIN)/pytest --cov --cov-report=term -q

synth: $(VENV)/.dev
	$(BIN)/python app.py
	$(BIN)/cfn-lint cdk.out/*.template.json --ignore-checks W3005

deploy: $(VENV)/.dev
	npx --yes aws-cdk@2.1148 deploy --no-notices --app "$(BIN)/python app.py"

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
