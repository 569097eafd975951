"""The deploy files, loaded the way docker compose and kustomize load them (no Docker engine needed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.procs import REPO_ROOT
from tests.deploy.compose_env import interpolate, merge, parse_env_file
from tests.deploy.dockerfile import Stage, parse_dockerfile

DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
COMPOSE_OPENVINO_FILE = DEPLOY / "docker-compose.openvino.yml"
COMPOSE_EMBEDDED_FILE = DEPLOY / "docker-compose.embedded.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S_DIR = DEPLOY / "k8s"
K8S_OPENVINO_DIR = DEPLOY / "k8s-openvino"
ARCHITECTURE = REPO_ROOT / "tests" / "data" / "ARCHITECTURE.md"  # a copy: tests/data/README.md
# what an operator puts into deploy/.env for the values .env.example leaves empty
TEST_SECRETS = {
    "SECRET_KEY": "0123456789abcdef" * 4,
    "POSTGRES_PASSWORD": "pw4test",
    "ADMIN_PASSWORD": "adm1n-pass-4-test",
    "METRICS_TOKEN": "fedcba9876543210" * 4,
    "PROXY_SECRET": "a1b2c3d4e5f60718" * 4,
}


def venv_tool(name: str) -> str:
    """A validator installed by the dev group, beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the dev group (make install)")
    return found


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [venv_tool("kubectl"), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="session")
def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def compose(compose_raw: dict[str, Any], env_example: dict[str, str]) -> dict[str, Any]:
    """The compose model with deploy/.env = .env.example plus the three secrets filled in."""
    return interpolate(compose_raw, {**env_example, **TEST_SECRETS})


@pytest.fixture(scope="session")
def compose_openvino(compose_raw: dict[str, Any], env_example: dict[str, str]) -> dict[str, Any]:
    """`-f docker-compose.yml -f docker-compose.openvino.yml`, interpolated like `compose`."""
    override = yaml.safe_load(COMPOSE_OPENVINO_FILE.read_text())
    return interpolate(merge(compose_raw, override), {**env_example, **TEST_SECRETS})


def by_key(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Rendered resources by (kind, name); generated ConfigMaps under their name without the hash suffix."""
    resources = {}
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap":
            name = name.rsplit("-", 1)[0]
        resources[(doc["kind"], name)] = doc
    return resources


@pytest.fixture(scope="session")
def k8s_docs() -> list[dict[str, Any]]:
    return render_kustomization(K8S_DIR)


@pytest.fixture(scope="session")
def k8s(k8s_docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return by_key(k8s_docs)


@pytest.fixture(scope="session")
def k8s_openvino_docs() -> list[dict[str, Any]]:
    return render_kustomization(K8S_OPENVINO_DIR)


@pytest.fixture(scope="session")
def k8s_openvino(k8s_openvino_docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return by_key(k8s_openvino_docs)


@pytest.fixture(scope="session")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DOCKERFILE)
