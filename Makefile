# The commands a person types. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
MODEL ?= resnet50
MODELS_DIR ?= models
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint format export serve protos clean migrate gateway run stop frontend \
	canary promote rollback rollout

help:  ## list the commands
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# Installing is quiet: one progress line per step, pip's output in $(INSTALL_LOG) (named when a step fails).
INSTALL_LOG := var/log/install.log
STEP = $(PY) -m stack.step --log $(INSTALL_LOG)

# The locks (requirements/*.txt, `make lock`): every package pinned with its hashes, installed with --no-deps
# (a lock names every dependency; --no-deps also keeps tensorflow-serving-api from pulling the CUDA
# `tensorflow`, requirements/serving.in), then the project itself, editable, built by the locked setuptools.
LOCK := requirements/dev.txt
$(STAMP): pyproject.toml $(LOCK) requirements/install.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "error: $(PYTHON) -m venv $(VENV) failed"; exit 1; }
	@$(STEP) --label "installing Python packages into $(VENV) from $(LOCK) (the first time takes a few minutes)" \
		-- sh -c '$(PIP) install -qq --require-hashes --no-deps -r requirements/install.txt \
		&& $(PIP) install -qq --require-hashes --no-deps -r $(LOCK) \
		&& $(PIP) install -qq --no-deps --no-build-isolation -e .'
	@$(STEP) --label "generating the TF Serving gRPC modules" -- $(PY) -m tfs_protos.build
	@touch $(STAMP)

# The TF Serving gRPC modules (tfs_protos/) are generated, not committed: rebuild them when a .proto changes
# (or in a fresh clone that shares an installed venv).
GENERATED := tfs_protos/generated/__init__.py
$(GENERATED): $(shell find tfs_protos/protos -name '*.proto' 2>/dev/null) tfs_protos/build.py | $(STAMP)
	@$(STEP) --label "generating the TF Serving gRPC modules" -- $(PY) -m tfs_protos.build

install: $(STAMP) $(GENERATED)  ## create .venv and install every part (idempotent)

protos: install  ## regenerate the TF Serving gRPC modules (tfs_protos/generated) from tfs_protos/protos
	$(PY) -m tfs_protos.build

# `make lock`: resolve the locks anew (uv, from the dev group) for CPython 3.11 on x86-64 Linux (glibc 2.36:
# Debian 12, the images' bookworm), generic manylinux wheels. dev.txt is everything `make install` puts in the
# venv; the images' locks (one per pyproject.toml group) and install.txt are resolved inside it (-c), so every
# lock has the same version of a package. A lock keeps its pins unless pyproject.toml asks otherwise;
# UPGRADE=1 moves every package to its newest allowed release.
UV ?= $(VENV)/bin/uv
LOCK_PYTHON := 3.11
LOCK_PLATFORM := x86_64-manylinux_2_36
LOCK_GROUPS := serving gateway frontend loadtest protos dev
IMAGE_LOCKS := gateway frontend protos
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --python-version $(LOCK_PYTHON) \
	--python-platform $(LOCK_PLATFORM) --excludes requirements/excludes.txt --custom-compile-command "make lock" \
	$(if $(UPGRADE),--upgrade)
.PHONY: lock
lock:  ## resolve pyproject.toml's groups into the hashed locks requirements/*.txt (UPGRADE=1: newest releases)
	@test -x $(UV) || { echo "error: $(UV) is missing: make install first (uv is in the dev group)"; exit 1; }
	$(UV_COMPILE) pyproject.toml $(addprefix --extra ,$(LOCK_GROUPS)) requirements/serving.in \
		requirements/install.in -o $(LOCK)
	$(UV_COMPILE) -c $(LOCK) pyproject.toml --extra serving requirements/serving.in -o requirements/serving.txt
	$(foreach group,$(IMAGE_LOCKS),$(UV_COMPILE) -c $(LOCK) pyproject.toml --extra $(group) -o requirements/$(group).txt &&) true
	$(UV_COMPILE) -c $(LOCK) requirements/install.in -o requirements/install.txt

# Two test processes (pytest-xdist), each taking whole files: most tests wait on servers they start, so two
# overlap well even on 2 cores. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile)

test: install  ## run every test (set TEST_DATABASE_URL to also run them on PostgreSQL; TEST_WORKERS)
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: install  ## the tests not marked slow
	$(PY) -m pytest $(XDIST) -m "not slow and not containers" $(PYTEST_ARGS)

lint: install  ## ruff lint and format check, then mypy (configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

export: install  ## export MODEL (resnet50 | efficientnet-lite0) to MODELS_DIR/<model>/<next version>
	$(PY) -m export_model --model $(MODEL) --out $(MODELS_DIR) $(EXPORT_ARGS)

# make run, make serve and make gateway bind 127.0.0.1 unless BIND says otherwise (BIND=0.0.0.0 opens them up).
BIND ?= 127.0.0.1
STACK_ENV = MODEL=$(MODEL) MODELS_DIR=$(MODELS_DIR) BIND=$(BIND) RUNTIME=$(RUNTIME) PRECISION=$(PRECISION) \
	RETRY_RESNET50=$(RETRY_RESNET50)

run: install  ## the whole product on this machine: MODEL, REPLICAS, DATABASE_URL, *_PORT, RETRY_RESNET50=1 (README)
	@$(STACK_ENV) $(PY) -m stack run

stop:  ## stop what `make run` started (from another terminal)
	@if [ -x $(PY) ]; then $(PY) -m stack stop; else echo "nothing to stop"; fi

canary: install  ## label VERSION canary beside stable on the running `make run` (CANARY_PERCENT of users get it)
	@test -n "$(VERSION)" || { echo "usage: make canary VERSION=<n>  (a version folder in $(MODELS_DIR)/<model>/)"; exit 2; }
	@$(STACK_ENV) $(PY) -m stack.rollout canary $(VERSION)

promote: install  ## the canary becomes stable on the running `make run`; the old stable version unloads
	@$(STACK_ENV) $(PY) -m stack.rollout promote

rollback: install  ## drop the canary on the running `make run`; stable stays
	@$(STACK_ENV) $(PY) -m stack.rollout rollback

rollout: install  ## which versions are stable and canary, and what each replica has loaded
	@$(STACK_ENV) $(PY) -m stack.rollout show

serve: install  ## only the model server, every model in MODELS_DIR, on 127.0.0.1:8500/8501 (BIND, RUNTIME, PRECISION)
	@$(STACK_ENV) $(PY) -m stack serve

migrate: install  ## apply the gateway's database migrations to DATABASE_URL (default: SQLite in var/)
	$(VENV)/bin/alembic -c gateway/alembic.ini upgrade head

gateway: install  ## only the gateway, on 127.0.0.1:8000 (BIND, GATEWAY_PORT; SERVING_TARGET, DATABASE_URL, … from the env)
	@$(STACK_ENV) $(PY) -m stack gateway

frontend: install  ## run the web page on :7860 (GATEWAY_URL, default http://127.0.0.1:8000; GRADIO_SERVER_PORT)
	$(PY) -m frontend

clean:  ## remove the venv and generated files (keeps models/ and var/)
	rm -rf $(VENV) tfs_protos/generated .pytest_cache .ruff_cache

# Load tests and benchmarks (loadtest/). HOST from the environment counts only when it is a URL: some shells
# export HOST as the machine's name.
USERS ?= 10
SPAWN_RATE ?= 10
DURATION ?= 60s
REPLICAS ?= 1
TAGS ?=
COMPARE ?=
QUICK ?=
CLIENT ?=
MODEL_BASE ?=
LOADTEST_HOST = $(if $(filter environment,$(origin HOST)),$(filter http://% https://%,$(HOST)),$(HOST))
.PHONY: loadtest bench bench-serving

loadtest: install  ## Locust vs a local stack: USERS SPAWN_RATE DURATION REPLICAS HOST TAGS COMPARE=1 MODEL
	$(PY) -m loadtest.run --users $(USERS) --spawn-rate $(SPAWN_RATE) --duration $(DURATION) \
		--replicas $(REPLICAS) --model $(MODEL) $(if $(LOADTEST_HOST),--host $(LOADTEST_HOST)) \
		$(if $(TAGS),--tags "$(TAGS)") $(if $(COMPARE),--compare) $(if $(MODEL_BASE),--model-base-path $(MODEL_BASE))

# CLIENT: compiled (wrk + h2load, installed when missing as root on Debian), python, or auto (the default).
bench: install  ## model vs serving vs gateway vs bare floors, one run, CPU per process (QUICK=1: tiny model; CLIENT)
	$(PY) -m loadtest.bench $(if $(QUICK),--quick) $(if $(filter-out file default,$(origin MODEL)),--model $(MODEL)) \
		$(if $(RUNTIME),--runtime $(RUNTIME)) $(if $(PRECISION),--precision $(PRECISION)) \
		$(if $(CLIENT),--client $(CLIENT))

bench-serving: install  ## ResNet50 images/s in process (batch 1, 8) and over gRPC, batching on/off, gRPC floor
	$(PY) -m loadtest.bench --serving-only $(if $(QUICK),--quick)

# ---- deploy: docker compose with tensorflow/serving replicas, Kubernetes manifests (deploy/README.md) ----
# OPENVINO=1: the serving replicas on OpenVINO Model Server (the override file), for up, scale and logs;
# SERVING=embedded: on the project's own model server (python -m serving, deploy/docker-compose.embedded.yml)
SERVING ?=
# ENV_FILE: the compose variables (the container suite passes its own; COMPOSE_PROJECT_NAME names the project)
ENV_FILE ?= deploy/.env
COMPOSE := $(strip docker compose --env-file $(ENV_FILE) -f deploy/docker-compose.yml \
	$(if $(OPENVINO),-f deploy/docker-compose.openvino.yml) $(if $(filter embedded,$(SERVING)),-f deploy/docker-compose.embedded.yml))
KUBECTL ?= $(firstword $(wildcard $(VENV)/bin/kubectl) kubectl)
N ?= 2
.PHONY: up up-openvino down scale logs k8s-render k8s-render-openvino local-engine local-engine-stop test-containers

up:  ## docker compose: build, export the model once, start db, serving replicas, gateway, frontend
	@test -f $(ENV_FILE) || { echo "$(ENV_FILE) is missing: cp deploy/.env.example deploy/.env, then set its secrets"; exit 1; }
	$(COMPOSE) up --build --detach
	@echo "Web page: http://localhost:$${FRONTEND_PORT:-7860}  API: http://localhost:$${GATEWAY_PORT:-8000}/docs  (make logs follows them)"

up-openvino:  ## docker compose as `make up`, the serving replicas on OpenVINO Model Server (= make up OPENVINO=1)
	@$(MAKE) --no-print-directory up OPENVINO=1

down:  ## docker compose: stop and remove the containers (VOLUMES=1: the volumes too: database, uploads, models)
	$(COMPOSE) down --remove-orphans $(if $(VOLUMES),--volumes)

scale:  ## docker compose: run N serving replicas, e.g. make scale N=3 (OPENVINO=1 for the OVMS variant)
	$(COMPOSE) up --detach --no-deps --no-recreate --scale serving=$(N) serving

logs:  ## docker compose: follow every service's log
	$(COMPOSE) logs --follow --tail=100

# A Docker engine for tests and CI on a Debian machine without one (root): deploy/local-engine/README.md
local-engine:  ## start a local Docker engine + offline base images where none answers; prints export lines
	@deploy/local-engine/local-engine.sh start

local-engine-stop:  ## stop the engine `make local-engine` started (its images stay in var/local-engine)
	@deploy/local-engine/local-engine.sh stop

test-containers: install  ## the container suite (tests/containers) on a real engine, local one if none answers
	$(PY) -m pytest -m containers tests/containers $(PYTEST_ARGS)

k8s-render:  ## print the Kubernetes manifests of deploy/k8s (kubectl's kustomize)
	@$(KUBECTL) kustomize --load-restrictor LoadRestrictionsNone deploy/k8s

k8s-render-openvino:  ## print the manifests with OpenVINO Model Server replicas (deploy/k8s-openvino overlay)
	@$(KUBECTL) kustomize --load-restrictor LoadRestrictionsNone deploy/k8s-openvino

.PHONY: openvino-quantize bench-engines
openvino-quantize: install  ## build the int8 OpenVINO IR of the latest MODELS_DIR/MODEL version (--runtime openvino)
	$(PY) -m serving.openvino_ir.build --precision int8 --model-dir $(MODELS_DIR)/$(MODEL)

bench-engines: install  ## in-process img/s, start-up and RSS of each engine: TensorFlow, OpenVINO f32/bf16/int8 (MODEL)
	$(PY) -m serving.engines.bench --model-dir $(MODELS_DIR)/$(MODEL)
