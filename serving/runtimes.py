"""`--runtime tensorflow|openvino --precision f32|bf16|int8`: which Servable class the manager loads.

TensorFlow (`Servable`) is the reference. `OpenVINOServable` runs the export's `serving_default` through
serving/openvino_runtime (the IR cached beside the export) behind the same signature checks, batching,
warmup and in-flight accounting, so clients see the same API; only the runtime/precision reports differ.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import numpy as np

from serving.errors import invalid_argument
from serving.servable import DEFAULT_SIGNATURE, Servable

if TYPE_CHECKING:
    from serving.openvino_runtime import OpenVINORuntime, Precision

RUNTIMES = ("tensorflow", "openvino")
PRECISIONS = ("f32", "bf16", "int8")
IMAGE_INPUT = "image_bytes"

LoadServable = Callable[[str, int, Path], Servable]


class RuntimeUnavailableError(RuntimeError):
    """The requested runtime/precision cannot run on this machine; the server must not start."""


class OpenVINOServable(Servable):
    runtime = "openvino"

    def __init__(self, name: str, version: int, path: Path, precision: Precision) -> None:
        self.precision = precision
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
        self._info = {
            "runtime": self.runtime,
            "precision": self.precision,
            "inference_precision": str(self._runtime.info["inference_precision"]),
        }

    @property
    def runtime_info(self) -> dict[str, str]:
        return self._info

    def _images(self, inputs: dict[str, np.ndarray]) -> list[bytes]:
        return list(inputs[IMAGE_INPUT].ravel())

    def check_images(self, signature_name: str, inputs: dict[str, np.ndarray]) -> None:
        """Decode with the runtime's own decoder (not TensorFlow's), so what passes here also runs."""
        self.signature(signature_name)
        try:
            self._runtime.pixels(self._images(inputs))
        except ValueError as error:
            raise invalid_argument(str(error)) from error

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return self._runtime.signature_outputs(self._images(inputs))
        except ValueError as error:
            raise invalid_argument(str(error)) from error


def servable_loader(runtime: str, precision: str) -> LoadServable:
    """The manager's loader for `--runtime/--precision`; refuses what cannot run here before any load."""
    if runtime == "tensorflow":
        if precision != "f32":
            raise RuntimeUnavailableError(
                f"--precision {precision} needs --runtime openvino (the tensorflow runtime runs f32)"
            )
        return Servable
    if runtime != "openvino":
        raise RuntimeUnavailableError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
    from serving.openvino_runtime import Precision

    if precision not in get_args(Precision):
        raise RuntimeUnavailableError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    check_precision_supported(precision)
    return functools.partial(OpenVINOServable, precision=precision)


def check_precision_supported(precision: str) -> None:
    """OpenVINO silently runs f32 where bf16 is missing; refuse at start instead (before converting)."""
    if precision != "bf16":
        return
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" not in capabilities:
        raise RuntimeUnavailableError(
            "--precision bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX); this CPU offers "
            f"{' '.join(capabilities)}. Use --precision f32 or int8."
        )
