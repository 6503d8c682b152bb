# Arbiter: targets a newcomer can guess. Everything runs from a local virtualenv (.venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := .tools/node_modules/.bin/cdk
CONFIG ?= arbiter.example.yaml
export CDK_DISABLE_VERSION_CHECK=1
export CDK_DISABLE_CLI_TELEMETRY=true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

.PHONY: setup demo rehearsal chaos test unit lint format synth deploy bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

setup: $(BIN)/.installed

$(CDK):
	npm install --silent --no-audit --no-fund --prefix .tools aws-cdk@2

demo: setup  ## fail over and back between two local data centers (moto, loopback)
	$(BIN)/arbiter demo

rehearsal: setup  ## the demo through a real BIND too (RFC 2136 + TSIG, 4 servers verified); needs named
	$(BIN)/arbiter demo --rehearsal

chaos: setup  ## break sites, regions, AWS and the act function on purpose; print what went wrong
	$(BIN)/arbiter chaos

test: setup lint  ## lint, type-check, then every test (unit, integration, infra, demo)
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

synth: setup $(CDK)  ## synthesize the CloudFormation templates (offline, no Docker) and lint them
	PATH=$(CURDIR)/$(BIN):$$PATH $(CDK) synth --quiet -c config=$(CONFIG)
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

deploy: synth  ## needs AWS credentials: deploys the control stack and every probe stack
	PATH=$(CURDIR)/$(BIN):$$PATH $(CDK) deploy --all -c config=$(CONFIG)

bench: setup  ## print performance figures (not a test)
	$(BIN)/python bench/probe_round.py
	$(BIN)/python bench/decide_core.py
	$(BIN)/python bench/decide_reads.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/runbook_dns.py

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
