"""gRPC services: tensorflow.serving.PredictionService, ModelService and grpc.health.v1.Health."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.errors import Gone, ServingError
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.model_info import from_model_spec, model_metadata, model_status, runtime_headers
from serving.predictor import Predictor, Timer
from serving.tensors import to_ndarray, to_tensor_proto

Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]


class CallSlots:
    """At most `limit` gRPC calls are served at once, counted from when a call's message has arrived: a
    call that opens and never sends it holds no slot (it ends with its connection's maximum age)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    @contextlib.contextmanager
    def taken(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is busy: {self.active} gRPC calls are being served; the limit is {self.limit} "
                "(--max_concurrent_rpcs)",
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1


def rpc(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Take a call slot, count the call in the metrics and turn a ServingError into the call's status, the
    same way for every RPC of a servicer with `slots` and `metrics`."""

    @functools.wraps(handler)
    async def wrapped(self: Any, request: Request, context: grpc.aio.ServicerContext) -> Response:
        slots: CallSlots = self.slots
        metrics: Metrics = self.metrics
        try:
            with slots.taken(), Timer(metrics, request.model_spec.name, "grpc"):  # type: ignore[attr-defined]
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
    def __init__(self, predictor: Predictor, slots: CallSlots) -> None:
        self._predictor = predictor
        self.metrics = predictor.metrics
        self.slots = slots

    @rpc
    async def Predict(  # noqa: N802 - gRPC method name
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        spec = request.model_spec
        version = from_model_spec(spec)
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
            to_tensor_proto(value, response.outputs[alias])
        return response

    @rpc
    async def GetModelMetadata(  # noqa: N802 - gRPC method name
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        spec = request.model_spec
        response, runtime_info = model_metadata(
            self._predictor.manager, spec.name, from_model_spec(spec), list(request.metadata_field)
        )
        await context.send_initial_metadata(runtime_headers(runtime_info))
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]  # no types in tensorflow-serving-api
    def __init__(self, manager: ModelManager, metrics: Metrics, slots: CallSlots) -> None:
        self._manager = manager
        self.metrics = metrics
        self.slots = slots

    @rpc
    async def GetModelStatus(  # noqa: N802 - gRPC method name
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        return model_status(self._manager, request.model_spec.name, from_model_spec(request.model_spec))

    async def HandleReloadConfigRequest(  # noqa: N802 - gRPC method name
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.aio.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        """Apply a new model_config_list (serving/manager.py's reload), off the event loop. A refused config
        is the call's status (INVALID_ARGUMENT, FAILED_PRECONDITION), as in TF Serving."""
        try:
            await asyncio.to_thread(self._manager.reload, request.config)
        except ServingError as error:
            await context.abort(error.code, error.message)
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = error_codes_pb2.OK
        return response


def add_services(server: grpc.aio.Server, predictor: Predictor, health: HealthServicer) -> None:
    slots = CallSlots(predictor.limits.max_concurrent_rpcs)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(predictor, slots), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(predictor.manager, predictor.metrics, slots), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health, server)


__all__ = ["add_services"]
