"""The request path shared by gRPC and REST: find the servable, check, batch or run, count."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import numpy as np

from serving.batching import BatchScheduler
from serving.errors import ServingError, invalid_argument
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.servable import DEFAULT_SIGNATURE

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Prediction:
    version: int
    signature_name: str
    outputs: Arrays
    runtime_info: dict[str, str]


def runtime_headers(runtime_info: dict[str, str]) -> list[tuple[str, str]]:
    """`x-model-runtime: openvino`, `x-model-precision: int8`, ... as gRPC metadata or HTTP headers."""
    return [(f"x-model-{key.replace('_', '-')}", value) for key, value in runtime_info.items()]


class Predictor:
    def __init__(
        self,
        manager: ModelManager,
        scheduler: BatchScheduler | None,
        metrics: Metrics,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.manager = manager
        self.scheduler = scheduler
        self.metrics = metrics
        self._executor = executor

    async def predict(
        self,
        name: str,
        version: int | None,
        signature_name: str,
        inputs: Arrays,
        output_filter: list[str] | None = None,
    ) -> Prediction:
        loop = asyncio.get_running_loop()
        with self.manager.acquire(name, version) as servable:
            signature = servable.signature(signature_name)
            size = servable.validate_inputs(signature_name, inputs)
            unknown = [alias for alias in output_filter or [] if alias not in signature.outputs]
            if unknown:
                raise invalid_argument(f"output tensor alias not found in signature: {', '.join(unknown)}")
            await loop.run_in_executor(self._executor, servable.check_images, signature_name, inputs)
            if self.scheduler is not None and size > 0:  # an empty batch answers empty, unbatched
                outputs = await self.scheduler.submit(servable, signature_name, inputs, size)
            else:
                outputs = await loop.run_in_executor(self._executor, servable.run, signature_name, inputs)
            if output_filter:
                outputs = {alias: outputs[alias] for alias in output_filter}
            return Prediction(
                servable.version, signature_name or DEFAULT_SIGNATURE, outputs, servable.runtime_info
            )


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
