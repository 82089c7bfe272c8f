# Single entry point. Every target bootstraps what it needs from a fresh clone
# (only python3 >= 3.11, node and make are assumed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: reliability-report help demo labelstudio test check lint typecheck synth asl bench bench-quick backfill-bench deploy clean

help:
	@echo "make demo   - run the offline demo (no AWS account needed)"
	@echo "make test   - lint, type-check and run every test offline"
	@echo "make labelstudio - a local Label Studio for clp review push/pull (docs/review.md)"
	@echo "make check  - the edit loop: lint, type-check, unit and infra tests (under 2 min)"
	@echo "make synth  - synthesize the CloudFormation template into cdk.out/"
	@echo "make asl    - regenerate infra/statemachines/controller.asl.json from infra/statemachines/controller/"
	@echo "make bench  - run the benchmarks, write docs/benchmarks.md (~9 min; bench-quick: ~3.5 min)"
	@echo "make reliability-report - rerun the fault/bad-input/security suites, write docs/reliability.md"
	@echo "make backfill-bench     - the backfill state machine over 10,000 objects in moto (~3.5 min)"
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

# checkov pins boto3/botocore versions older than the project's, so it gets its own virtualenv.
.venv-checkov/.installed: | $(BIN)/python
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet 'checkov==3.2.533'
	touch $@

# Label Studio (the review server; tests/review start a real one) pins its own Django stack: its own virtualenv
# too. About 2 min to install on 2 cores; ~1 GB. The client (label-studio-sdk) is the project's `review` extra.
.venv-labelstudio/.installed: | $(BIN)/python
	$(PYTHON) -m venv .venv-labelstudio
	.venv-labelstudio/bin/python -m pip install --quiet 'label-studio==1.23.2'
	touch $@

# `clp review` with the Label Studio client, without the CDK (`make test`'s dev extra has it too).
$(VENV)/.review: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[offline,review]'
	touch $@ $(VENV)/.offline

# A local Label Studio for `clp review push|pull --local demo-output` (docs/review.md): 127.0.0.1:8080, SQLite in
# build/labelstudio, serving local files from this directory; prints the URL and API token to export. Ctrl-C stops.
labelstudio: .venv-labelstudio/.installed $(VENV)/.review
	$(BIN)/python -m clp.review.server --port $(or $(LABEL_STUDIO_PORT),8080) --data-dir build/labelstudio --document-root .

# The gallery's browser tests (tests/gallery) drive Debian's headless Chromium through its driver; both come from
# apt (as root, or through sudo). The stamp only saves the check: the recipe installs nothing already there.
build/.chromium:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium chromium-driver; \
	fi
	mkdir -p build && touch $@

# Every core (pytest-xdist); --dist loadgroup keeps the JSONata-recorded suites and their comparison in one worker.
test: lint typecheck node_modules/.installed .venv-checkov/.installed build/.chromium .venv-labelstudio/.installed
	$(BIN)/pytest -n auto --dist loadgroup --cov --cov-report=term -q

# The edit loop: what most edits can break, in under 2 minutes on 2 cores (one synth, shared by the infra tests).
# No coverage floor here: it holds for the whole suite, which `make test` runs.
check: lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/infra

# docs/reliability.md from the outcomes the fault, bad-input and security suites observe (~5 min).
reliability-report: $(VENV)/.dev .venv-checkov/.installed
	rm -f build/reliability-records.jsonl
	$(BIN)/pytest -q -p no:cacheprovider tests/faults tests/badinput tests/security
	$(BIN)/python scripts/reliability_report.py

# The real backfill definition over 10,000 objects in moto (make test runs 500), 1,000 children of 10: ~3.5 min
# on 2 cores (the run itself ~165 s; tests/support/moto_backfill.py). CLP_BACKFILL_BENCH_OBJECTS=2000: ~40 s.
backfill-bench: $(VENV)/.dev
	CLP_BACKFILL_BENCH=1 $(BIN)/pytest -q -s tests/scale/test_backfill_execution.py -k 10000

# Benchmarks (offline runtime + matplotlib): write docs/benchmarks.md and docs/benchmarks/*.png,
# one JSON line per figure on stdout. bench-quick (or BENCH_QUICK=1) takes about 3.5 min on 2 cores, bench about 9.
$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[offline,bench]'
	touch $@ $(VENV)/.offline

bench: $(VENV)/.bench
	$(BIN)/python -m bench

bench-quick: $(VENV)/.bench
	BENCH_QUICK=1 $(BIN)/python -m bench

# The controller definition is committed as generated from its sources (docs/controller.md, "Authoring the
# definition"); tests/controller/test_controller_sources.py fails when the two differ.
asl: $(VENV)/.offline
	$(BIN)/python -m infra.statemachines.assemble

synth: $(VENV)/.dev
	$(BIN)/python app.py
	$(BIN)/cfn-lint cdk.out/*.template.json --ignore-checks W3005

# Preflight first (read-only; any finding stops the deploy), then the CDK CLI. The region: REGION=... (passed to
# both, as --region and AWS_REGION), else AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region (the AWS
# CLI's order, which the CDK CLI follows). Where none is set the CDK CLI would pick us-east-1; preflight stops.
deploy: $(VENV)/.dev
	$(BIN)/clp preflight $(if $(REGION),--region $(REGION))
	$(if $(REGION),AWS_REGION=$(REGION)) npx --yes aws-cdk@2.1148 deploy --no-notices --app "$(BIN)/python app.py"

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
