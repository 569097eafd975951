"""What runs a model version's network: an `Engine`, held by the version's `Servable` (serving/servable.py),
which stays the same whatever runs it, as TF Serving keeps TF and TFRT behind the same handlers.

- `TensorFlowEngine` (tensorflow.py): the export's signatures run by TensorFlow, as TF Serving runs them.
  The reference.
- `OpenVINOEngine` (openvino.py): the export's `serving_default` with its network converted to OpenVINO
  (serving/openvino_ir) at a precision; images are decoded in the request's thread.

An engine is thread-safe: `prepare` runs in request threads and `run` in batch threads, at the same time.
Which engine serves a version is a flag, or `--runtime auto`'s choice (auto.py), made before the servable
exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from contracts import model as contract
from serving.precisions import Precision, UnsupportedPrecisionError, check, parse

Arrays = dict[str, np.ndarray]
EngineRuntime = Literal["tensorflow", "openvino"]


class RuntimeUnavailableError(RuntimeError):
    """The requested runtime/precision cannot run on this machine; the server must not start."""


@dataclass(frozen=True)
class EngineSpec:
    """An engine to build: its runtime and precision. Named `tensorflow` or `openvino-<precision>`."""

    runtime: EngineRuntime
    precision: Precision = "f32"

    @property
    def name(self) -> str:
        return "tensorflow" if self.runtime == "tensorflow" else f"{self.runtime}-{self.precision}"

    @classmethod
    def parse(cls, name: str) -> EngineSpec:
        if name == "tensorflow":
            return TENSORFLOW
        runtime, _, precision = name.partition("-")
        try:
            if runtime == "openvino":
                return cls("openvino", parse(precision))
        except UnsupportedPrecisionError:
            pass
        raise ValueError(f"unknown candidate {name!r}: expected tensorflow or openvino-f32|bf16|int8")

    def check(self) -> None:
        """RuntimeUnavailableError when this CPU cannot run it (before anything is loaded)."""
        if self.runtime == "openvino":
            try:
                check(self.precision)
            except UnsupportedPrecisionError as error:
                raise RuntimeUnavailableError(f"--precision {self.precision}: {error}") from error


TENSORFLOW = EngineSpec("tensorflow")


class Engine(Protocol):
    @property
    def spec(self) -> EngineSpec: ...

    @property
    def serves(self) -> Mapping[str, frozenset[str]] | None:
        """The signatures (by name, with their inputs) this engine can run; None: every one of the export."""
        ...

    @property
    def prepared_bytes_per_row(self) -> int:
        """What `prepare` adds per row while the request waits for its batch (counted in admission)."""
        ...

    @property
    def load_seconds(self) -> float: ...

    @property
    def prepare_decodes(self) -> bool:
        """Whether `prepare` decodes images (work for a request thread), or hands the inputs on as they are
        (cheap enough to stay on the event loop)."""
        ...

    def prepare(self, signature_name: str, inputs: Arrays) -> Arrays:
        """In a request thread, before batching: check (and decode) the request's images; what passes here
        also runs. Raises the servable's INVALID_ARGUMENT naming the bad image."""
        ...

    def run(self, signature_name: str, inputs: Arrays) -> Arrays:
        """One batch of inputs as `prepare` returned them (several requests' rows concatenated)."""
        ...

    def info(self) -> dict[str, str]:
        """What runs it (`runtime`, `precision`, …): model metadata, response headers, the runtime_info
        metric. Short ASCII values: they become headers."""
        ...


def load(spec: EngineSpec, version_dir: Path, *, streams: int = 0) -> Engine:
    """`streams`: how many batches run at once (the batch threads); 0 = unbatched. OpenVINO gives each
    its own CPU stream (serving/engines/openvino.py); TensorFlow shares its intra-op pool."""
    if spec.runtime == "tensorflow":
        from serving.engines.tensorflow import TensorFlowEngine

        return TensorFlowEngine(version_dir)
    from serving.engines.openvino import OpenVINOEngine

    return OpenVINOEngine(version_dir, spec.precision, streams=streams)


Classify = Callable[[Sequence[bytes]], tuple[np.ndarray, np.ndarray]]


def classify(engine: Engine, images: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(class_ids, scores) of `serving_default` for encoded images, as one request through the engine."""
    inputs = {contract.INPUT: np.array(list(images), dtype=object)}
    outputs = engine.run(contract.SIGNATURE, engine.prepare(contract.SIGNATURE, inputs))
    return np.asarray(outputs[contract.CLASS_IDS]), np.asarray(outputs[contract.SCORES])


def classifier(engine: Engine) -> Classify:
    """`classify` bound to `engine`: what the accuracy gate and the timing loop call."""
    return functools.partial(classify, engine)
