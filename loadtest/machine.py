"""What a figure was measured on: CPU, cores, load, versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata

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
