"""Session fixtures that start `python -m serving` processes (owned by the serving work)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.commands import BATCHING_CONFIG, MONITORING_CONFIG, SERVING_DIR, serving_command
from stack.procs import LOCAL, Service, ServiceExitedError, free_port, model_available, stop_all

__all__ = [
    "BATCHING_CONFIG",
    "MONITORING_CONFIG",
    "SERVING_DIR",
    "ServingProcess",
    "StartServing",
    "serving_args",
]

START_TIMEOUT = 240  # importing TensorFlow and loading a model on a busy 2-core machine
PORT_ATTEMPTS = 3  # free_port's ports can be taken before the server binds them (the other test worker)


@dataclass
class ServingProcess:
    service: Service
    model_name: str
    grpc_port: int
    rest_port: int

    @property
    def grpc_target(self) -> str:
        return f"{LOCAL}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{LOCAL}:{self.rest_port}"

    def model_available(self) -> bool:
        return model_available(self.rest_url, self.model_name)

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
    """The `python -m serving` command line of the fixtures (stack's builder, polling every second)."""
    return serving_command(
        grpc_port,
        rest_port,
        model_name=model_name,
        base_path=base_path,
        batching=batching,
        poll_seconds=1,
        extra_args=extra_args,
    ).args


@contextlib.contextmanager
def _serving_starter(logs: Path) -> Iterator[StartServing]:
    started: list[ServingProcess] = []

    def start(
        base_path: Path, model_name: str, *, batching: bool = True, extra_args: Sequence[str] = ()
    ) -> ServingProcess:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            grpc_port, rest_port = free_port(), free_port()
            args = serving_args(
                base_path, model_name, grpc_port, rest_port, batching=batching, extra_args=extra_args
            )
            service = Service(args, logs / f"{model_name}-{grpc_port}.log", name=f"serving {model_name}")
            process = ServingProcess(service, model_name, grpc_port, rest_port)
            started.append(process)
            try:
                service.wait_ready(process.model_available, START_TIMEOUT, what=f"serving {model_name}")
            except ServiceExitedError:
                if attempt == PORT_ATTEMPTS or not service.lost_port_race():
                    raise
                continue
            return process
        raise AssertionError("unreachable")

    try:
        yield start
    finally:
        stop_all(process.service for process in started)  # all SIGTERMed at once: they drain in parallel


@pytest.fixture
def start_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServing]:
    """`start_serving(base_path, model_name, *, batching=True, extra_args=())` -> a running server whose
    model is AVAILABLE, stopped at the end of the test. Later flags in `extra_args` override earlier ones
    (e.g. another batching file)."""
    with _serving_starter(tmp_path_factory.mktemp("serving-logs")) as start:
        yield start


@pytest.fixture(scope="session")
def start_shared_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServing]:
    """`start_serving` for module- and session-scoped fixtures: the servers live until the session ends."""
    with _serving_starter(tmp_path_factory.mktemp("serving-logs")) as start:
        yield start
