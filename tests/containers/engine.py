"""The container suite's Docker engine: the one that answers, else the local one (deploy/local-engine/)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stack.procs import REPO_ROOT

LOCAL_ENGINE = REPO_ROOT / "deploy" / "local-engine" / "local-engine.sh"
START_TIMEOUT_SECONDS = 900  # a first start installs packages and debootstraps the base image


@dataclass
class Engine:
    env: dict[str, str] = field(default_factory=dict)
    """DOCKER_HOST, PYTHON_IMAGE, ... as `make local-engine` printed them (empty: an engine that answered)."""
    started: bool = False


def answers(env: dict[str, str] | None = None) -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30, check=False, env={**os.environ, **(env or {})}
    )
    return result.returncode == 0


def why_no_local_engine() -> str | None:
    if os.geteuid() != 0:
        return "no Docker engine answers, and the local engine needs root"
    if "ID=debian" not in Path("/etc/os-release").read_text(encoding="utf-8"):
        return "no Docker engine answers, and the local engine needs Debian"
    return None


def parse_exports(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line.removeprefix("export ").split("=", 1)
            env[name] = value
    return env


def local_engine(command: str) -> str:
    result = subprocess.run(
        [str(LOCAL_ENGINE), command],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"local-engine.sh {command} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def provide() -> Engine:
    """The engine that answers as it is; else the local one, started here (a running one is reused)."""
    if answers():
        return Engine()
    reason = why_no_local_engine()
    if reason is not None:
        raise LookupError(reason)
    already = subprocess.run([str(LOCAL_ENGINE), "env"], capture_output=True, timeout=60, check=False)
    env = parse_exports(local_engine("start"))
    return Engine(env=env, started=already.returncode != 0)


def release(engine: Engine) -> None:
    if engine.started:
        local_engine("stop")
