"""The OpenVINO engine: an export's `serving_default` with its network run by OpenVINO at a precision.

Thread model: `prepare` decodes and resizes in the calling request thread (Pillow and simplejpeg release
the GIL), so each image is decoded once and what passes also runs; `run` takes an idle infer request from
a pool sized by the compiled model's OPTIMAL_NUMBER_OF_INFER_REQUESTS (one per CPU stream) and blocks on it
with the GIL released. Unbatched (`streams` 0) it compiles with the LATENCY hint: one stream using every
core. A batching server passes `streams` = its batch threads (serving/loader.py): the THROUGHPUT hint with
that many streams, each with its own share of the cores and its own infer request, so every batch thread
runs its batch on its own stream. With one LATENCY stream the two batch threads took turns on one infer
request and OpenVINO's workers spun between batches: ResNet50 bf16 on a 2-core AMX Xeon cost 12 % less
server CPU per request with two streams (docs/benchmarks.md, "The model server's own cost"). Top-k, label
lookup and casts are numpy, as the IR ends at the probabilities (serving/openvino_ir/convert.py).
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
import openvino as ov

from contracts import model as contract
from serving.engines import Arrays, EngineSpec
from serving.errors import invalid_argument
from serving.openvino_ir.build import ensure
from serving.openvino_ir.decode import ImageDecodeError, prepare
from serving.precisions import Precision, UnsupportedPrecisionError, check
from serving.topk import top_k

log = logging.getLogger(__name__)

INFERENCE_TYPE = {"f32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": ov.Type.f32}  # int8: the rest runs f32


class OpenVINOEngine:
    serves: Mapping[str, frozenset[str]] = MappingProxyType({contract.SIGNATURE: frozenset({contract.INPUT})})
    prepare_decodes = True

    def __init__(
        self,
        version_dir: Path | str,
        precision: Precision = "f32",
        *,
        streams: int = 0,
        num_threads: int = 0,
    ) -> None:
        started = time.perf_counter()
        version_dir = Path(version_dir)
        self.spec = EngineSpec("openvino", check(precision))
        self.artefact = ensure(version_dir, precision)
        self.front = self.artefact.front
        self.labels = np.array(self.artefact.labels, dtype=object)
        self._encoded_labels = np.array(
            [label.encode("utf-8") for label in self.artefact.labels], dtype=object
        )
        self.prepared_bytes_per_row = (
            self.front.height * self.front.width * 3 * np.dtype(self.front.dtype).itemsize
        )
        core = ov.Core()
        streams = min(streams, len(os.sched_getaffinity(0)))  # a stream needs a core of its own
        performance_hint = "THROUGHPUT" if streams > 0 else "LATENCY"
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": INFERENCE_TYPE[precision],
            "PERFORMANCE_HINT": performance_hint,
        }
        if streams > 0:
            config["NUM_STREAMS"] = streams
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        self._compiled = core.compile_model(core.read_model(self.artefact.xml), "CPU", config)
        self.inference_precision = self._compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        if self.inference_precision != INFERENCE_TYPE[precision].to_string():
            raise UnsupportedPrecisionError(
                f"asked OpenVINO for {INFERENCE_TYPE[precision]}, it compiled for {self.inference_precision}"
            )
        count = max(int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")), 1)
        self._requests: queue.Queue[ov.InferRequest] = queue.Queue()
        for _ in range(count):
            self._requests.put(self._compiled.create_infer_request())
        self.load_seconds = time.perf_counter() - started
        log.info(
            "OpenVINO %s %s: %d infer request(s), %s hint, %s stream(s), loaded in %.2fs",
            version_dir,
            precision,
            count,
            performance_hint,
            self._compiled.get_property("NUM_STREAMS"),
            self.load_seconds,
        )

    def info(self) -> dict[str, str]:
        return {
            "runtime": self.spec.runtime,
            "precision": self.spec.precision,
            "inference_precision": self.inference_precision,
        }

    # --- the two stages: request thread, batch thread ------------------------------------------------
    def pixels(self, images: Sequence[bytes]) -> np.ndarray:
        """The network's input batch; ValueError naming every image that does not decode."""
        rows, bad = [], []
        for index, data in enumerate(images):
            try:
                rows.append(prepare(data, self.front))
            except ImageDecodeError as exc:
                bad.append((index, str(exc)))
        if bad:
            index, reason = bad[0]
            others = f" (undecodable elements: {[i for i, _ in bad]})" if len(bad) > 1 else ""
            raise ValueError(f"{contract.INPUT}[{index}] is not a decodable image: {reason}{others}")
        if not rows:
            return np.zeros((0, self.front.height, self.front.width, 3), dtype=self.front.dtype)
        return rows[0][np.newaxis] if len(rows) == 1 else np.stack(rows)

    def network(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities [b, classes] of a decoded batch."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        request = self._requests.get()
        try:
            # the batch is read in place (no copy into OpenVINO's tensor); the answer is copied out before
            # the request goes back to the pool
            request.infer({0: np.ascontiguousarray(batch)}, share_inputs=True)
            probabilities: np.ndarray = request.get_output_tensor(0).data.copy()
            return probabilities
        finally:
            self._requests.put(request)

    # --- the Engine protocol ---------------------------------------------------------------------------
    def prepare(self, signature_name: str, inputs: Arrays) -> Arrays:
        """Decode with the engine's own decoder: the batch gets the pixels and only runs the network."""
        try:
            return {contract.INPUT: self.pixels(list(inputs[contract.INPUT].ravel()))}
        except ValueError as error:
            raise invalid_argument(str(error)) from error

    def run(self, signature_name: str, inputs: Arrays) -> Arrays:
        """The signature's outputs (labels as bytes, as TensorFlow returns them) for prepared pixels."""
        class_ids, scores = top_k(self.network(inputs[contract.INPUT]), self.artefact.top_k)
        return {
            contract.LABELS: self._encoded_labels[class_ids].reshape(class_ids.shape),
            contract.SCORES: scores,
            contract.CLASS_IDS: class_ids,
        }
