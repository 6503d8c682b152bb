# Arbiter: targets a newcomer can guess. Everything runs from a local virtualenv (.venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := .tools/node_modules/.bin/cdk
CDK_VERSION := 2.1148.1
# The CDK CLI the project is tested with (aws-cdk-lib is pinned in requirements-dev.txt); a
# different CLI may refuse a newer cloud assembly or behave otherwise. Node.js 20 or later.
CONFIG ?= arbiter.example.yaml
RUN_CDK = PATH=$(CURDIR)/$(BIN):$$PATH $(CDK)
PREFLIGHT = $(BIN)/python -m infra.preflight --config $(CONFIG)
export CDK_DISABLE_VERSION_CHECK=1
export CDK_DISABLE_CLI_TELEMETRY=true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

.PHONY: setup cdk demo rehearsal chaos test unit lint format synth bootstrap diff deploy destroy \
	preflight-credentials preflight-deploy bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

setup: $(BIN)/.installed

$(CDK): Makefile
	npm install --silent --no-audit --no-fund --prefix .tools aws-cdk@$(CDK_VERSION)
	touch $@

cdk: $(CDK)  ## install the pinned CDK CLI into .tools/

demo: setup  ## fail over and back between two local data centers (moto, loopback)
	$(BIN)/arbiter demo

rehearsal: setup  ## the demo through a real BIND too (RFC 2136 + TSIG, 4 servers verified); needs named
	$(BIN)/arbiter demo --rehearsal

chaos: setup  ## break sites, regions, AWS and the act function on purpose; print what went wrong
	$(BIN)/arbiter chaos

test: setup $(CDK) lint  ## lint, type-check, then every test (unit, integration, infra, demo)
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
	$(RUN_CDK) synth --quiet -c config=$(CONFIG)
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

# Each of these first checks the AWS credentials (one line and exit 2 when there are none).
preflight-credentials: setup
	@$(PREFLIGHT) credentials

preflight-deploy: setup
	@$(PREFLIGHT) deploy

bootstrap: preflight-credentials $(CDK)  ## once per account: the CDK's bootstrap stack in every region of the app
	$(RUN_CDK) bootstrap -c config=$(CONFIG)

diff: preflight-credentials $(CDK)  ## what a deploy would change
	$(RUN_CDK) diff --all -c config=$(CONFIG)

deploy: preflight-deploy $(CDK)  ## the control stack and every probe stack (first deploy and updates)
	$(RUN_CDK) deploy --all -c config=$(CONFIG)

destroy: preflight-credentials $(CDK)  ## delete every stack; says how to delete a retained table
	$(RUN_CDK) destroy --all -c config=$(CONFIG)
	@$(PREFLIGHT) destroyed

bench: setup  ## print performance figures (not a test)
	$(BIN)/python bench/probe_round.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/asset_size.py
	$(BIN)/python bench/decide_core.py
	$(BIN)/python bench/decide_reads.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/runbook_dns.py

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
