"""The one throughput loop: images per second, and CPU per image, of any classify function.

Callers run in `threads` threads at once, as the server's request and batch threads do (both engines
release the GIL while they compute); one caller at a time would leave cores idle and favour an engine that
parallelises inside one call. A round ends when every caller has made `calls` calls, or, with `seconds`,
when that long has passed (each caller makes at least two); the figure is the best of `rounds` rounds.
CPU is the whole process's (all its threads), which survives a machine shared with other work.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

Batch = Sequence[bytes]


@dataclass(frozen=True)
class Throughput:
    images_per_second: float
    cpu_ms_per_image: float
    threads: int
    batch_size: int


def throughput(
    classify: Callable[[Batch], object],
    batches: Sequence[Batch],
    *,
    threads: int | None = None,
    calls: int | None = None,
    seconds: float | None = None,
    rounds: int = 1,
) -> Throughput:
    if (calls is None) == (seconds is None):
        raise ValueError("give either calls (per caller and round) or seconds (per round)")
    threads = threads or os.cpu_count() or 1
    classify(batches[0])  # warm this shape: the first call allocates
    best_rate, best_cpu = 0.0, float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(rounds):
            started, cpu_started = time.perf_counter(), time.process_time()

            def caller(offset: int, started: float = started) -> int:
                done = images = 0
                while (calls is not None and done < calls) or (
                    seconds is not None and (done < 2 or time.perf_counter() - started < seconds)
                ):
                    batch = batches[(offset + done) % len(batches)]
                    classify(batch)
                    done += 1
                    images += len(batch)
                return images

            images = sum(pool.map(caller, range(threads)))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            if images / elapsed > best_rate:
                best_rate, best_cpu = images / elapsed, 1000 * cpu / images
    return Throughput(best_rate, best_cpu, threads, len(batches[0]))
