"""Async gRPC client of TF Serving's PredictionService / ModelService, over one or more replicas.

`SERVING_TARGET` is `host:port`, `dns:///name:port` (one channel, grpc's round_robin over the resolved
addresses) or `a:8500,b:8510` (one channel per replica, rotated per call). A call that fails with
UNAVAILABLE or RESOURCE_EXHAUSTED is retried once on the next replica, within the same deadline.
"""

from __future__ import annotations

import array
import itertools
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from grpc import aio

from contracts import model as contract
from gateway.core.logging import REQUEST_ID
from gateway.core.metrics import SERVING_LATENCY
from tfs_protos.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    tensor_pb2,
    types_pb2,
)

log = logging.getLogger("gateway.serving")
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
CHANNEL_OPTIONS = [
    ("grpc.service_config", SERVICE_CONFIG),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
STATUS_TIMEOUT_S = 2.0
T = TypeVar("T")


class ServingError(Exception):
    """A model-server failure, with the HTTP status and detail the gateway answers with."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class Classification:
    labels: list[str]
    scores: list[float]
    class_ids: list[int]
    model_name: str
    model_version: int


@dataclass(frozen=True)
class Replica:
    target: str
    channel: aio.Channel
    predict: prediction_service_pb2_grpc.PredictionServiceStub
    models: model_service_pb2_grpc.ModelServiceStub


def _error_for(code: grpc.StatusCode, details: str | None, model_name: str, timeout: float) -> ServingError:
    """The answer for a failed call. grpc's details name replica addresses ("ipv4:10.0.0.5:8500: Connection
    refused") and the model server's paths: they go to the log, never into the answer."""
    if details:
        log.warning("model server call failed: %s: %s", code.name, details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServingError(504, f"The model server did not answer within {timeout:g}s.")
    if code in RETRYABLE:
        return ServingError(503, "No model server replica is available.")
    if code == grpc.StatusCode.NOT_FOUND:
        return ServingError(503, f"Model '{model_name}' is not loaded on the model server.")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ServingError(400, "The model could not read this image.")
    return ServingError(502, "The model server failed.")


def _numbers(tensor: tensor_pb2.TensorProto, typecode: str, field: str) -> Sequence[float | int]:
    """A numeric tensor's values, from the typed field or from `tensor_content` (raw little-endian bytes,
    which TensorFlow's `make_tensor_proto` and some servers use instead)."""
    if tensor.tensor_content:
        values = array.array(typecode)
        values.frombytes(tensor.tensor_content)
        if sys.byteorder != "little":
            values.byteswap()
        return values
    typed: Sequence[float | int] = getattr(tensor, field)
    return typed


class ServingClient:
    def __init__(self, target: str, model_name: str, timeout: float, status_ttl: float) -> None:
        self.model_name = model_name
        self.timeout = timeout
        self.status_ttl = status_ttl
        targets = [t.strip() for t in target.split(",") if t.strip()]
        if not targets:
            raise ValueError("SERVING_TARGET is empty")
        self.replicas = [self._replica(t) for t in targets]
        self._turn = itertools.count()
        self._version: int | None = None
        self._version_at = float("-inf")

    @staticmethod
    def _replica(target: str) -> Replica:
        channel = aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        return Replica(
            target,
            channel,
            prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
        )

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.channel.close()

    def _order(self) -> list[Replica]:
        """Replicas starting at the next turn; ones whose channel is known to be down go last."""
        start = next(self._turn) % len(self.replicas)
        rotated = self.replicas[start:] + self.replicas[:start]
        down = grpc.ChannelConnectivity.TRANSIENT_FAILURE
        return [r for r in rotated if r.channel.get_state() != down] + [
            r for r in rotated if r.channel.get_state() == down
        ]

    async def _call(
        self, method: str, call: Callable[[Replica, float], Awaitable[T]], budget: float | None = None
    ) -> T:
        timeout = budget or self.timeout
        deadline = time.monotonic() + timeout
        order = self._order()
        attempts = order[:2] if len(order) > 1 else order * 2
        for attempt, replica in enumerate(attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _error_for(grpc.StatusCode.DEADLINE_EXCEEDED, None, self.model_name, timeout)
            started = time.perf_counter()
            try:
                result = await call(replica, remaining)
            except aio.AioRpcError as exc:
                SERVING_LATENCY.labels(method, exc.code().name).observe(time.perf_counter() - started)
                if exc.code() in RETRYABLE and attempt + 1 < len(attempts):
                    log.warning(
                        "%s on %s failed with %s; retrying on %s",
                        method,
                        replica.target,
                        exc.code().name,
                        attempts[attempt + 1].target,
                    )
                    continue
                raise _error_for(exc.code(), exc.details(), self.model_name, timeout) from exc
            SERVING_LATENCY.labels(method, "OK").observe(time.perf_counter() - started)
            return result
        raise AssertionError("unreachable")

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-request-id", REQUEST_ID.get()),)

    async def classify(self, image: bytes) -> Classification:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        tensor = request.inputs[contract.INPUT]
        tensor.dtype = types_pb2.DT_STRING
        tensor.tensor_shape.dim.add(size=1)
        tensor.string_val.append(image)

        async def call(replica: Replica, seconds: float) -> predict_pb2.PredictResponse:
            response: predict_pb2.PredictResponse = await replica.predict.Predict(
                request, timeout=seconds, metadata=self._metadata()
            )
            return response

        response = await self._call("Predict", call)
        return self._parse(response)

    def _parse(self, response: predict_pb2.PredictResponse) -> Classification:
        outputs = response.outputs
        missing = [key for key in contract.OUTPUTS if key not in outputs]
        if missing:
            raise ServingError(502, f"The model's answer lacks outputs {missing}: wrong signature?")
        labels = [b.decode("utf-8", "replace") for b in outputs[contract.LABELS].string_val]
        scores = [float(x) for x in _numbers(outputs[contract.SCORES], "f", "float_val")]
        class_ids = [int(x) for x in _numbers(outputs[contract.CLASS_IDS], "q", "int64_val")]
        if not labels or len(labels) != len(scores):
            raise ServingError(502, "The model's answer has no or mismatched labels and scores.")
        version = response.model_spec.version.value if response.model_spec.HasField("version") else 0
        if version:
            self._version, self._version_at = version, time.monotonic()
        return Classification(labels, scores, class_ids, response.model_spec.name or self.model_name, version)

    async def available_versions(self) -> list[int]:
        """Versions of the model that a replica reports AVAILABLE (raises ServingError when none answers)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model_name

        async def call(replica: Replica, seconds: float) -> get_model_status_pb2.GetModelStatusResponse:
            response: get_model_status_pb2.GetModelStatusResponse = await replica.models.GetModelStatus(
                request, timeout=seconds, metadata=self._metadata()
            )
            return response

        response = await self._call("GetModelStatus", call, min(self.timeout, STATUS_TIMEOUT_S))
        return sorted(s.version for s in response.model_version_status if s.state == AVAILABLE)

    async def latest_version(self) -> int | None:
        """The newest AVAILABLE version, remembered for `status_ttl` seconds; on failure, the last known."""
        if time.monotonic() - self._version_at < self.status_ttl:
            return self._version
        try:
            versions = await self.available_versions()
        except ServingError as exc:
            log.warning(
                "model status unavailable (%s); using last known version %s", exc.detail, self._version
            )
            return self._version
        self._version, self._version_at = (versions[-1] if versions else None), time.monotonic()
        return self._version
