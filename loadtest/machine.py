"""What a figure was measured on: CPU, cores, load, versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "tensorflow-cpu",
    "keras",
    "grpcio",
    "protobuf",
    "fastapi",
    "uvicorn",
    "httpx",
    "locust",
    "numpy",
    "pillow",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "versions": versions(),
    }


def one_line(machine: dict[str, object]) -> str:
    return (
        f"{machine['cpu_model']}, {machine['cores']} cores, load {machine['load_average_1m_at_start']} "
        f"at start; {machine['platform']}"
    )
