"""A closed-loop asyncio load generator: N workers, each sending its next request when the last one answers.

Bounded twice: at most `max_requests` requests are started and none after `time_cap` seconds; each request
has its own timeout, so a run always ends. Throughput counts successful answers over the time from the first
request to the last answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

Call = Callable[[int], Awaitable[None]]
_WORKER: ContextVar[int] = ContextVar("loadgen_worker", default=0)


def current_worker() -> int:
    """The number (0 … concurrency - 1) of the worker running this call: one client per worker is cheaper
    than one shared pool (httpx scans every pooled connection on every request)."""
    return _WORKER.get()


@dataclass
class LoadResult:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> dict[str, float | int | list[str]]:
        done = len(self.latencies_ms)
        latencies = np.asarray(self.latencies_ms or [0.0])
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
        return {
            "concurrency": self.concurrency,
            "requests": done + self.errors,
            "ok": done,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_rps": round(done / self.elapsed_s, 3) if self.elapsed_s > 0 else 0.0,
            "mean_ms": round(float(latencies.mean()), 2),
            "p50_ms": round(float(p50), 2),
            "p95_ms": round(float(p95), 2),
            "p99_ms": round(float(p99), 2),
        }


async def run_load(
    call: Call,
    *,
    concurrency: int,
    max_requests: int,
    time_cap: float,
    request_timeout: float = 60.0,
    first_index: int = 0,
) -> LoadResult:
    """Call `call(index)` for index = first_index, first_index + 1, … from `concurrency` workers."""
    result = LoadResult(concurrency=concurrency)
    counter = iter(range(first_index, first_index + max_requests))
    start = time.perf_counter()
    deadline = start + time_cap
    last_answer = start

    async def worker(number: int) -> None:
        nonlocal last_answer
        _WORKER.set(number)  # each worker is its own task, with its own context
        for index in counter:  # shared iterator: each index is taken by exactly one worker
            if time.perf_counter() >= deadline:
                return
            sent = time.perf_counter()
            try:
                await asyncio.wait_for(call(index), request_timeout)
            except Exception as error:  # every failure counts; the first few are kept to show
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{type(error).__name__}: {error}"[:300])
            else:
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
            last_answer = time.perf_counter()

    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    result.elapsed_s = last_answer - start
    return result
