"""A throwaway testbed for load tests and benchmarks: serving replicas and a gateway, stopped by whoever
started it (processes, command lines and the model export come from `stack/`).

Every process listens on free ports of 127.0.0.1 (never the product's default ports, which `make run` may
be using); the gateway gets a fresh SQLite database and upload folder under the run's work directory. The
floors (`loadtest.floor_http`, `loadtest.floor_grpc`) start here too: the HTTP floor served as the
gateway is (uvicorn with boundedhttp's bounds). Every process runs in its own session and is stopped
(SIGTERM, then SIGKILL) when the `with` block ends, whatever happened inside it.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import model_repository
from stack.commands import gateway_command, serving_command
from stack.model import ExportFailedError, ensure_model
from stack.procs import (
    LOCAL,
    PYTHON,
    REPO_ROOT,
    Service,
    ServiceExitedError,
    free_port,
    http_ok,
    model_available,
    port_is_free,
)

BENCH_MODELS_DIR = REPO_ROOT / "var" / "bench-models"
# Weights asked of `python -m export_model` per model; None = the model's own (bundled or test-only).
EXPORT_WEIGHTS = {"resnet50": "random", "tiny": None, "efficientnet-lite0": None}
WEIGHTS_NOTE = {
    "resnet50": "random weights (ResNet50 architecture; right for speed, meaningless labels)",
    "tiny": "tiny random test network (checks the plumbing, says nothing about speed)",
    "efficientnet-lite0": "real ImageNet weights bundled with a Python package",
}
READY_TIMEOUT = 600.0
START_ATTEMPTS = 3

Say = Callable[[str], None]


def model_note(model: str) -> str:
    return WEIGHTS_NOTE.get(model, "weights as exported")


def bench_model(model: str, models_dir: Path, say: Say = print) -> Path:
    """`models_dir/model`, exporting version 1 first (with the weights a benchmark wants) when it has none."""
    base = models_dir / model
    if model not in EXPORT_WEIGHTS and not model_repository.has_version(base):
        raise SystemExit(f"{base} holds no exported version and {model!r} is not one loadtest exports")
    try:
        base = ensure_model(
            model,
            models_dir,
            log=models_dir / "export.log",
            weights=EXPORT_WEIGHTS.get(model),
            note=model_note(model),
            speak=say,
        )
    except ExportFailedError as error:
        raise SystemExit(str(error)) from error
    say(f"model: {model} from {base} — {model_note(model)}")
    return base


def _port_pair() -> tuple[int, int]:
    return free_port(), free_port()


def _listening(port: int) -> bool:
    return not port_is_free(LOCAL, port)


@dataclass
class Replica:
    grpc_port: int
    rest_port: int
    service: Service

    @property
    def grpc_target(self) -> str:
        return f"{LOCAL}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{LOCAL}:{self.rest_port}"


class Testbed:
    def __init__(
        self, workdir: Path, model_base: Path, say: Say = print, serving_args: Sequence[str] = ()
    ) -> None:
        self.workdir = workdir
        self.serving_args = list(serving_args)
        self.model_base = model_base
        self.model_name = model_base.name
        self.say = say
        self.replicas: list[Replica] = []
        self.gateway: Service | None = None
        self.gateway_url = ""
        self.http_floor_url = ""
        self.grpc_floor_target = ""
        self._services: list[Service] = []
        workdir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Testbed:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start_serving(self, replicas: int = 1, batching: bool = True) -> list[Replica]:
        # Launched together so that the replicas load their model in parallel.
        started = [self._launch_replica(_port_pair(), batching) for _ in range(replicas)]
        for index, replica in enumerate(started):
            for attempt in range(1, START_ATTEMPTS + 1):
                try:
                    replica.service.wait_ready(
                        functools.partial(model_available, replica.rest_url, self.model_name),
                        READY_TIMEOUT,
                        f"serving on {replica.grpc_target}",
                    )
                    break
                except ServiceExitedError:
                    if attempt == START_ATTEMPTS or not replica.service.lost_port_race():
                        raise
                    self._forget(replica)  # another program took a port meanwhile: try free ones
                    replica = started[index] = self._launch_replica((free_port(), free_port()), batching)
        batching_word = "batching on" if batching else "batching off"
        self.say(
            f"serving: {', '.join(r.grpc_target for r in started)} ({batching_word}), logs in {self.workdir}"
        )
        return started

    def _launch_replica(self, ports: tuple[int, int], batching: bool) -> Replica:
        grpc_port, rest_port = ports
        command = serving_command(
            grpc_port,
            rest_port,
            model_name=self.model_name,
            base_path=self.model_base,
            batching=batching,
            monitoring_config=None,
            extra_args=self.serving_args,
        )
        log = self.workdir / f"serving-{grpc_port}{'-batching' if batching else ''}.log"
        replica = Replica(grpc_port, rest_port, self._start(command.args, log, command.env))
        self.replicas.append(replica)
        return replica

    def start_gateway(self, replicas: list[Replica], workers: int = 1) -> str:
        """`python -m gateway`, warnings only: the gateway logs every request at INFO."""
        target = ",".join(r.grpc_target for r in replicas)
        port = free_port()
        for attempt in range(1, START_ATTEMPTS + 1):
            command = gateway_command(
                port,
                serving_target=target,
                model_name=self.model_name,
                database_url=f"sqlite+aiosqlite:///{self.workdir / 'gateway.db'}",
                upload_dir=self.workdir / "uploads",
                secret_key=secrets.token_urlsafe(32),
                workers=workers,
                quiet=True,
            )
            self.gateway = self._start(command.args, self.workdir / f"gateway-{port}.log", command.env)
            self.gateway_url = f"http://{LOCAL}:{port}"
            try:
                self.gateway.wait_ready(
                    lambda: http_ok(f"{self.gateway_url}/ready"), READY_TIMEOUT, "gateway"
                )
                break
            except ServiceExitedError:
                if attempt == START_ATTEMPTS or not self.gateway.lost_port_race():
                    raise
                self.gateway.stop()
                self._services.remove(self.gateway)
                port = free_port()
        self.say(f"gateway: {self.gateway_url} -> SERVING_TARGET={target}")
        return self.gateway_url

    def start_http_floor(self) -> Service:
        """`loadtest.floor_http`, served as the gateway is (uvicorn with boundedhttp's bounds)."""
        port = free_port()
        args = [PYTHON, "-m", "loadtest.floor_http", "--port", str(port)]
        service = self._start(args, self.workdir / f"floor-http-{port}.log", {})
        service.wait_ready(lambda: http_ok(f"http://{LOCAL}:{port}/ready"), READY_TIMEOUT, "http floor")
        self.http_floor_url = f"http://{LOCAL}:{port}"
        self.say(f"http floor: {self.http_floor_url}")
        return service

    def start_grpc_floor(self) -> Service:
        port = free_port()
        args = [PYTHON, "-m", "loadtest.floor_grpc", "--host", LOCAL, "--port", str(port)]
        service = self._start(args, self.workdir / f"floor-grpc-{port}.log", {})
        service.wait_ready(functools.partial(_listening, port), READY_TIMEOUT, "grpc floor")
        self.grpc_floor_target = f"{LOCAL}:{port}"
        self.say(f"grpc floor: {self.grpc_floor_target}")
        return service

    def stop_service(self, service: Service) -> None:
        service.stop()
        self._services.remove(service)

    def stop_serving(self, replicas: list[Replica]) -> None:
        for replica in replicas:
            self._forget(replica)

    def _forget(self, replica: Replica) -> None:
        replica.service.stop()
        self.replicas.remove(replica)
        self._services.remove(replica.service)

    def stop(self) -> None:
        """Gateway first, then serving, so nothing calls a stopped dependency."""
        while self._services:
            self._services.pop().stop()
        self.replicas.clear()
        self.gateway = None

    def _start(self, args: list[str], log: Path, env: dict[str, str]) -> Service:
        service = Service(args, log, env)
        self._services.append(service)
        return service
