"""Start, watch and stop the stack's processes; each gets its own session so it stops with its children."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stack.config import StackSettings


@dataclass
class ServiceSpec:
    name: str
    args: list[str]
    ports: dict[str, int]  # port -> the variable that changes it
    ready_url: str
    ready: Callable[[bytes], bool] = lambda body: True
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""


@dataclass
class Running:
    spec: ServiceSpec
    proc: subprocess.Popen
    log: Path


class PortInUseError(RuntimeError):
    pass


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def check_ports(specs: list[ServiceSpec], host: str) -> None:
    for spec in specs:
        for port, variable in spec.ports.items():
            if not port_is_free(host, port):
                raise PortInUseError(
                    f"port {port} ({spec.name}) is already in use: stop what uses it (`make stop` if it is "
                    f"an earlier `make run`) or choose another with {variable}=…"
                )


def serving_specs(settings: StackSettings, model: str) -> list[ServiceSpec]:
    specs = []
    for index, (grpc_port, rest_port) in enumerate(settings.replica_ports()):
        suffix = "" if settings.replicas == 1 else f"-{index + 1}"
        rest = f"http://{settings.host}:{rest_port}"
        specs.append(
            ServiceSpec(
                name=f"serving{suffix}",
                args=[
                    sys.executable,
                    "-m",
                    "serving",
                    f"--port={grpc_port}",
                    f"--rest_api_port={rest_port}",
                    f"--model_name={model}",
                    f"--model_base_path={settings.models_dir / model}",
                    "--enable_batching",
                    "--batching_parameters_file=serving/batching.config",
                    "--monitoring_config_file=serving/monitoring.config",
                ],
                ports={grpc_port: "SERVING_PORT", rest_port: "SERVING_REST_PORT"},
                ready_url=f"{rest}/v1/models/{model}",
                ready=lambda body: b'"AVAILABLE"' in body,
                url=f"grpc {settings.host}:{grpc_port}, REST {rest}/v1/models/{model}",
            )
        )
    return specs


def gateway_spec(settings: StackSettings, model: str) -> ServiceSpec:
    targets = ",".join(f"{settings.host}:{grpc}" for grpc, _ in settings.replica_ports())
    env = {"SERVING_TARGET": targets, "MODEL_NAME": model, "UPLOAD_DIR": str(settings.var_dir / "uploads")}
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    url = f"http://{settings.host}:{settings.gateway_port}"
    return ServiceSpec(
        name="gateway",
        args=[
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.main:app",
            "--host",
            settings.host,
            "--port",
            str(settings.gateway_port),
        ],
        ports={settings.gateway_port: "GATEWAY_PORT"},
        ready_url=f"{url}/ready",
        env=env,
        url=f"{url}/docs",
    )


def frontend_spec(settings: StackSettings) -> ServiceSpec:
    url = f"http://{settings.host}:{settings.frontend_port}"
    return ServiceSpec(
        name="frontend",
        args=[sys.executable, "-m", "frontend"],
        ports={settings.frontend_port: "GRADIO_SERVER_PORT"},
        ready_url=f"{url}/",
        env={
            "GATEWAY_URL": f"http://{settings.host}:{settings.gateway_port}",
            "GRADIO_SERVER_PORT": str(settings.frontend_port),
            "GRADIO_SERVER_NAME": settings.host,
        },
        url=url,
    )


def start(spec: ServiceSpec, settings: StackSettings) -> Running:
    log = settings.log_dir / f"{spec.name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            spec.args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return Running(spec, proc, log)


def answers(spec: ServiceSpec) -> bool:
    try:
        with urllib.request.urlopen(spec.ready_url, timeout=2) as response:
            return response.status == 200 and spec.ready(response.read())
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(running: Running, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            raise RuntimeError(
                f"{running.spec.name} exited with code {running.proc.returncode}; see {running.log}"
            )
        if answers(running.spec):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{running.spec.name} not ready after {timeout:.0f}s; see {running.log}")


def stop_group(pid: int, timeout: float = 20) -> None:
    """SIGTERM the process group (serving drains in-flight requests), SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def write_state(settings: StackSettings, running: list[Running]) -> None:
    settings.state_file.parent.mkdir(parents=True, exist_ok=True)
    state = {"supervisor": os.getpid(), "services": {r.spec.name: r.proc.pid for r in running}}
    settings.state_file.write_text(json.dumps(state))


def read_state(settings: StackSettings) -> dict:
    try:
        return json.loads(settings.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
