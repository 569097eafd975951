"""The supervisor of `make run` on small real processes and a clock the test turns: a service that dies is
started again after a backoff that doubles while it keeps dying and starts over once it stayed up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.procs import PYTHON, Service
from stack.supervise import Keeper

SLEEPER = [PYTHON, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Service]]:
    services: list[Service] = []
    yield services
    for service in services:
        service.stop(timeout=2)


def _keeper(
    tmp_path: Path, started: list[Service], ready: bool = True, lines: list[str] | None = None
) -> Keeper:
    def start() -> Service:
        service = Service(SLEEPER, tmp_path / "replica.log", name="replica")
        started.append(service)
        return service

    out = lines if lines is not None else []
    return Keeper(
        "replica", start, lambda: ready, ready_timeout=5, service=start(), say=out.append, ready_at=0
    )


def test_a_dead_service_is_started_again_after_a_growing_backoff(
    tmp_path: Path, started: list[Service]
) -> None:
    lines: list[str] = []
    kept = _keeper(tmp_path, started, lines=lines)
    first = kept.service.pid
    assert not kept.poll(1.0)  # alive: nothing to do
    kept.service.kill()
    assert not kept.poll(2.0)
    assert lines == [
        f"replica exited with code -9; starting it again in 1s (log: {tmp_path / 'replica.log'})"
    ]
    assert not kept.poll(2.5)
    assert kept.poll(3.0)
    assert kept.service.pid != first
    assert kept.service.returncode is None
    assert not kept.poll(3.5)
    assert lines[-1] == "  replica    back, ready in 0s"
    kept.service.kill()  # dies again soon: the backoff doubles
    kept.poll(4.0)
    assert "starting it again in 2s" in lines[-1]
    assert not kept.poll(5.0)
    assert kept.poll(6.0)
    kept.poll(6.5)
    kept.service.kill()  # after a minute up: back to the first backoff
    kept.poll(70.0)
    assert "starting it again in 1s" in lines[-1]
    assert kept.restarts == 2


def test_a_restart_that_never_gets_ready_is_started_again(tmp_path: Path, started: list[Service]) -> None:
    lines: list[str] = []
    kept = _keeper(tmp_path, started, ready=False, lines=lines)
    kept.service.kill()
    kept.poll(0.0)
    assert kept.poll(1.0)
    hung = kept.service
    assert not kept.poll(5.0)
    assert not kept.poll(6.5)  # past READY_TIMEOUT (5 s) after its restart
    assert lines[-1].startswith("replica not ready 5s after its restart; starting it again in 2s")
    assert hung.returncode is not None  # stopped before its successor starts
    assert kept.poll(8.5)
