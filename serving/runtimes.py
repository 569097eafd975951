"""`--runtime auto|tensorflow|openvino --precision f32|bf16|int8`: which Servable class the manager loads.

TensorFlow (`Servable`) is the reference. `OpenVINOServable` runs the export's `serving_default` through
serving/openvino_runtime (the IR cached beside the export) behind the same signature checks, batching,
warmup and in-flight accounting, so clients see the same API; only the runtime/precision reports differ.
`auto` picks one of them per model version (serving/auto_runtime.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from serving import auto_runtime
from serving.errors import invalid_argument
from serving.precisions import RUNTIMES, Precision
from serving.servable import DEFAULT_SIGNATURE, Servable

if TYPE_CHECKING:
    from serving.openvino_runtime import OpenVINORuntime

IMAGE_INPUT = auto_runtime.IMAGE_INPUT

LoadServable = Callable[[str, int, Path], Servable]


class RuntimeUnavailableError(RuntimeError):
    """The requested runtime/precision cannot run on this machine; the server must not start."""


class OpenVINOServable(Servable):
    runtime = "openvino"

    def __init__(self, name: str, version: int, path: Path, precision: Precision) -> None:
        self.precision: Precision = precision
        super().__init__(name, version, path)

    def _load(self) -> None:
        from serving.openvino_runtime import OpenVINORuntime

        if set(self.signature_defs) != {DEFAULT_SIGNATURE}:
            raise ValueError(
                f"the openvino runtime serves only {DEFAULT_SIGNATURE!r}; {self.path} has signatures "
                f"{sorted(self.signature_defs)}"
            )
        inputs = set(self.signature_defs[DEFAULT_SIGNATURE].inputs)
        if inputs != {IMAGE_INPUT}:
            raise ValueError(
                f"the openvino runtime needs the single input {IMAGE_INPUT!r}, got {sorted(inputs)}"
            )
        self._runtime: OpenVINORuntime = OpenVINORuntime(self.path, self.precision)
        front = self._runtime.front
        self.prepared_bytes_per_row = front.height * front.width * 3 * np.dtype(front.dtype).itemsize
        self._info = {
            "runtime": self.runtime,
            "precision": self.precision,
            "inference_precision": str(self._runtime.info["inference_precision"]),
        }

    @property
    def runtime_info(self) -> dict[str, str]:
        return {**self._info, **self.selection}

    @property
    def engine(self) -> OpenVINORuntime:
        return self._runtime

    def prepare(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decode with the runtime's own decoder, in the request's thread: what passes here also runs, the
        batch gets the pixels (each image decoded once, requests decoding in parallel; the decoders release
        the GIL) and the batch thread only runs the network."""
        self.signature(signature_name)
        try:
            return {IMAGE_INPUT: self._runtime.pixels(list(inputs[IMAGE_INPUT].ravel()))}
        except ValueError as error:
            raise invalid_argument(str(error)) from error

    def check_images(self, signature_name: str, inputs: dict[str, np.ndarray]) -> None:
        self.prepare(signature_name, inputs)

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`inputs` as `prepare` returns them (pixels), or encoded images (warmup, direct callers)."""
        images = inputs[IMAGE_INPUT]
        try:
            return self._runtime.signature_outputs(images if images.dtype != object else list(images.ravel()))
        except ValueError as error:
            raise invalid_argument(str(error)) from error


def construct(name: str, version: int, path: Path, runtime: str, precision: str) -> Servable:
    if runtime == "tensorflow":
        return Servable(name, version, path)
    return OpenVINOServable(name, version, path, precision)  # type: ignore[arg-type]


def servable_loader(
    runtime: str,
    precision: str,
    *,
    auto_candidates: str = ",".join(auto_runtime.DEFAULT_CANDIDATES),
    timing_batch: int = 1,
) -> LoadServable:
    """The manager's loader for `--runtime/--precision`; refuses what cannot run here before any load."""
    if runtime == "auto":
        try:
            candidates = auto_runtime.parse_candidates(auto_candidates)
        except ValueError as error:
            raise RuntimeUnavailableError(f"--auto_candidates: {error}") from error

        def load_auto(name: str, version: int, path: Path) -> Servable:
            def build(candidate: auto_runtime.Candidate) -> Servable:
                return construct(name, version, path, candidate.runtime, candidate.precision)

            return auto_runtime.load(name, version, path, candidates, build, timing_batch)

        return load_auto
    if runtime == "tensorflow":
        if precision != "f32":
            raise RuntimeUnavailableError(
                f"--precision {precision} needs --runtime openvino (the tensorflow runtime runs f32)"
            )
        return Servable
    if runtime != "openvino":
        raise RuntimeUnavailableError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
    from serving.openvino_runtime import precision as precisions

    try:
        checked = precisions.check(precision)
    except precisions.UnsupportedPrecisionError as error:
        raise RuntimeUnavailableError(f"--precision {precision}: {error}") from error
    return functools.partial(OpenVINOServable, precision=checked)
