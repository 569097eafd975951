"""One measured load: a warmup, then the load, with the CPU each component spent during it.

The components of a row are named by the constants below; the report's CPU table has one column each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from loadtest.cpu import CpuMeter, CpuReader, self_cpu_seconds
from loadtest.loadgen import Call, run_load
from loadtest.tools import ToolRun

MODEL = "model in process"
SERVER = "model server"
GATEWAY = "gateway"
HTTP_FLOOR = "HTTP floor"
GRPC_FLOOR = "gRPC floor"
LOAD_GENERATOR = "load generator"
MAX_DRAIN_S = 10.0
COMPONENTS = (MODEL, SERVER, GATEWAY, GRPC_FLOOR, HTTP_FLOOR, LOAD_GENERATOR)


def _figures(load: dict[str, Any], meter: CpuMeter, client: str) -> dict[str, Any]:
    load.update(meter.per_request(int(load["ok"]) + int(load["errors"])))
    load.update(client=client, load_average_1m=round(os.getloadavg()[0], 2))
    return load


async def python_load(
    warmup: Call,
    measured: Call,
    components: Mapping[str, CpuReader],
    *,
    concurrency: int,
    warmup_requests: int,
    max_requests: int,
    seconds: float,
    client: str,
) -> dict[str, Any]:
    """A closed loop of `concurrency` asyncio workers in this process, which is the load generator."""
    await run_load(warmup, concurrency=concurrency, max_requests=warmup_requests, time_cap=seconds)
    meter = CpuMeter({**components, LOAD_GENERATOR: self_cpu_seconds}).start()
    load = await run_load(measured, concurrency=concurrency, max_requests=max_requests, time_cap=seconds)
    meter.stop()
    figures = _figures(load.summary(), meter, client)
    figures.update(max_requests=max_requests, time_cap_s=seconds, warmup_requests=warmup_requests)
    return figures


def drain_seconds(warmup: ToolRun) -> float:
    """How long to wait after a warmup before measuring: the requests in flight when its generator stopped
    are still being served behind it (a gateway finishes a request whose client left, and its model call),
    and the first measured requests would find the servers busy with them (the model server's
    --max_concurrent_rpcs refusing some). Twice the warmup's p99, at most MAX_DRAIN_S."""
    return min(MAX_DRAIN_S, 2 * float(warmup.figures.get("p99_ms") or 0) / 1000)


def tool_load(
    warmup: Callable[[], ToolRun],
    measured: Callable[[], ToolRun],
    components: Mapping[str, CpuReader],
    *,
    client: str,
) -> dict[str, Any]:
    """A closed loop from a compiled load generator (wrk, h2load): a child process whose CPU is its rusage."""
    time.sleep(drain_seconds(warmup()))
    meter = CpuMeter(components).start()
    done = measured()
    meter.stop()
    meter.add(LOAD_GENERATOR, done.cpu_seconds)
    return _figures(dict(done.figures), meter, client)
