"""The serving command line of compose and k8s, run by `python -m serving` on the tiny model."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stack.procs import PYTHON, Service, free_port
from tests.deploy.conftest import DEPLOY
from tests.serving_fixtures import START_TIMEOUT, ServingProcess

CONTAINER_MODELS = "/models"


def compose_serving_args(compose: dict[str, Any]) -> list[str]:
    return compose["services"]["serving"]["command"]


def k8s_serving_args(k8s: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The container's args as the kubelet expands them: $(SERVING_CPUS) = whole cores of the CPU limit."""
    spec = k8s[("Deployment", "serving")]["spec"]["template"]["spec"]
    main = next(c for c in spec["containers"] if c["name"] == "serving")
    cpus = str(int(main["resources"]["limits"]["cpu"]))
    return [arg.replace("$(SERVING_CPUS)", cpus) for arg in main["args"]]


def test_compose_and_k8s_start_serving_the_same_way(
    compose: dict[str, Any], k8s: dict[tuple[str, str], dict[str, Any]]
) -> None:
    assert compose_serving_args(compose) == k8s_serving_args(k8s)
    assert compose["services"]["serving"]["image"] == next(
        c["image"] for c in k8s[("Deployment", "serving")]["spec"]["template"]["spec"]["containers"]
    )


def local_args(
    container_args: list[str], config_files: dict[str, Path], models_dir: Path, grpc_port: int, rest_port: int
) -> list[str]:
    """The container's flags with its paths and ports mapped to this machine's."""
    args = []
    for item in container_args:
        flag, has_value, value = item.partition("=")
        if flag == "--port":
            value = str(grpc_port)
        elif flag == "--rest_api_port":
            value = str(rest_port)
        elif value in config_files:
            value = str(config_files[value])
        args.append(f"{flag}={value}" if has_value else flag)
    return [PYTHON, "-m", "serving", *args, f"--models_dir={models_dir}"]


@pytest.fixture(scope="module")
def deploy_serving(
    compose: dict[str, Any], tiny_model_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """`python -m serving` started with compose's flags and config files; the tiny model under each name
    that models.config lists, in a folder standing in for the models volume."""
    config_files = {
        item["target"]: (DEPLOY / compose["configs"][item["source"]]["file"]).resolve()
        for item in compose["services"]["serving"]["configs"]
    }
    models_config = config_files["/etc/serving/models.config"].read_text()
    models_dir = tmp_path_factory.mktemp("models-volume")
    for base_path in re.findall(r'base_path: "([^"]+)"', models_config):
        assert base_path.startswith(f"{CONTAINER_MODELS}/")
        shutil.copytree(tiny_model_base, models_dir / base_path.removeprefix(f"{CONTAINER_MODELS}/"))
    grpc_port, rest_port = free_port(), free_port()
    args = local_args(compose_serving_args(compose), config_files, models_dir, grpc_port, rest_port)
    log = tmp_path_factory.mktemp("deploy-serving-log") / "serving.log"
    model = compose["services"]["gateway"]["environment"]["MODEL_NAME"]
    process = ServingProcess(Service(args, log), model, grpc_port, rest_port)
    try:
        process.service.wait_ready(process.model_available, START_TIMEOUT, what="serving with deploy flags")
        yield process
    finally:
        process.stop()


@pytest.mark.slow
def test_deploy_flags_serve_the_model_available(deploy_serving: ServingProcess) -> None:
    assert deploy_serving.model_available()
    with urllib.request.urlopen(f"{deploy_serving.rest_url}/monitoring/prometheus/metrics", timeout=5) as r:
        assert r.status == 200


def run_healthcheck(test: list[str], rest_port: int) -> int:
    assert test[0] == "CMD"
    command = [part.replace("127.0.0.1/8501", f"127.0.0.1/{rest_port}") for part in test[1:]]
    return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode


@pytest.mark.slow
def test_compose_healthcheck_passes_against_the_running_server(
    compose: dict[str, Any], deploy_serving: ServingProcess
) -> None:
    test = compose["services"]["serving"]["healthcheck"]["test"]
    assert run_healthcheck(test, deploy_serving.rest_port) == 0
    other = [
        part.replace(f"/v1/models/{deploy_serving.model_name} ", "/v1/models/no-such-model ") for part in test
    ]
    assert run_healthcheck(other, deploy_serving.rest_port) != 0


@pytest.mark.slow
def test_k8s_readiness_probe_path_answers(
    k8s: dict[tuple[str, str], dict[str, Any]], deploy_serving: ServingProcess
) -> None:
    spec = k8s[("Deployment", "serving")]["spec"]["template"]["spec"]
    path = spec["containers"][0]["readinessProbe"]["httpGet"]["path"]
    with urllib.request.urlopen(f"{deploy_serving.rest_url}{path}", timeout=5) as response:
        assert response.status == 200
        assert b"AVAILABLE" in response.read()
