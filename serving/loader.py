"""`--runtime auto|tensorflow|openvino --precision f32|bf16|int8`: how the manager loads a version.

The engine is known before the servable is built: a flag names it, or `auto` chooses it
(serving/engines/auto.py). What cannot run on this machine is refused before anything loads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from serving import engines
from serving.engines import TENSORFLOW, EngineSpec, RuntimeUnavailableError, auto
from serving.precisions import AUTO_CANDIDATES, RUNTIMES, UnsupportedPrecisionError, parse
from serving.servable import Servable

LoadServable = Callable[[str, int, Path], Servable]

__all__ = ["LoadServable", "RuntimeUnavailableError", "servable_loader"]


def servable_loader(
    runtime: str,
    precision: str,
    *,
    auto_candidates: str = AUTO_CANDIDATES,
    timing_batch: int = 1,
    streams: int = 0,
) -> LoadServable:
    """The manager's loader for `--runtime/--precision`; refuses what cannot run here before any load.
    `streams`: the batch threads (0 unbatched), for the engine's own thread layout (engines.load)."""
    if runtime == "auto":
        try:
            candidates = auto.parse_candidates(auto_candidates)
        except ValueError as error:
            raise RuntimeUnavailableError(f"--auto_candidates: {error}") from error

        def load_auto(name: str, version: int, path: Path) -> Servable:
            choice = auto.choose(path, candidates, timing_batch)
            return Servable(
                name, version, path, engines.load(choice.spec, path, streams=streams), choice.selection
            )

        return load_auto
    if runtime not in ("tensorflow", "openvino"):
        raise RuntimeUnavailableError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
    if runtime == "tensorflow" and precision != "f32":
        raise RuntimeUnavailableError(
            f"--precision {precision} needs --runtime openvino (the tensorflow runtime runs f32)"
        )
    try:
        spec = TENSORFLOW if runtime == "tensorflow" else EngineSpec("openvino", parse(precision))
    except UnsupportedPrecisionError as error:
        raise RuntimeUnavailableError(f"--precision {precision}: {error}") from error
    spec.check()

    def load(name: str, version: int, path: Path) -> Servable:
        return Servable(name, version, path, engines.load(spec, path, streams=streams))

    return load
