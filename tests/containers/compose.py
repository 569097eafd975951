"""The compose project the container suite runs: `make up SERVING=embedded` with its own env file and name."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stack.procs import REPO_ROOT

PROJECT = "ic-containers"
MODEL = "efficientnet-lite0"  # weights ship in a package: no download
UP_TIMEOUT_SECONDS = 1500  # a cold build downloads TensorFlow; the export job makes the runtime decision
COMPOSE_FILES = ("deploy/docker-compose.yml", "deploy/docker-compose.embedded.yml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_env_file(path: Path, engine_env: dict[str, str]) -> dict[str, str]:
    """deploy/.env.example with real secrets, the offline images, the tiny model and free host ports."""
    values = {
        "SECRET_KEY": secrets.token_hex(32),
        "POSTGRES_PASSWORD": "pw" + secrets.token_hex(8),
        "ADMIN_PASSWORD": "adm" + secrets.token_hex(8),
        "METRICS_TOKEN": secrets.token_hex(32),
        "PROXY_SECRET": secrets.token_hex(32),
        "MODEL": MODEL,
        "SERVING_REPLICAS": "2",
        "SERVING_CPUS": "1",
        "GATEWAY_WORKERS": "2",
        "GATEWAY_PORT": str(free_port()),
        "FRONTEND_PORT": str(free_port()),
        **{k: v for k, v in engine_env.items() if k != "DOCKER_HOST"},
    }
    lines = []
    for raw in (REPO_ROOT / "deploy" / ".env.example").read_text(encoding="utf-8").splitlines():
        name = raw.partition("=")[0]
        if raw and not raw.startswith("#") and name in values:
            raw = f"{name}={values.pop(name)}"
        lines.append(raw)
    lines += [f"{name}={value}" for name, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@dataclass
class Stack:
    env_file: Path
    values: dict[str, str]
    engine_env: dict[str, str]
    up_seconds: float = 0.0

    @property
    def process_env(self) -> dict[str, str]:
        return {**os.environ, **self.engine_env, "COMPOSE_PROJECT_NAME": PROJECT}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.values['GATEWAY_PORT']}"

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.values['FRONTEND_PORT']}"

    def make(self, target: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [
            "make",
            "--no-print-directory",
            target,
            "SERVING=embedded",
            f"ENV_FILE={self.env_file}",
            *args,
        ]
        result = subprocess.run(
            command, cwd=REPO_ROOT, env=self.process_env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, (
            f"{' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "--env-file", str(self.env_file)]
        for file in COMPOSE_FILES:
            command += ["-f", file]
        result = subprocess.run(
            [*command, *args],
            cwd=REPO_ROOT,
            env=self.process_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, (
                f"compose {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def docker(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args], env=self.process_env, capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result

    def containers(self, service: str | None = None, all_states: bool = False) -> list[str]:
        args = ["ps", "--quiet"] + (["--all"] if all_states else [])
        args += ["--filter", f"label=com.docker.compose.project={PROJECT}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        return self.docker(*args).stdout.split()

    def inspect(self, container: str) -> dict[str, Any]:
        info: list[dict[str, Any]] = json.loads(self.docker("inspect", container).stdout)
        return info[0]

    def health(self, container: str) -> str:
        state = self.inspect(container)["State"]
        return str((state.get("Health") or {}).get("Status") or state["Status"])

    def wait_healthy(self, service: str, count: int, timeout: float = 300) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            ids = self.containers(service)
            healthy = [c for c in ids if self.health(c) == "healthy"]
            if len(healthy) >= count:
                return healthy
            assert time.monotonic() < deadline, f"{len(healthy)} of {count} {service} containers healthy"
            time.sleep(1)

    def exec_python(self, container: str, code: str) -> str:
        return self.docker("exec", container, "python", "-c", code).stdout

    def replica_predictions(self, container: str) -> float:
        """gRPC requests (predictions, model status) this replica counted itself (its Prometheus counter)."""
        text = self.exec_python(
            container,
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:8501/monitoring/prometheus/metrics', timeout=10).read().decode())",
        )
        total = 0.0
        for line in text.splitlines():
            if line.startswith("tensorflow_serving_request_count_total{") and 'api="grpc"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_serving_through_proxy(self, token: str, timeout: float = 180) -> None:
        from tests.containers.client import predict

        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.gateway_url, timeout=30) as client:
            while True:
                try:
                    if predict(client, token).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "no prediction through the proxy"
                time.sleep(1)
