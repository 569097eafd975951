"""Async gRPC client of TF Serving's PredictionService / ModelService, over one or more replicas.

`SERVING_TARGET` is `host:port`, `dns:///name:port` (one channel, grpc's round_robin over the resolved
addresses) or `a:8500,b:8510` (one channel per replica, rotated per call). A call that fails with
UNAVAILABLE or RESOURCE_EXHAUSTED is retried once on the next replica, within the same deadline.

A prediction may name a version label (TF Serving's `model_spec.version_label`). The version a label points
at is resolved, for the result cache, through GetModelMetadata: real TF Serving's GetModelStatus ignores
`version_label` (get_model_status_impl.cc reads only `version`), while GetModelMetadata answers through
the servable the label names and says its version. An unknown label is INVALID_ARGUMENT ("Unrecognized
servable version label") in TF Serving and in the embedded server alike; it is told apart from an image the
model cannot read (also INVALID_ARGUMENT) by that message.
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
    get_model_metadata_pb2,
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
UNKNOWN_LABEL = "Unrecognized servable version label"
USERS_IMAGE = "invalid_image"
T = TypeVar("T")


class ServingError(Exception):
    """A model-server failure, with the HTTP status and detail the gateway answers with, and a short reason
    (`unavailable`, `deadline_exceeded`, `not_found`, `unknown_label`, `invalid_image`, …) for metrics."""

    def __init__(self, status_code: int, detail: str, reason: str = "error") -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.reason = reason

    @property
    def users_fault(self) -> bool:
        """The model could not read the caller's image: another version would not either."""
        return self.reason == USERS_IMAGE


@dataclass(frozen=True)
class Classification:
    labels: list[str]
    scores: list[float]
    class_ids: list[int]
    model_name: str
    model_version: int
    label: str | None = None
    """The version label the request named (None: none, the latest version answered)."""
    serving_ms: float = 0.0
    """The model server's answer time, retries on another replica included."""


@dataclass(frozen=True)
class Replica:
    target: str
    channel: aio.Channel
    predict: prediction_service_pb2_grpc.PredictionServiceStub
    models: model_service_pb2_grpc.ModelServiceStub


def _error_for(
    code: grpc.StatusCode, details: str | None, model_name: str, timeout: float, label: str | None = None
) -> ServingError:
    """The answer for a failed call. grpc's details name replica addresses ("ipv4:10.0.0.5:8500: Connection
    refused") and the model server's paths: they go to the log, never into the answer."""
    if details:
        log.warning("model server call failed: %s: %s", code.name, details)
    reason = code.name.lower()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServingError(504, f"The model server did not answer within {timeout:g}s.", reason)
    if code in RETRYABLE:
        return ServingError(503, "No model server replica is available.", reason)
    which = f"Model '{model_name}'" + (f" (label '{label}')" if label else "")
    if code == grpc.StatusCode.NOT_FOUND:
        return ServingError(503, f"{which} is not loaded on the model server.", reason)
    if code == grpc.StatusCode.INVALID_ARGUMENT and label and UNKNOWN_LABEL in (details or ""):
        return ServingError(
            503,
            f"Model '{model_name}' has no version labelled '{label}' on the model server.",
            "unknown_label",
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ServingError(400, "The model could not read this image.", USERS_IMAGE)
    return ServingError(502, "The model server failed.", reason)


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
        self._labelled: dict[str, tuple[int | None, float]] = {}  # label -> (version, when learnt)

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
        self,
        method: str,
        call: Callable[[Replica, float], Awaitable[T]],
        budget: float | None = None,
        deadline: float | None = None,
        label: str | None = None,
    ) -> T:
        """`budget` seconds from now, and never past `deadline` (time.monotonic()) when one is given."""
        timeout = budget or self.timeout
        deadline = min(time.monotonic() + timeout, deadline if deadline is not None else float("inf"))
        order = self._order()
        attempts = order[:2] if len(order) > 1 else order * 2
        for attempt, replica in enumerate(attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _error_for(grpc.StatusCode.DEADLINE_EXCEEDED, None, self.model_name, self.timeout)
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
                raise _error_for(exc.code(), exc.details(), self.model_name, self.timeout, label) from exc
            SERVING_LATENCY.labels(method, "OK").observe(time.perf_counter() - started)
            return result
        raise AssertionError("unreachable")

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-request-id", REQUEST_ID.get()),)

    async def classify(
        self,
        image: bytes,
        label: str | None = None,
        *,
        budget: float | None = None,
        deadline: float | None = None,
    ) -> Classification:
        """The model's answer, from the version `label` points at (None: the latest); `budget` and `deadline`
        as in `_call`."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        if label:
            request.model_spec.version_label = label
        tensor = request.inputs[contract.INPUT]
        tensor.dtype = types_pb2.DT_STRING
        tensor.tensor_shape.dim.add(size=1)
        tensor.string_val.append(image)

        async def call(replica: Replica, seconds: float) -> predict_pb2.PredictResponse:
            response: predict_pb2.PredictResponse = await replica.predict.Predict(
                request, timeout=seconds, metadata=self._metadata()
            )
            return response

        started = time.perf_counter()
        response = await self._call("Predict", call, budget, deadline, label)
        serving_ms = (time.perf_counter() - started) * 1000
        return self._parse(response, label, serving_ms)

    def _parse(
        self, response: predict_pb2.PredictResponse, label: str | None, serving_ms: float
    ) -> Classification:
        outputs = response.outputs
        missing = [key for key in contract.OUTPUTS if key not in outputs]
        if missing:
            raise ServingError(
                502, f"The model's answer lacks outputs {missing}: wrong signature?", "bad_answer"
            )
        labels = [b.decode("utf-8", "replace") for b in outputs[contract.LABELS].string_val]
        scores = [float(x) for x in _numbers(outputs[contract.SCORES], "f", "float_val")]
        class_ids = [int(x) for x in _numbers(outputs[contract.CLASS_IDS], "q", "int64_val")]
        if not labels or len(labels) != len(scores):
            raise ServingError(
                502, "The model's answer has no or mismatched labels and scores.", "bad_answer"
            )
        version = response.model_spec.version.value if response.model_spec.HasField("version") else 0
        if version and label:
            self._labelled[label] = (version, time.monotonic())
        elif version:
            self._version, self._version_at = version, time.monotonic()
        name = response.model_spec.name or self.model_name
        return Classification(labels, scores, class_ids, name, version, label, serving_ms)

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

    async def labelled_version(self, label: str) -> int | None:
        """The version `label` points at, remembered for `status_ttl` seconds like the latest version. None
        when the server knows no such label (or its version is not loaded); on other failures, the last
        known."""
        known, at = self._labelled.get(label, (None, float("-inf")))
        if time.monotonic() - at < self.status_ttl:
            return known
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = self.model_name
        request.model_spec.version_label = label

        async def call(replica: Replica, seconds: float) -> get_model_metadata_pb2.GetModelMetadataResponse:
            response: get_model_metadata_pb2.GetModelMetadataResponse = (
                await replica.predict.GetModelMetadata(request, timeout=seconds, metadata=self._metadata())
            )
            return response

        try:
            response = await self._call(
                "GetModelMetadata", call, min(self.timeout, STATUS_TIMEOUT_S), label=label
            )
        except ServingError as exc:
            if exc.reason not in ("unknown_label", "not_found"):
                log.warning("label %r unresolved (%s); using last known version %s", label, exc.detail, known)
                return known
            known = None
        else:
            known = response.model_spec.version.value if response.model_spec.HasField("version") else None
        self._labelled[label] = (known, time.monotonic())
        return known

    async def version_for(self, label: str | None) -> int | None:
        """The version a request naming `label` (None: no label) will be answered by, as far as known."""
        return await self.latest_version() if label is None else await self.labelled_version(label)
