"""The request path shared by gRPC and REST: find the servable, check, batch or run, count.

The checks run cheapest first, each before the work it bounds: admission (`admitted`, by the APIs, before
a request's tensors are built); names, dtypes and the batch size (`validate_inputs`); the batch queue's
room; then each image's header (frames and pixels, serving/image_header.py) and only then what the engine
prepares: OpenVINO decodes there, in a request thread; TensorFlow decodes in its graph, so its JPEG and PNG
headers are read on the event loop (a few bounded steps, cheaper than a thread hop) and an undecodable
image fails only its own request when its batch is run again request by request. A caller that has gone
(cancelled, deadline passed, REST client disconnected) is dropped before each stage that costs work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import numpy as np
from tensorflow.core.protobuf.meta_graph_pb2 import SignatureDef

from contracts.image_header import walk_is_short
from serving.batching import BatchScheduler
from serving.errors import Gone, ServingError, check_alive, invalid_argument, still_here
from serving.image_header import check_image
from serving.limits import Limits
from serving.manager import ModelManager, VersionRequest
from serving.metrics import Metrics
from serving.servable import Servable
from serving.signatures import DEFAULT_SIGNATURE, image_inputs

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Prediction:
    version: int
    signature_name: str
    outputs: Arrays
    runtime_info: dict[str, str]


class Predictor:
    def __init__(
        self,
        manager: ModelManager,
        scheduler: BatchScheduler | None,
        metrics: Metrics,
        executor: ThreadPoolExecutor,
        limits: Limits | None = None,
    ) -> None:
        self.manager = manager
        self.scheduler = scheduler
        self.metrics = metrics
        self.limits = limits or Limits()
        self._executor = executor
        self._queued = 0
        self._queued_bytes = 0

    @contextmanager
    def admitted(self, request_bytes: int) -> Iterator[None]:
        """Admission of one predict request of `request_bytes` (on the event loop, before its tensors are
        built): at most `max_queued_requests` requests and `max_queued_bytes` of them are past this point
        at once, which bounds the request threads' queue and the memory requests hold. Beyond it the
        caller gets RESOURCE_EXHAUSTED at once (gRPC clients and the gateway retry another replica)."""
        limits = self.limits
        if self._queued >= limits.max_queued_requests:
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is busy: {self._queued} requests are queued or running; the limit is "
                f"{limits.max_queued_requests} (--max_queued_requests)",
            )
        self._queued += 1
        try:
            with self._holding(request_bytes, "this one"):
                yield
        finally:
            self._queued -= 1

    @contextmanager
    def _holding(self, nbytes: int, what: str) -> Iterator[None]:
        """`nbytes` more of request memory, within `max_queued_bytes`, until the block ends."""
        self._reserve(nbytes, what)
        try:
            yield
        finally:
            self._queued_bytes -= nbytes

    def _reserve(self, nbytes: int, what: str) -> None:
        limit = self.limits.max_queued_bytes
        if self._queued_bytes + nbytes > limit:
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is busy: queued requests hold {self._queued_bytes} bytes, {what} "
                f"{nbytes}; the limit is {limit} (--max_queued_bytes)",
            )
        self._queued_bytes += nbytes

    @contextmanager
    def receiving(self) -> Iterator[Callable[[int], None]]:
        """Request memory that grows as a body arrives: the block gets `add(nbytes)`, which holds that much
        more within `max_queued_bytes` (RESOURCE_EXHAUSTED beyond), and everything added is given back
        when the block ends. A slow body holds only the bytes it has sent, never what it declared."""
        held = 0

        def add(nbytes: int) -> None:
            nonlocal held
            self._reserve(nbytes, "a body being received")
            held += nbytes

        try:
            yield add
        finally:
            self._queued_bytes -= held

    async def predict(
        self,
        name: str,
        version: VersionRequest,
        signature_name: str,
        inputs: Arrays,
        output_filter: list[str] | None = None,
        gone: Gone = still_here,
    ) -> Prediction:
        loop = asyncio.get_running_loop()
        limits = self.limits
        with self.manager.acquire(name, version) as servable:
            signature = servable.signature(signature_name)
            size = servable.validate_inputs(signature_name, inputs)
            if size > limits.max_request_batch_size:
                raise invalid_argument(
                    f"the request has {size} rows; the limit is {limits.max_request_batch_size} "
                    "(--max_request_batch_size)"
                )
            unknown = [alias for alias in output_filter or [] if alias not in signature.outputs]
            if unknown:
                raise invalid_argument(f"output tensor alias not found in signature: {', '.join(unknown)}")
            if self.scheduler is not None:
                self.scheduler.check_task_size(size)
            check_alive(gone)
            # a runtime that decodes before batching holds the decoded rows until its batch has run
            with self._holding(size * servable.prepared_bytes_per_row, "its decoded images"):
                if servable.engine.prepare_decodes or not self._headers_are_short(signature, inputs):
                    inputs = await loop.run_in_executor(
                        self._executor, self._check, servable, signature_name, inputs, gone
                    )
                else:  # a few header steps per image: a thread hop would cost more than the work
                    inputs = self._check(servable, signature_name, inputs, gone)
                check_alive(gone)
                if self.scheduler is not None and size > 0:  # an empty batch answers empty, unbatched
                    outputs = await self.scheduler.submit(servable, signature_name, inputs, size, gone)
                else:
                    outputs = await loop.run_in_executor(
                        self._executor, self._run, servable, signature_name, inputs, gone
                    )
            if output_filter:
                outputs = {alias: outputs[alias] for alias in output_filter}
            return Prediction(
                servable.version, signature_name or DEFAULT_SIGNATURE, outputs, servable.runtime_info
            )

    @staticmethod
    def _headers_are_short(signature: SignatureDef, inputs: Arrays) -> bool:
        return all(walk_is_short(data) for alias in image_inputs(signature) for data in inputs[alias].ravel())

    def _check(self, servable: Servable, signature_name: str, inputs: Arrays, gone: Gone) -> Arrays:
        """Every image's header (frames, pixels), then what the engine prepares (a decode, for OpenVINO)."""
        check_alive(gone)  # the caller may have gone while this waited for a thread
        for alias in image_inputs(servable.signature(signature_name)):
            for index, data in enumerate(inputs[alias].ravel()):
                check_image(alias, index, data, self.limits.max_image_pixels, self.limits.max_image_frames)
        return servable.prepare(signature_name, inputs)

    @staticmethod
    def _run(servable: Servable, signature_name: str, inputs: Arrays, gone: Gone) -> Arrays:
        check_alive(gone)
        return servable.run(signature_name, inputs)


class Timer:
    """Counts one request in the metrics with the status it ended with."""

    def __init__(self, metrics: Metrics, model: str, api: str) -> None:
        self._metrics, self._model, self._api = metrics, model, api
        self._started = time.perf_counter()

    def __enter__(self) -> Timer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        if kind is None:
            status = grpc.StatusCode.OK.name
        elif isinstance(error, ServingError):
            status = error.code.name
        elif isinstance(error, asyncio.CancelledError):
            status = grpc.StatusCode.CANCELLED.name
        else:
            status = grpc.StatusCode.INTERNAL.name
        self._metrics.request(self._model, self._api, status, time.perf_counter() - self._started)
