"""A real `python -m gateway` process for the live tests (through stack/'s gateway command)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stack.commands import gateway_command
from stack.procs import Service, free_port, http_ok
from tests.gateway.conftest import TEST_SECRET

NO_SERVING = "127.0.0.1:1"  # nothing listens: /health and the auth routes need no model server


@dataclass
class LiveGateway:
    url: str
    port: int
    service: Service

    @property
    def pid(self) -> int:
        return self.service.proc.pid


@contextlib.contextmanager
def live_gateway(
    folder: Path,
    env: dict[str, str] | None = None,
    *,
    serving_target: str = NO_SERVING,
    model_name: str | None = None,
    workers: int = 1,
    prefix: Sequence[str] = (),
    ready_path: str = "/health",
) -> Iterator[LiveGateway]:
    """`python -m gateway` on a free loopback port with its own SQLite file and upload folder; `prefix` runs
    it under another command (`prlimit …`). Stopped afterwards; its log must hold no traceback."""
    port = free_port()
    command = gateway_command(
        port,
        serving_target=serving_target,
        model_name=model_name,
        database_url=f"sqlite+aiosqlite:///{folder / 'gateway.db'}",
        upload_dir=folder / "uploads",
        secret_key=TEST_SECRET,
        workers=workers,
        env=env,
    )
    service = Service([*prefix, *command.args], folder / "gateway.log", command.env, name="gateway")
    url = f"http://127.0.0.1:{port}"
    try:
        service.wait_ready(lambda: http_ok(f"{url}{ready_path}"), timeout=120, what="gateway")
        yield LiveGateway(url, port, service)
    finally:
        service.stop()
    assert "Traceback" not in service.log_text(), service.log_text()[-3000:]


def status_field(pid: int, field: str) -> int:
    """A size from /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


def reset_peak_rss(pid: int) -> int:
    """Restart the process's peak RSS (VmHWM) from its current RSS, which is returned (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status_field(pid, "VmRSS")
