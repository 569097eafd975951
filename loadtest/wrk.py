"""The compiled HTTP load generator of `make bench`: wrk (Debian's package) with loadtest/wrk_uploads.lua.

wrk spends well under a tenth of a millisecond of CPU per request where a Python client spends about one,
so on a 2-core machine the load generator no longer takes the cores of what it measures. Its CPU is read
from its own rusage when it exits (the whole run, start-up included, so the figure is an upper bound).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadtest import payloads, tools
from stack.procs import REPO_ROOT

SCRIPT = REPO_ROOT / "loadtest" / "wrk_uploads.lua"
INSTALL_HINT = "apt-get install wrk (Debian, Ubuntu), brew install wrk (macOS)"
THREADS = 1  # one event loop drives 16 connections; a second thread would only add context switches

Say = Callable[[str], None]


def find(say: Say, install: bool = True) -> str | None:
    """wrk's path; installs Debian's package first when it is missing and this is root on Debian."""
    return tools.find("wrk", "wrk", INSTALL_HINT, say, install)


def version(wrk: str) -> str:
    return tools.version([wrk, "--version"]).split(" Copyright")[0].strip()


def write_bodies(directory: Path, bodies: Sequence[bytes], token: str) -> Path:
    """The files the Lua script reads in `init`: bodies back to back, their lengths, the token."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bodies.bin").write_bytes(b"".join(bodies))
    (directory / "lengths").write_text("".join(f"{len(body)}\n" for body in bodies))
    token_file = directory / "token"
    token_file.touch(mode=0o600)
    token_file.write_text(token)
    (directory / "content-type").write_text(payloads.MULTIPART_TYPE)
    return directory


def command(
    wrk: str, url: str, path: str, bodies_dir: Path, expect: str, connections: int, seconds: float
) -> list[str]:
    return [
        wrk,
        f"--threads={THREADS}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=60s",
        f"--script={SCRIPT}",
        url.rstrip("/") + path,
        "--",
        str(bodies_dir),
        expect,
        str(THREADS),
    ]


def parse(output: str, connections: int) -> dict[str, Any]:
    """The figures of the script's `done()`, in the Python load generator's names."""
    line = next((line for line in output.splitlines() if line.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{output[-2000:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    first_error = next(
        (
            line.removeprefix("WRK_FIRST_ERROR").strip()
            for line in output.splitlines()
            if line.startswith("WRK_FIRST_ERROR")
        ),
        "",
    )
    failed_answers = raw["bad_status"] + raw["mismatches"]
    transport = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    ok = max(raw["requests"] - failed_answers, 0)
    elapsed_s = raw["duration_us"] / 1e6
    return {
        "concurrency": connections,
        "requests": raw["requests"] + transport,
        "ok": ok,
        "errors": failed_answers + transport,
        "error_samples": [first_error] if first_error else [],
        "elapsed_s": round(elapsed_s, 3),
        "throughput_rps": round(ok / elapsed_s, 3) if elapsed_s > 0 else 0.0,
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
    }


def run(
    wrk: str,
    url: str,
    path: str,
    bodies_dir: Path,
    *,
    expect: str,
    connections: int,
    seconds: float,
) -> tools.ToolRun:
    """One closed-loop run of `seconds`; blocks until wrk exits."""
    args = command(wrk, url, path, bodies_dir, expect, connections, seconds)
    returncode, output, cpu_seconds = tools.run_measured(args)
    if returncode != 0:
        raise RuntimeError(f"wrk exited {returncode}:\n{output[-2000:]}")
    return tools.ToolRun(parse(output, connections), cpu_seconds)
