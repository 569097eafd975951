# The commands a person types. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
TF_SERVING_API := tensorflow-serving-api==2.21.0
MODEL ?= resnet50
MODELS_DIR ?= models
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint format export serve protos clean

help:  ## list the commands
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[serving,gateway,frontend,loadtest,dev]"
	@# its metadata asks for the CUDA `tensorflow` wheel; tensorflow-cpu already provides the modules
	$(PIP) install --quiet --no-deps $(TF_SERVING_API)
	$(PY) -m gateway.tfs_api.build
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install every part (idempotent)

protos: $(STAMP)  ## regenerate the gateway's TF Serving gRPC modules
	$(PY) -m gateway.tfs_api.build

test: $(STAMP)  ## run every test (set TEST_DATABASE_URL to also run them on PostgreSQL)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)  ## the tests not marked slow
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

export: $(STAMP)  ## export MODEL (resnet50 | efficientnet-lite0) to MODELS_DIR/<model>/<next version>
	$(PY) -m export_model --model $(MODEL) --out $(MODELS_DIR) $(EXPORT_ARGS)

serve: $(STAMP)  ## run the embedded model server on :8500 (gRPC) and :8501 (REST)
	$(PY) -m serving --port 8500 --rest_api_port 8501 \
		--model_config_file serving/models.config \
		--enable_batching --batching_parameters_file serving/batching.config \
		--monitoring_config_file serving/monitoring.config

clean:  ## remove the venv and generated files (keeps models/ and var/)
	rm -rf $(VENV) gateway/tfs_api/generated .pytest_cache .ruff_cache
