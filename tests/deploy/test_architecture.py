"""The deploy files agree with the architecture document (tests/data/ARCHITECTURE.md) on ports and on the
gateway's settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.conftest import ARCHITECTURE


@pytest.fixture(scope="module")
def architecture() -> str:
    return ARCHITECTURE.read_text()


def test_ports_are_the_architecture_ports(
    architecture: str, compose: dict[str, Any], k8s: dict[tuple[str, str], dict[str, Any]]
) -> None:
    assert re.search(r"frontend \(Gradio, :(\d+)\)", architecture).group(1) == "7860"
    assert re.search(r"gateway \(FastAPI, :(\d+)\)", architecture).group(1) == "8000"
    grpc, rest = re.search(r"serving replicas \(:(\d+) gRPC, :(\d+) REST\)", architecture).groups()
    command = compose["services"]["serving"]["command"]
    assert f"--port={grpc}" in command
    assert f"--rest_api_port={rest}" in command
    assert compose["services"]["serving"]["expose"] == [grpc, rest]
    assert compose["services"]["gateway"]["environment"]["SERVING_TARGET"].endswith(f":{grpc}")
    assert {p["port"] for p in k8s[("Service", "serving")]["spec"]["ports"]} == {int(grpc), int(rest)}
    assert k8s[("Service", "gateway")]["spec"]["ports"][0]["port"] == 8000
    assert k8s[("Service", "frontend")]["spec"]["ports"][0]["port"] == 7860


def test_the_gateway_gets_every_setting_the_architecture_names(
    architecture: str, compose: dict[str, Any], k8s: dict[tuple[str, str], dict[str, Any]]
) -> None:
    line = next(x for x in architecture.splitlines() if "Settings from environment variables" in x)
    named = set(re.findall(r"`([A-Z][A-Z_]+)`", line))
    assert named >= {"DATABASE_URL", "SERVING_TARGET", "MODEL_NAME", "UPLOAD_DIR", "SECRET_KEY"}
    assert named <= set(compose["services"]["gateway"]["environment"])
    gateway = k8s[("Deployment", "gateway")]["spec"]["template"]["spec"]["containers"][0]
    k8s_names = {e["name"] for e in gateway["env"]} | set(k8s[("ConfigMap", "gateway-config")]["data"])
    assert named <= k8s_names


def test_the_metrics_port_is_the_architecture_one_and_published_nowhere(
    architecture: str, compose: dict[str, Any], k8s: dict[tuple[str, str], dict[str, Any]]
) -> None:
    port = re.search(r"metrics port :(\d+) in compose and k8s", architecture).group(1)
    gateway = compose["services"]["gateway"]
    assert gateway["environment"]["GATEWAY_METRICS_PORT"] == port
    assert port in gateway["expose"]
    assert "ports" not in gateway  # inside the project's network only
    assert k8s[("ConfigMap", "gateway-config")]["data"]["GATEWAY_METRICS_PORT"] == port
    service = {p["name"]: p["port"] for p in k8s[("Service", "gateway")]["spec"]["ports"]}
    assert service["metrics"] == int(port)
    annotations = k8s[("Deployment", "gateway")]["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (port, "/metrics")
