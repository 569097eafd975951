"""Start real processes on free ports, wait until they answer, stop them (used by loadtest and the tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    proc: subprocess.Popen | None = None,
    what: str = "process",
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s:\n{_tail(log)}")


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class Service:
    """A child process with its log file; `stop()` sends SIGTERM, then SIGKILL."""

    def __init__(
        self, args: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
    ) -> None:
        self.args = list(args)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            cwd=cwd,
            env=full_env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, check: Callable[[], bool], timeout: float = 120, what: str | None = None) -> None:
        wait_until(check, timeout, self.proc, what or " ".join(self.args[:3]), self.log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode

    def kill(self) -> None:
        """Die abruptly, as a crashed replica would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@contextlib.contextmanager
def running(
    args: Sequence[str],
    log: Path,
    ready: Callable[[], bool],
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Iterator[Service]:
    service = Service(args, log, env)
    try:
        service.wait_ready(ready, timeout)
        yield service
    finally:
        service.stop()


PYTHON = sys.executable
