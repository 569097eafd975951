"""The one way to run a service: a child process with its log, a readiness wait, a stop leaving nothing.

Each process gets its own session (process group), so stopping it also stops what it started (uvicorn
workers, say): SIGTERM first, so that servers drain their in-flight requests, then SIGKILL after a timeout.
Used by `python -m stack`, the load tests and the test fixtures.
"""

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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOCAL = "127.0.0.1"
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


# --- readiness checks ---


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError):
        return False


def model_available(rest_url: str, model_name: str) -> bool:
    """A version of `model_name` is AVAILABLE on the model server at `rest_url` (TF Serving's REST status)."""
    try:
        with urllib.request.urlopen(f"{rest_url}/v1/models/{model_name}", timeout=2) as response:
            statuses = json.load(response).get("model_version_status", [])
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(isinstance(s, dict) and s.get("state") == "AVAILABLE" for s in statuses)


# --- processes ---


def _where(log: Path | None, tail_text: str) -> str:
    return (f"; see {log}" if log else "") + (f"\n{tail_text}" if tail_text else "")


class ServiceExitedError(RuntimeError):
    """A service exited while awaited; the message names it, its exit code, its log and the log's tail."""

    def __init__(self, what: str, returncode: int, log: Path | None, tail_text: str = "") -> None:
        super().__init__(f"{what} exited with code {returncode}{_where(log, tail_text)}")
        self.returncode = returncode
        self.log = log


class ServiceTimeoutError(TimeoutError):
    def __init__(self, what: str, timeout: float, log: Path | None, tail_text: str = "") -> None:
        super().__init__(f"{what} not ready after {timeout:.0f}s{_where(log, tail_text)}")
        self.log = log


def tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    what: str = "process",
    log: Path | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `check` until it is true; fail early when `proc` exits, with its log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServiceExitedError(what, proc.returncode, log, tail(log))
        if check():
            return
        if time.monotonic() >= deadline:
            raise ServiceTimeoutError(what, timeout, log, tail(log))
        time.sleep(interval)


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def group_alive(pgid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    if proc is not None:
        proc.poll()  # reap the leader, or the zombie keeps the group "alive"
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_group(pgid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid, proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_group(pgid: int, timeout: float = STOP_TIMEOUT, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the process group (servers drain in-flight requests), SIGKILL whatever is left after
    `timeout`; return once no process of the group is left."""
    signal_group(pgid, signal.SIGTERM)
    if not _wait_group(pgid, timeout, proc):
        signal_group(pgid, signal.SIGKILL)
        _wait_group(pgid, 10, proc)


class Service:
    """A child process in its own session, writing to `log` (appended); `stop()` leaves nothing behind."""

    def __init__(
        self,
        args: Sequence[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path = REPO_ROOT,
        name: str | None = None,
    ) -> None:
        self.args = list(args)
        self.log = log
        self.name = name or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(self.args[:3]))
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.args,
                cwd=cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs."""
        return self.proc.poll()

    def wait_ready(self, check: Callable[[], bool], timeout: float = 120, what: str | None = None) -> None:
        """Until `check()` is true; ServiceExitedError if the process exits first, ServiceTimeoutError
        after `timeout`."""
        wait_until(check, timeout, self.proc, what or self.name, self.log, interval=0.2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def lost_port_race(self) -> bool:
        """It exited because a port that was free when chosen (`free_port`) was bound by another program
        before this one could bind it: start it again on other ports."""
        return self.returncode is not None and "Address already in use" in self.log_text()

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log, lines)

    def terminate(self) -> None:
        """SIGTERM the process group without waiting (see `stop_all`)."""
        if self.proc.poll() is None:
            signal_group(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code (negative: the signal)."""
        stop_group(self.proc.pid, timeout, self.proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        """Die abruptly, as a crashed process would."""
        signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def stop_all(
    services: Iterable[Service],
    timeout: float = STOP_TIMEOUT,
    on_stopped: Callable[[Service], None] | None = None,
) -> None:
    """Stop in reverse start order (callers before what they call), all SIGTERMed at once."""
    ordered = list(services)[::-1]
    for service in ordered:
        service.terminate()
    for service in ordered:
        service.stop(timeout)
        if on_stopped is not None:
            on_stopped(service)
