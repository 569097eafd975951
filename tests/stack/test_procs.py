"""The one process class: start, readiness, early exit with the log's tail, SIGTERM then SIGKILL, nothing
left behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from stack.procs import (
    PYTHON,
    Service,
    ServiceExitedError,
    ServiceTimeoutError,
    free_port,
    group_alive,
    http_ok,
    model_available,
    stop_all,
    stop_group,
)
from tests.stack.conftest import StatusServer

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring SIGTERM', flush=True)\n"
    "time.sleep(600)\n"
)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state != "Z"


def test_a_service_is_ready_when_it_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    service = Service([PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"], tmp_path / "http.log")
    try:
        service.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/"), timeout=60)
        assert service.returncode is None
    finally:
        code = service.stop()
    assert code == -signal.SIGTERM  # http.server dies of the SIGTERM: no SIGKILL was needed
    assert not http_ok(f"http://127.0.0.1:{port}/")
    assert not group_alive(service.pid)


def test_a_service_that_exits_while_starting_is_named_with_its_log_and_tail(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "broken.log"
    script = (
        "import sys; print('loading the model'); print('boom: no such model', file=sys.stderr); sys.exit(3)"
    )
    service = Service([PYTHON, "-c", script], log, name="broken")
    with pytest.raises(ServiceExitedError) as caught:
        service.wait_ready(lambda: False, timeout=60)
    message = str(caught.value)
    assert message.startswith(f"broken exited with code 3; see {log}")
    assert "boom: no such model" in message
    assert caught.value.log == log


def test_a_service_that_never_answers_times_out_naming_its_log(tmp_path: Path) -> None:
    service = Service(
        [PYTHON, "-c", "import time; print('still warming up', flush=True); time.sleep(60)"],
        tmp_path / "slow.log",
        name="slow",
    )
    try:
        with pytest.raises(ServiceTimeoutError, match=r"slow not ready after 1s; see .*slow\.log"):
            service.wait_ready(lambda: False, timeout=1)
    finally:
        service.stop()


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    service = Service([PYTHON, "-c", IGNORES_SIGTERM], tmp_path / "stubborn.log")
    service.wait_ready(lambda: "ignoring SIGTERM" in service.log_text(), timeout=60)
    assert service.stop(timeout=1) == -signal.SIGKILL
    assert not group_alive(service.pid)


def test_stop_leaves_no_grandchild_behind(tmp_path: Path) -> None:
    """What the service started (uvicorn's workers, say) goes with it, even when it ignores SIGTERM."""
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {IGNORES_SIGTERM!r}])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    service = Service([PYTHON, "-c", script], tmp_path / "parent.log")
    service.wait_ready(lambda: "ignoring SIGTERM" in service.log_text(), timeout=60)
    child = int(next(line for line in service.log_text().splitlines() if line.startswith("child")).split()[1])
    assert pid_alive(child)
    service.stop(timeout=1)
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:  # reparented: init reaps it
        time.sleep(0.1)
    assert not pid_alive(child)
    assert not group_alive(service.pid)


def test_stop_all_stops_every_service_in_reverse_order(tmp_path: Path) -> None:
    services = [
        Service([PYTHON, "-c", "import time; time.sleep(600)"], tmp_path / f"{n}.log", name=n)
        for n in ("serving", "gateway", "frontend")
    ]
    stopped: list[str] = []
    stop_all(services, timeout=5, on_stopped=lambda s: stopped.append(s.name))
    assert stopped == ["frontend", "gateway", "serving"]
    assert all(s.returncode is not None and not group_alive(s.pid) for s in services)


def test_stop_group_stops_a_service_by_its_pid_alone(tmp_path: Path) -> None:
    """`make stop` after a supervisor died: only the pids in the state file are known."""
    service = Service([PYTHON, "-c", IGNORES_SIGTERM], tmp_path / "orphan.log")
    service.wait_ready(lambda: "ignoring SIGTERM" in service.log_text(), timeout=60)
    stop_group(service.pid, timeout=1, proc=service.proc)
    assert not group_alive(service.pid, service.proc)
    assert service.proc.wait(5) == -signal.SIGKILL


def test_model_available_needs_an_available_version(status_server: StatusServer) -> None:
    assert not model_available(status_server.url, "tiny")  # 404: not loaded at all
    status_server.states["tiny"] = ["LOADING"]
    assert not model_available(status_server.url, "tiny")
    status_server.states["tiny"] = ["END", "AVAILABLE"]
    assert model_available(status_server.url, "tiny")
    assert not model_available(f"http://127.0.0.1:{free_port()}", "tiny")  # nothing listens
