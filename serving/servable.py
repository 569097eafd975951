"""One loaded version of one model: its signatures, input checks, warmup and in-flight accounting, around
the engine that runs it (serving/engines). `prepare` and `run` are thread-safe (request and batch threads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving.engines import Arrays, Engine
from serving.errors import invalid_argument
from serving.signatures import DEFAULT_SIGNATURE, read_signature_defs
from serving.tensors import dtype_name, to_ndarray

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
# TF Serving's limit on warmup records (saved_model_warmup_util.cc).
MAX_WARMUP_RECORDS = 1000


class Servable:
    def __init__(
        self, name: str, version: int, path: Path, engine: Engine, selection: Mapping[str, str] | None = None
    ) -> None:
        """`selection`: how `--runtime auto` chose the engine (`selected_by`, `selection`); None: a flag."""
        self.name = name
        self.version = version
        self.path = path
        self.engine = engine
        self.signature_defs = read_signature_defs(path)
        if engine.serves is not None:
            found = {key: frozenset(value.inputs) for key, value in self.signature_defs.items()}
            if found != engine.serves:
                raise ValueError(
                    f"the {engine.spec.runtime} runtime serves only {_describe(engine.serves)}; {path} has "
                    f"{_describe(found)}"
                )
        self.selected_by = (selection or {}).get("selected_by", "flag")
        self.runtime_info: dict[str, str] = {**engine.info(), **(selection or {})}
        """Reported in model metadata, response headers and the runtime_info metric."""
        self._lock = threading.Condition()
        self._in_flight = 0

    @property
    def prepared_bytes_per_row(self) -> int:
        return self.engine.prepared_bytes_per_row

    # --- request checks -------------------------------------------------------------------------
    def signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise invalid_argument(f'Serving signature name: "{key}" not found in signature def')
        return self.signature_defs[key]

    def validate_inputs(self, signature_name: str, inputs: Arrays) -> int:
        """Check names, dtypes and batch sizes against the signature; return the batch size."""
        signature = self.signature(signature_name)
        expected = set(signature.inputs)
        if set(inputs) != expected:
            unknown = sorted(set(inputs) - expected)
            if unknown:
                raise invalid_argument(
                    f"input tensor alias not found in signature: {', '.join(unknown)}. "
                    f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}."
                )
            raise invalid_argument(
                f"Missing input(s) {', '.join(sorted(expected - set(inputs)))}; "
                f"the signature expects {{{','.join(sorted(expected))}}}."
            )
        sizes: set[int] = set()
        for position, (alias, info) in enumerate(sorted(signature.inputs.items())):
            array = inputs[alias]
            got = types_pb2.DT_STRING if array.dtype == object else _numpy_dtype_enum(array)
            if got != info.dtype:
                raise invalid_argument(
                    f"Expects arg[{position}] ({alias}) to be {dtype_name(info.dtype)} "
                    f"but {dtype_name(got) if got is not None else array.dtype} is provided"
                )
            dims = [dim.size for dim in info.tensor_shape.dim]
            if not info.tensor_shape.unknown_rank and len(dims) != array.ndim:
                raise invalid_argument(
                    f"input {alias} must have rank {len(dims)} (shape {dims}), got shape {list(array.shape)}"
                )
            for want, got_size in zip(dims[1:], array.shape[1:], strict=False):
                if want >= 0 and want != got_size:
                    raise invalid_argument(f"input {alias} must have shape {dims}, got {list(array.shape)}")
            if array.ndim == 0:
                raise invalid_argument(f"input {alias} must have a batch dimension")
            sizes.add(array.shape[0])
        if len(sizes) != 1:
            raise invalid_argument(f"inputs have different batch sizes: {sorted(sizes)}")
        return sizes.pop()

    # --- execution ------------------------------------------------------------------------------
    def prepare(self, signature_name: str, inputs: Arrays) -> Arrays:
        """In a request thread, before batching: what the request's batch runs on (its images checked)."""
        self.signature(signature_name)
        return self.engine.prepare(signature_name or DEFAULT_SIGNATURE, inputs)

    def run(self, signature_name: str, inputs: Arrays) -> Arrays:
        """`inputs` as `prepare` returned them."""
        return self.engine.run(signature_name or DEFAULT_SIGNATURE, inputs)

    def warm_up(self, batch_sizes: tuple[int, ...] = ()) -> int:
        """Replay the warmup records (as TF Serving does), then run once each batch size the batcher can
        form that the records did not cover, so no client request is the first of its shape."""
        runs = 0
        covered: set[int] = set()
        first_request: tuple[str, Arrays] | None = None
        path = self.path / WARMUP_FILE
        if path.exists():
            for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS):
                entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
                if not entry.HasField("predict_log"):
                    continue
                request = entry.predict_log.request
                inputs = {alias: to_ndarray(proto) for alias, proto in request.inputs.items()}
                prepared = self.prepare(request.model_spec.signature_name, inputs)
                self.run(request.model_spec.signature_name, prepared)
                runs += 1
                covered.add(len(next(iter(inputs.values()))) if inputs else 0)
                if first_request is None:
                    first_request = (request.model_spec.signature_name, prepared)
        if first_request is not None:
            signature_name, prepared = first_request
            one = {alias: array[:1] for alias, array in prepared.items()}
            for size in sorted(set(batch_sizes) - covered):
                self.run(
                    signature_name, {alias: np.repeat(array, size, axis=0) for alias, array in one.items()}
                )
                runs += 1
        return runs

    # --- in-flight accounting (an unloading version waits for its requests) ------------------------
    @contextmanager
    def in_flight(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._lock.notify_all()

    def wait_idle(self) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0)


def _describe(signatures: Mapping[str, frozenset[str]]) -> str:
    return ", ".join(f"{key}({', '.join(sorted(inputs))})" for key, inputs in sorted(signatures.items()))


def _numpy_dtype_enum(array: np.ndarray) -> int | None:
    try:
        enum: int = tf.dtypes.as_dtype(array.dtype).as_datatype_enum
        return enum
    except TypeError:
        return None
