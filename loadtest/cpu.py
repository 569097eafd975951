"""CPU time per process, read from /proc: what a figure costs, whatever else the machine is running.

Wall-clock throughput on a shared 2-core machine moves with other people's load; the CPU seconds a process
spends per request barely do, so the bench reports both.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Mapping
from pathlib import Path

CpuReader = Callable[[], float]
TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(stat: Path) -> list[str] | None:
    try:
        # After the name in parentheses (which may hold spaces): state, ppid, pgrp, …, utime, stime.
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # exited meanwhile


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process (all its threads)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    if fields is None:
        raise ProcessLookupError(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group: a service and its workers."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None and int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICK


def self_cpu_seconds() -> float:
    """This process, every thread (the in-process model's runtime threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def of_group(pgid: int) -> CpuReader:
    return lambda: group_cpu_seconds(pgid)


class CpuMeter:
    """CPU seconds that each named component spends between `start` and `stop`.

    A component is anything with a cumulative CPU reading: a process group (`of_group`), this process
    (`self_cpu_seconds`). Figures for a component measured elsewhere (a load generator that is a child
    process, read from its rusage when it exits) are added with `add`.
    """

    def __init__(self, components: Mapping[str, CpuReader]) -> None:
        self.components = dict(components)
        self._start: dict[str, float] = {}
        self._started = 0.0
        self.elapsed_s = 0.0
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: read() for name, read in self.components.items()}

    def start(self) -> CpuMeter:
        self._start = self._now()
        self._started = time.perf_counter()
        return self

    def stop(self) -> CpuMeter:
        self.elapsed_s = time.perf_counter() - self._started
        self.spent = {name: seconds - self._start[name] for name, seconds in self._now().items()}
        return self

    def add(self, name: str, seconds: float) -> None:
        self.spent[name] = seconds

    def per_request(self, requests: int) -> dict[str, dict[str, float]]:
        """ms of CPU per request and cores kept busy on average, per component."""
        return {
            "cpu_ms_per_request": {
                name: round(1000 * seconds / max(requests, 1), 3) for name, seconds in self.spent.items()
            },
            "cores_busy": {
                name: round(seconds / self.elapsed_s, 3) if self.elapsed_s > 0 else 0.0
                for name, seconds in self.spent.items()
            },
        }
