"""What CPU this is, as far as it changes which runtime and precision is fastest or even runs."""

from __future__ import annotations

import hashlib
import os
import platform
from functools import cache
from pathlib import Path

# The instruction sets oneDNN and OpenVINO pick kernels by (lscpu's names).
ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def _cpuinfo_field(name: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@cache
def model_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


@cache
def isa_flags() -> tuple[str, ...]:
    present = set(_cpuinfo_field("flags").split())
    return tuple(flag for flag in ISA_FLAGS if flag in present)


def describe() -> str:
    """`AMD EPYC, 2 cores, avx2 fma avx512f ... avx512_bf16`: what to print next to a figure."""
    return f"{model_name()}, {os.cpu_count()} cores, {' '.join(isa_flags()) or 'no AVX2'}"


def key() -> str:
    """Changes whenever a runtime decision measured on this CPU may not hold on another."""
    text = f"{model_name()}|{os.cpu_count()}|{' '.join(isa_flags())}|{platform.machine()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
