"""Session fixtures that start `python -m serving` processes (owned by the serving work)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.procs import PYTHON, REPO_ROOT, Service, free_port

SERVING_DIR = REPO_ROOT / "serving"
BATCHING_CONFIG = SERVING_DIR / "batching.config"
MONITORING_CONFIG = SERVING_DIR / "monitoring.config"
START_TIMEOUT = 240  # importing TensorFlow and loading a model on a busy 2-core machine


@dataclass
class ServingProcess:
    service: Service
    model_name: str
    grpc_port: int
    rest_port: int

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def model_available(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.rest_url}/v1/models/{self.model_name}", timeout=2
            ) as response:
                states = [v["state"] for v in json.load(response)["model_version_status"]]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False
        return "AVAILABLE" in states

    def stop(self) -> int | None:
        return self.service.stop()

    def kill(self) -> None:
        self.service.kill()


StartServing = Callable[..., ServingProcess]


def serving_args(
    base_path: Path,
    model_name: str,
    grpc_port: int,
    rest_port: int,
    *,
    batching: bool = True,
    extra_args: Sequence[str] = (),
) -> list[str]:
    args = [
        PYTHON,
        "-m",
        "serving",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_name={model_name}",
        f"--model_base_path={base_path}",
        f"--monitoring_config_file={MONITORING_CONFIG}",
        "--file_system_poll_wait_seconds=1",
    ]
    if batching:
        args += ["--enable_batching", f"--batching_parameters_file={BATCHING_CONFIG}"]
    return [*args, *extra_args]


@pytest.fixture(scope="session")
def start_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServing]:
    """`start_serving(base_path, model_name, *, batching=True, extra_args=())` -> a running server whose
    model is AVAILABLE. Later flags in `extra_args` override earlier ones (e.g. another batching file)."""
    logs = tmp_path_factory.mktemp("serving-logs")
    started: list[ServingProcess] = []

    def start(
        base_path: Path, model_name: str, *, batching: bool = True, extra_args: Sequence[str] = ()
    ) -> ServingProcess:
        grpc_port, rest_port = free_port(), free_port()
        args = serving_args(
            base_path, model_name, grpc_port, rest_port, batching=batching, extra_args=extra_args
        )
        service = Service(args, logs / f"{model_name}-{grpc_port}.log")
        process = ServingProcess(service, model_name, grpc_port, rest_port)
        started.append(process)
        service.wait_ready(process.model_available, START_TIMEOUT, what=f"serving {model_name}")
        return process

    yield start
    for process in started:
        process.stop()
