"""The compiled gRPC load generator of `make bench`: h2load (Debian's nghttp2-client), an HTTP/2 load tool,
sending one pre-built gRPC message (a PredictRequest with its 5-byte gRPC frame) with gRPC's headers.

h2load counts HTTP statuses, not gRPC's (a gRPC error is HTTP 200 with `grpc-status` in the trailers and no
message), so the answers are checked by their size: every request is the same picture, the server's answer
is the same bytes each time (`expected_answer_bytes`, from one call made first), and each missing answer
is counted as an error. Latency percentiles come from h2load's per-request log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from loadtest import tools
from loadtest.floor_grpc import PREDICT_METHOD

INSTALL_HINT = "apt-get install nghttp2-client (Debian, Ubuntu), brew install nghttp2 (macOS)"
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")

Say = Callable[[str], None]


def find(say: Say, install: bool = True) -> str | None:
    return tools.find("h2load", "nghttp2-client", INSTALL_HINT, say, install)


def version(h2load: str) -> str:
    return tools.version([h2load, "--version"])


FRAME_HEADER = 5


def frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message: not compressed (0), length (4 bytes, big-endian), the message."""
    return b"\0" + len(message).to_bytes(FRAME_HEADER - 1, "big") + message


def write_body(path: Path, message: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(frame(message))
    return path


def command(h2load: str, target: str, body: Path, log: Path, connections: int, seconds: float) -> list[str]:
    headers = [f"--header={header}" for header in GRPC_HEADERS]
    return [
        h2load,
        "--threads=1",
        f"--clients={connections}",
        "--max-concurrent-streams=1",  # one call in flight per client: a closed loop, as the others
        f"--duration={max(1, round(seconds))}",
        f"--data={body}",
        f"--log-file={log}",
        *headers,
        f"http://{target}{PREDICT_METHOD}",
    ]


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"h2load's output has no {pattern!r}:\n{text[-2000:]}")
    return float(found.group(1))


def parse(output: str, log: Path, connections: int, expected_answer_bytes: int) -> dict[str, Any]:
    elapsed_s = _number(r"finished in ([\d.]+)s", output)
    done = int(_number(r"(\d+) done", output))
    succeeded = int(_number(r"(\d+) succeeded", output))
    data_bytes = int(_number(r"\((\d+)\) data", output))
    answered = round(data_bytes / expected_answer_bytes) if expected_answer_bytes else succeeded
    ok = min(succeeded, answered)
    errors = done - ok
    durations_us = [
        int(fields[2])
        for fields in (line.split("\t") for line in log.read_text().splitlines())
        if len(fields) >= 3
    ]
    latencies = np.asarray(durations_us or [0]) / 1000
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    samples = (
        [] if errors == 0 else [f"{errors} of {done} calls had no answer message (gRPC error or HTTP status)"]
    )
    return {
        "concurrency": connections,
        "requests": done,
        "ok": ok,
        "errors": errors,
        "error_samples": samples,
        "elapsed_s": round(elapsed_s, 3),
        "throughput_rps": round(ok / elapsed_s, 3) if elapsed_s > 0 else 0.0,
        "mean_ms": round(float(latencies.mean()), 2),
        "p50_ms": round(float(p50), 2),
        "p95_ms": round(float(p95), 2),
        "p99_ms": round(float(p99), 2),
    }


def run(
    h2load: str,
    target: str,
    body: Path,
    *,
    expected_answer_bytes: int,
    connections: int,
    seconds: float,
) -> tools.ToolRun:
    """One closed-loop run of `seconds`; blocks until h2load exits."""
    log = body.with_suffix(".log")
    args = command(h2load, target, body, log, connections, seconds)
    returncode, output, cpu_seconds = tools.run_measured(args)
    if returncode != 0:
        raise RuntimeError(f"h2load exited {returncode}:\n{output[-2000:]}")
    return tools.ToolRun(parse(output, log, connections, expected_answer_bytes), cpu_seconds)
