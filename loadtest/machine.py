"""What a figure was measured on: CPU, cores, load, versions."""

from __future__ import annotations

import os
import platform
import resource
import time
from importlib import metadata
from pathlib import Path

from serving import cpu

PACKAGES = (
    "tensorflow-cpu",
    "keras",
    "grpcio",
    "protobuf",
    "fastapi",
    "uvicorn",
    "httpx",
    "locust",
    "openvino",
    "numpy",
    "pillow",
)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe() -> dict[str, object]:
    return {
        "cpu_model": cpu.model_name(),
        "isa_flags": " ".join(cpu.isa_flags()),  # lscpu's names: which oneDNN/OpenVINO kernels could run
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "versions": versions(),
    }


def one_line(machine: dict[str, object]) -> str:
    return (
        f"{machine['cpu_model']} ({machine['isa_flags']}), {machine['cores']} cores, load "
        f"{machine['load_average_1m_at_start']} at start; {machine['platform']}"
    )


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group (a service and its workers)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, …, utime (11), stime (12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU time that each watched process group, and this process, spend between `start` and `stop`."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups
        self._start: dict[str, float] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float]:
        return {
            **{name: group_cpu_seconds(pgid) for name, pgid in self.groups.items()},
            "load generator": self_cpu_seconds(),
        }

    def start(self) -> None:
        self._start = self._now()
        self._started = time.perf_counter()

    def stop(self, requests: int) -> dict[str, dict[str, float]]:
        elapsed_s = time.perf_counter() - self._started
        spent = {name: seconds - self._start[name] for name, seconds in self._now().items()}
        return {
            "cpu_ms_per_request": {name: round(1000 * s / max(requests, 1), 2) for name, s in spent.items()},
            "cores_busy": {
                name: round(s / elapsed_s, 2) if elapsed_s > 0 else 0.0 for name, s in spent.items()
            },
        }
