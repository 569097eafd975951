"""The CPU accounting of `make bench`: /proc readings add up on processes whose CPU time is known."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loadtest.cpu import CpuMeter, group_cpu_seconds, process_cpu_seconds, self_cpu_seconds

BURN_S = 0.6
# A child that burns BURN_S of its own CPU time (whatever else the machine runs), then waits to be read.
BURNER = (
    "import sys, time\n"
    f"end = time.process_time() + {BURN_S}\n"
    "while time.process_time() < end: pass\n"
    "print('burnt', flush=True)\n"
    "sys.stdin.read()\n"
)
TOLERANCE_S = 0.08  # clock ticks (10 ms) and the interpreter's own start-up


def _burner() -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", BURNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "burnt"
    return child


def test_a_busy_child_reads_as_the_cpu_it_burnt() -> None:
    child = _burner()
    try:
        assert process_cpu_seconds(child.pid) == pytest.approx(BURN_S, abs=TOLERANCE_S)
        assert group_cpu_seconds(child.pid) == pytest.approx(BURN_S, abs=TOLERANCE_S)  # its own session
    finally:
        child.communicate("")


def test_a_group_sums_its_processes() -> None:
    """Two burners in one process group (as uvicorn's workers are) read as the sum of both."""
    script = (
        "import subprocess, sys\n"
        f"children = [subprocess.Popen([sys.executable, '-c', {BURNER!r}], stdin=subprocess.PIPE,"
        " stdout=subprocess.PIPE, text=True) for _ in range(2)]\n"
        "for child in children: child.stdout.readline()\n"
        "print('burnt', flush=True)\n"
        "sys.stdin.read()\n"
        "for child in children: child.communicate('')\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    try:
        assert parent.stdout.readline().strip() == "burnt"
        parent_alone = process_cpu_seconds(parent.pid)
        assert group_cpu_seconds(parent.pid) == pytest.approx(2 * BURN_S + parent_alone, abs=2 * TOLERANCE_S)
    finally:
        parent.communicate("")


def test_a_process_that_is_gone_is_refused() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ProcessLookupError):
        process_cpu_seconds(child.pid)


def test_the_meter_counts_only_its_window() -> None:
    """CPU burnt before `start` is not counted; per request and cores busy follow from the spent seconds."""
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    meter = CpuMeter({"this process": self_cpu_seconds}).start()
    end = time.process_time() + BURN_S
    while time.process_time() < end:
        pass
    meter.stop()
    spent = meter.spent["this process"]
    assert spent == pytest.approx(BURN_S, abs=TOLERANCE_S)
    figures = meter.per_request(100)
    assert figures["cpu_ms_per_request"]["this process"] == pytest.approx(1000 * spent / 100, abs=0.01)
    assert 0 < figures["cores_busy"]["this process"] <= 1.1  # one thread burnt it
    meter.add("load generator", 0.05)
    assert meter.per_request(10)["cpu_ms_per_request"]["load generator"] == pytest.approx(5.0)
