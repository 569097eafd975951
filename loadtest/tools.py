"""The compiled load generators' common parts: finding (or installing) them, and running one with its CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APT_TIMEOUT_S = 600

Say = Callable[[str], None]


def find(program: str, package: str, hint: str, say: Say, install: bool = True) -> str | None:
    """`program`'s path; installs Debian's `package` first when it is missing and this is root on Debian."""
    found = shutil.which(program)
    if found or not install:
        return found
    if os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get"):
        say(f"{program} is missing: installing Debian's package (apt-get install {package}) …")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install_it = ["apt-get", "install", "-y", "-qq", package]
        for steps in ([install_it], [["apt-get", "update", "-qq"], install_it]):  # a stale list: update
            for step in steps:
                subprocess.run(step, env=env, capture_output=True, timeout=APT_TIMEOUT_S, check=False)
            if shutil.which(program):
                break
        found = shutil.which(program)
    if not found:
        say(f"{program} is not installed ({hint}): the Python client runs instead (more CPU per request)")
    return found


def version(args: Sequence[str]) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)
    return ((done.stdout or done.stderr).splitlines() or [""])[0].strip()


@dataclass(frozen=True)
class ToolRun:
    """One run of a compiled load generator."""

    figures: dict[str, Any]
    """As `LoadResult.summary()`: requests, ok, errors, throughput_rps, p50/p95/p99_ms, …"""
    cpu_seconds: float
    """The tool's own user + system CPU over its whole run (start-up included: an upper bound)."""


def run_measured(args: Sequence[str]) -> tuple[int, str, float]:
    """Run a program to its end: (exit code, output, its own user + system CPU seconds from its rusage)."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # reaped here, to read the child's rusage
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return proc.returncode, out.read(), usage.ru_utime + usage.ru_stime
