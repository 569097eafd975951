"""`make bench`'s measurement a: the model in this process, with the runtime the server will run.

`auto` is decided here exactly as the server decides it (serving/auto_runtime.py, the same cache), so
the server started afterwards loads the same runtime without deciding again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

Predict = Callable[[Sequence[bytes]], object]
Say = Callable[[str], None]


def resolve_runtime(version_dir: Path, runtime: str, precision: str | None, say: Say) -> tuple[str, str]:
    """(runtime, precision) that `python -m serving --runtime RUNTIME [--precision P]` will serve."""
    if runtime != "auto":
        return runtime, precision or "f32"
    from serving import auto_runtime
    from serving.config import read_batching_parameters
    from serving.runtimes import construct
    from stack.commands import BATCHING_CONFIG

    name, version = version_dir.parent.name, int(version_dir.name)
    candidates = auto_runtime.parse_candidates(",".join(auto_runtime.DEFAULT_CANDIDATES))
    servable = auto_runtime.load(
        name,
        version,
        version_dir,
        candidates,
        lambda c: construct(name, version, version_dir, c.runtime, c.precision),
        timing_batch=read_batching_parameters(BATCHING_CONFIG).max_batch_size,  # as the server times it
    )
    say(f"  auto: {servable.selection['selection']}")
    return servable.runtime, servable.precision


def predictor(version_dir: Path, runtime: str, precision: str) -> Predict:
    """Encoded images -> answers, as the server's runtime computes them (decode included)."""
    if runtime == "tensorflow":
        import tensorflow as tf  # only here: the load generators never need it

        function = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

        def predict_tf(images: Sequence[bytes]) -> object:
            return function(image_bytes=tf.constant(list(images)))["scores"].numpy()

        return predict_tf
    from serving.openvino_runtime import OpenVINORuntime

    return OpenVINORuntime(version_dir, precision).predict  # type: ignore[arg-type]


def measure(
    predict: Predict, images: list[bytes], batch_sizes: Sequence[int], seconds: float, say: Say
) -> dict[str, Any]:
    """Images/s per batch size, with as many callers as cores: one call at a time leaves cores idle (a
    ResNet50 call at batch 1 to 16 keeps ~1.3 of 2 cores busy), which would put the "ceiling" below what
    the server reaches with concurrent requests."""
    callers = os.cpu_count() or 1
    by_size: dict[str, float] = {}
    for size in batch_sizes:
        batches = [images[i : i + size] for i in range(0, len(images) - size + 1, size)]
        predict(batches[-1])  # warmup: the first call at a new shape allocates
        start = time.perf_counter()

        def caller(
            offset: int, size: int = size, batches: list[list[bytes]] = batches, start: float = start
        ) -> int:
            calls = 0
            while calls < 2 or time.perf_counter() - start < seconds:
                predict(batches[(offset + calls) % len(batches)])
                calls += 1
            return calls * size

        with ThreadPoolExecutor(callers) as pool:  # both runtimes release the GIL while they compute
            done = sum(pool.map(caller, range(callers)))
        by_size[str(size)] = round(done / (time.perf_counter() - start), 3)
        say(f"  in process, batch {size:>2}, {callers} callers: {by_size[str(size)]:8.2f} images/s")
    best = max(by_size, key=lambda size: by_size[size])
    return {
        "images_per_s": by_size[best],
        "best_batch_size": int(best),
        "by_batch_size": by_size,
        "callers": callers,
        "seconds_per_batch_size": seconds,
    }
