"""`make bench`'s measurement a: the model in this process, with the engine the server will run.

`auto` is decided here exactly as the server decides it (serving/engines/auto.py, the same cache), so
the server started afterwards loads the same engine without deciding again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from serving.engines import Classify, EngineSpec

Say = Callable[[str], None]


def resolve_engine(version_dir: Path, runtime: str, precision: str | None, say: Say) -> EngineSpec:
    """The engine `python -m serving --runtime RUNTIME [--precision P]` will serve."""
    from serving.engines import TENSORFLOW, auto
    from serving.precisions import AUTO_CANDIDATES, parse

    if runtime == "tensorflow":
        return TENSORFLOW
    if runtime == "openvino":
        return EngineSpec("openvino", parse(precision or "f32"))
    from serving.config import read_batching_parameters
    from stack.commands import BATCHING_CONFIG

    choice = auto.choose(
        version_dir,
        auto.parse_candidates(AUTO_CANDIDATES),
        read_batching_parameters(BATCHING_CONFIG).max_batch_size,  # as the server times it
    )
    say(f"  auto: {choice.selection['selection']}")
    return choice.spec


def classifier(version_dir: Path, spec: EngineSpec, streams: int = 0) -> Classify:
    """Encoded images -> answers, as the server's engine computes them (decode included); `streams` as a
    batching server loads it (its batch threads; serving/engines/openvino.py), 0 as an unbatched one."""
    from serving import engines

    return engines.classifier(engines.load(spec, version_dir, streams=streams))


def measure(
    classify: Classify, images: list[bytes], batch_sizes: Sequence[int], seconds: float, say: Say
) -> dict[str, Any]:
    """Images/s and this process's CPU per image (every thread, the engine's included) per batch size,
    with as many callers as cores (serving/engines/timing.py)."""
    from serving.engines.timing import throughput

    by_size: dict[str, float] = {}
    cpu_ms: dict[str, float] = {}
    callers = 0
    for size in batch_sizes:
        batches = [images[i : i + size] for i in range(0, len(images) - size + 1, size)]
        measured = throughput(classify, batches, seconds=seconds)
        callers = measured.threads
        by_size[str(size)] = round(measured.images_per_second, 3)
        cpu_ms[str(size)] = round(measured.cpu_ms_per_image, 3)
        say(
            f"  in process, batch {size:>2}, {callers} callers: {by_size[str(size)]:8.2f} images/s, "
            f"{cpu_ms[str(size)]:.2f} ms CPU per image"
        )
    best = max(by_size, key=lambda size: by_size[size])
    return {
        "images_per_s": by_size[best],
        "best_batch_size": int(best),
        "by_batch_size": by_size,
        "cpu_ms_per_image": cpu_ms[best],
        "cpu_ms_per_image_by_batch_size": cpu_ms,
        "callers": callers,
        "seconds_per_batch_size": seconds,
    }
