"""gRPC services: tensorflow.serving.PredictionService, ModelService and grpc.health.v1.Health."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.errors import Gone, ServingError, invalid_argument
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.predictor import Predictor, Timer, runtime_headers
from serving.signatures import DEFAULT_SIGNATURE
from serving.tensors import to_ndarray, to_tensor_proto

SIGNATURE_DEF_FIELD = "signature_def"


def requested_version(spec: model_pb2.ModelSpec) -> int | None:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        version: int = spec.version.value
        return version
    if choice == "version_label":
        raise invalid_argument(f"Unrecognized servable version label: {spec.version_label}")
    return None


Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]


def rpc(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Count the call in the metrics (when the servicer has them) and turn a ServingError into the
    call's status, the same way for every RPC."""

    @functools.wraps(handler)
    async def wrapped(self: Any, request: Request, context: grpc.aio.ServicerContext) -> Response:
        metrics: Metrics | None = getattr(self, "metrics", None)
        try:
            if metrics is None:
                return await handler(self, request, context)
            with Timer(metrics, request.model_spec.name, "grpc"):  # type: ignore[attr-defined]
                return await handler(self, request, context)
        except ServingError as error:
            await context.abort(error.code, error.message)
            raise  # unreachable: abort raises

    return wrapped


def caller_gone(context: grpc.aio.ServicerContext) -> Gone:
    """Whether the gRPC caller has cancelled or its deadline has passed (safe from any thread)."""

    def gone() -> ServingError | None:
        if context.cancelled():
            return ServingError(grpc.StatusCode.CANCELLED, "the caller cancelled the request")
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "the request's deadline passed")
        return None

    return gone


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]  # no types in tensorflow-serving-api
    def __init__(self, predictor: Predictor) -> None:
        self._predictor = predictor
        self.metrics = predictor.metrics

    @rpc
    async def Predict(  # noqa: N802 - gRPC method name
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        spec = request.model_spec
        version = requested_version(spec)
        max_rows = self._predictor.limits.max_request_batch_size
        with self._predictor.admitted(request.ByteSize()):
            inputs = {alias: to_ndarray(proto, max_rows) for alias, proto in request.inputs.items()}
            result = await self._predictor.predict(
                spec.name,
                version,
                spec.signature_name,
                inputs,
                list(request.output_filter),
                caller_gone(context),
            )
        await context.send_initial_metadata(runtime_headers(result.runtime_info))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = result.version
        response.model_spec.signature_name = result.signature_name
        for alias, value in result.outputs.items():
            response.outputs[alias].CopyFrom(to_tensor_proto(value))
        return response

    @rpc
    async def GetModelMetadata(  # noqa: N802 - gRPC method name
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        spec = request.model_spec
        response, runtime_info = model_metadata(
            self._predictor.manager, spec.name, requested_version(spec), list(request.metadata_field)
        )
        await context.send_initial_metadata(runtime_headers(runtime_info))
        return response


def model_metadata(
    manager: ModelManager, name: str, version: int | None, fields: list[str]
) -> tuple[get_model_metadata_pb2.GetModelMetadataResponse, dict[str, str]]:
    """TF Serving's response, and the runtime/precision of the version it describes."""
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    with manager.acquire(name, version) as servable:
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = servable.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signatures.signature_def[key].CopyFrom(signature)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signatures)
        return response, servable.runtime_info


def model_status(
    manager: ModelManager, name: str, version: int | None
) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in manager.status(name, version):
        status = response.model_version_status.add()
        status.version = entry.version
        status.state = entry.state
        status.status.error_code = error_codes_pb2.UNKNOWN if entry.error else error_codes_pb2.OK
        status.status.error_message = entry.error
    return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]  # no types in tensorflow-serving-api
    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager

    @rpc
    async def GetModelStatus(  # noqa: N802 - gRPC method name
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        return model_status(self._manager, request.model_spec.name, requested_version(request.model_spec))


def add_services(server: grpc.aio.Server, predictor: Predictor, health: HealthServicer) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(predictor), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(predictor.manager), server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)


__all__ = ["DEFAULT_SIGNATURE", "add_services", "model_metadata", "model_status"]
