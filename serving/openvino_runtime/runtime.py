"""`OpenVINORuntime`: one exported model version run by OpenVINO at a chosen precision.

Thread model: `predict` may be called from any number of threads at once. Decoding and resizing run in
the calling thread (Pillow and simplejpeg release the GIL); inference takes an idle infer request from a
pool sized by the compiled model's OPTIMAL_NUMBER_OF_INFER_REQUESTS (one per CPU stream) and blocks on
it with the GIL released. With the default LATENCY hint there is one stream using every core, which
suits a batching server (one batch at a time, as fast as possible); THROUGHPUT makes one stream per core
so concurrent batches run side by side.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import openvino as ov

from serving.openvino_runtime.build import ensure
from serving.openvino_runtime.decode import ImageDecodeError, prepare
from serving.openvino_runtime.precision import INFERENCE_TYPE, UnsupportedPrecisionError, check
from serving.precisions import Precision

log = logging.getLogger(__name__)


class OpenVINORuntime:
    """Loads `<model>/<version>/` and classifies encoded images like its `serving_default` signature."""

    runtime = "openvino"

    def __init__(
        self,
        version_dir: Path | str,
        precision: Precision = "f32",
        *,
        performance_hint: Literal["LATENCY", "THROUGHPUT"] = "LATENCY",
        num_threads: int = 0,
        core: ov.Core | None = None,
    ) -> None:
        started = time.perf_counter()
        self.version_dir = Path(version_dir)
        core = core or ov.Core()
        self.precision: Precision = check(precision, core)
        self._artefact = ensure(self.version_dir, precision)
        self.front = self._artefact.front
        self.top_k = self._artefact.top_k
        self.labels = np.array(self._artefact.labels, dtype=object)
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": INFERENCE_TYPE[precision],
            "PERFORMANCE_HINT": performance_hint,
        }
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        self._compiled = core.compile_model(core.read_model(self._artefact.xml), "CPU", config)
        actual = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        if actual != INFERENCE_TYPE[precision]:
            raise UnsupportedPrecisionError(
                f"asked OpenVINO for {INFERENCE_TYPE[precision]}, it compiled for {actual}"
            )
        count = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._requests: queue.Queue[ov.InferRequest] = queue.Queue()
        for _ in range(max(count, 1)):
            self._requests.put(self._compiled.create_infer_request())
        self.num_requests = max(count, 1)
        self.load_seconds = time.perf_counter() - started
        log.info(
            "OpenVINO %s %s: %d infer request(s), %s hint, loaded in %.2fs",
            self.version_dir,
            precision,
            self.num_requests,
            performance_hint,
            self.load_seconds,
        )

    @property
    def info(self) -> dict[str, object]:
        """For model metadata and metrics labels."""
        return {
            "runtime": self.runtime,
            "precision": self.precision,
            "inference_precision": self._compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
            "infer_requests": self.num_requests,
            "ir": str(self._artefact.xml),
            "front": self.front.to_json(),
        }

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
            raise ValueError(f"image_bytes[{index}] is not a decodable image: {reason}{others}")
        if not rows:
            return np.zeros((0, self.front.height, self.front.width, 3), dtype=self.front.dtype)
        return np.stack(rows)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities [b, classes] for a prepared batch; thread-safe."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        request = self._requests.get()
        try:
            request.infer({0: batch})
            probabilities: np.ndarray = request.get_output_tensor(0).data.copy()
            return probabilities
        finally:
            self._requests.put(request)

    def predict(self, images: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """labels [b, k] (object array of str), scores [b, k] float32, class_ids [b, k] int64; sorted."""
        return self.classify(self.pixels(images))

    def classify(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`predict` for a batch that `pixels` already decoded."""
        probabilities = self.probabilities(batch)
        # stable sort on -p: ties keep the lower class id first, as tf.math.top_k does
        class_ids = np.argsort(-probabilities, axis=1, kind="stable")[:, : self.top_k].astype(np.int64)
        scores = np.take_along_axis(probabilities, class_ids, axis=1).astype(np.float32)
        labels = self.labels[class_ids].reshape(class_ids.shape)
        return labels, scores, class_ids

    def signature_outputs(self, images: Sequence[bytes] | np.ndarray) -> dict[str, np.ndarray]:
        """`predict` (or `classify`, given decoded pixels) shaped like the TF signature's outputs (labels as
        bytes, as TensorFlow returns them)."""
        decoded = isinstance(images, np.ndarray) and images.dtype != object
        labels, scores, class_ids = self.classify(images) if decoded else self.predict(images)  # type: ignore[arg-type]
        encoded = np.array([label.encode("utf-8") for label in labels.ravel()], dtype=object)
        return {"labels": encoded.reshape(labels.shape), "scores": scores, "class_ids": class_ids}
