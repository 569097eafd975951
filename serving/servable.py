"""One loaded version of one model: its SavedModel signature, input checks, execution and warmup."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving.errors import invalid_argument
from serving.tensors import dtype_name, to_ndarray

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
# TF Serving's limit on warmup records (saved_model_warmup_util.cc).
MAX_WARMUP_RECORDS = 1000


def _tf_message(error: tf.errors.OpError) -> str:
    """`{{function_node ...}} Unknown image file format. [Op:DecodeImage] name:` -> the middle part."""
    return re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\].*$", "", error.message, flags=re.S).strip()


def check_images(name: str, values: np.ndarray) -> None:
    """Decode every image of an encoded-image input on its own, so that one bad image is reported by
    position and never reaches a batch shared with other callers."""
    for index, data in enumerate(values.ravel()):
        try:
            tf.io.decode_image(tf.constant(data, dtype=tf.string), channels=3, expand_animations=False)
        except tf.errors.OpError as error:
            raise invalid_argument(
                f"{name}[{index}] is not a decodable image: {_tf_message(error)}"
            ) from error


def image_inputs(signature: meta_graph_pb2.SignatureDef) -> list[str]:
    """The inputs that carry encoded images: string inputs whose alias ends in `bytes`."""
    return sorted(
        alias
        for alias, info in signature.inputs.items()
        if info.dtype == types_pb2.DT_STRING and alias.endswith("bytes")
    )


def read_signature_defs(path: Path) -> dict[str, meta_graph_pb2.SignatureDef]:
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {key: value for key, value in meta_graph.signature_def.items() if not key.startswith("__")}
    raise ValueError(f"{path} has no MetaGraph tagged 'serve'")


class Servable:
    """A SavedModel version run by TensorFlow. `run` is thread-safe and is called from worker threads.

    Subclasses run the same signatures with another runtime (serving/runtimes.py): they override `_load`,
    `run` and `prepare` (what a request's batch runs on); signature checks, warmup and in-flight accounting
    stay here."""

    runtime = "tensorflow"
    precision: str = "f32"
    prepared_bytes_per_row = 0  # what `prepare` adds per row while a request waits (counted in admission)

    def __init__(self, name: str, version: int, path: Path) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.selection: dict[str, str] = {}  # how --runtime auto chose this runtime (auto_runtime.py)
        started = time.perf_counter()
        self.signature_defs = read_signature_defs(path)
        self._load()
        self.load_seconds = time.perf_counter() - started
        self._lock = threading.Condition()
        self._in_flight = 0

    def _load(self) -> None:
        self._loaded = tf.saved_model.load(str(self.path), tags=["serve"])
        self._functions = {key: self._loaded.signatures[key] for key in self.signature_defs}

    @property
    def runtime_info(self) -> dict[str, str]:
        """Reported in model metadata, response headers and the runtime_info metric."""
        return {"runtime": self.runtime, "precision": self.precision, **self.selection}

    # --- request checks -------------------------------------------------------------------------
    def signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise invalid_argument(f'Serving signature name: "{key}" not found in signature def')
        return self.signature_defs[key]

    def validate_inputs(self, signature_name: str, inputs: dict[str, np.ndarray]) -> int:
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

    def prepare(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """In a request thread, before batching: check the request's images and return what its batch runs
        on. TensorFlow decodes in its graph, so the inputs go on as they are."""
        self.check_images(signature_name, inputs)
        return inputs

    def check_images(self, signature_name: str, inputs: dict[str, np.ndarray]) -> None:
        for alias in image_inputs(self.signature(signature_name)):
            check_images(alias, inputs[alias])

    # --- execution ------------------------------------------------------------------------------
    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        function = self._functions[signature_name or DEFAULT_SIGNATURE]
        tensors = {alias: tf.constant(array) for alias, array in inputs.items()}
        try:
            outputs = function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise invalid_argument(_tf_message(error)) from error
        return {alias: tensor.numpy() for alias, tensor in outputs.items()}

    def warm_up(self, batch_sizes: tuple[int, ...] = ()) -> int:
        """Replay the warmup records (as TF Serving does), then run once each batch size the batcher can
        form that the records did not cover, so no client request is the first of its shape."""
        runs = 0
        covered: set[int] = set()
        first_request: tuple[str, dict[str, np.ndarray]] | None = None
        path = self.path / WARMUP_FILE
        if path.exists():
            for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS):
                entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
                if not entry.HasField("predict_log"):
                    continue
                request = entry.predict_log.request
                inputs = {alias: to_ndarray(proto) for alias, proto in request.inputs.items()}
                self.run(request.model_spec.signature_name, inputs)
                runs += 1
                covered.add(len(next(iter(inputs.values()))) if inputs else 0)
                if first_request is None:
                    first_request = (request.model_spec.signature_name, inputs)
        if first_request is not None:
            signature_name, inputs = first_request
            one = {alias: array[:1] for alias, array in inputs.items()}
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


def _numpy_dtype_enum(array: np.ndarray) -> int | None:
    try:
        enum: int = tf.dtypes.as_dtype(array.dtype).as_datatype_enum
        return enum
    except TypeError:
        return None
