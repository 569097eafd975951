"""TF Serving's REST API (tensorflow_serving/model_servers/http_rest_api_handler.cc) on Starlette: routing
and HTTP only. What the answers say is model_info.py's, the JSON is rest_json.py's, what a request may hold
is rest_limits.py's."""

from __future__ import annotations

import asyncio
import re

import grpc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tensorflow_serving.apis.get_model_metadata_pb2 import SignatureDefMap

from serving.config import MonitoringOptions
from serving.errors import ServingError, invalid_argument
from serving.limits import Limits
from serving.model_info import (
    SIGNATURE_DEF_FIELD,
    from_rest_path,
    model_metadata,
    model_status,
    runtime_headers,
)
from serving.predictor import Predictor, Timer
from serving.rest_json import decode_inputs, encode_outputs, parse_json, proto_json
from serving.rest_limits import (
    BodyTimeoutError,
    BodyTooLargeError,
    ProcessingSlots,
    check_declared_length,
    read_body,
)

_VERSION = r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_STATUS = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}/?")
_METADATA = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}/metadata")
_PREDICT = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}:(?P<method>predict|classify|regress)")
_GONE = ServingError(grpc.StatusCode.CANCELLED, "the client closed the connection")
_BUSY = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


def _error(error: ServingError) -> JSONResponse:
    headers = {"Retry-After": "1"} if error.code in _BUSY else None
    return JSONResponse({"error": error.message}, status_code=error.http_status, headers=headers)


def _watch_disconnect(request: Request) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Once the body is read, the next ASGI message is the client hanging up: set an event then."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    return asyncio.create_task(watch()), gone


def create_app(
    predictor: Predictor,
    monitoring: MonitoringOptions,
    limits: Limits | None = None,
    timeout_seconds: float = 30.0,
) -> Starlette:
    """`timeout_seconds`: --rest_api_timeout_in_ms, from a request's arrival to its answer."""
    manager = predictor.manager
    limits = limits or Limits()
    slots = ProcessingSlots(limits.max_concurrent_rest_requests)

    async def models_get(request: Request) -> Response:
        path = request.url.path
        try:
            if match := _METADATA.fullmatch(path):
                with Timer(predictor.metrics, match["name"], "rest"):
                    version = from_rest_path(match["version"], match["label"])
                    response, runtime_info = model_metadata(
                        manager, match["name"], version, [SIGNATURE_DEF_FIELD]
                    )
                    signature_map = SignatureDefMap()
                    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
                    return JSONResponse(
                        {
                            "model_spec": proto_json(response.model_spec),
                            "metadata": {SIGNATURE_DEF_FIELD: proto_json(signature_map)},
                            # not in TF Serving's response; its clients ignore unknown keys
                            "runtime": runtime_info,
                        },
                        headers=dict(runtime_headers(runtime_info)),
                    )
            if match := _STATUS.fullmatch(path):
                version = from_rest_path(match["version"], match["label"])
                return JSONResponse(proto_json(model_status(manager, match["name"], version)))
            raise invalid_argument(f"Malformed request: GET {path:.200}")
        except ServingError as error:
            return _error(error)

    async def models_post(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        path = request.url.path
        match = _PREDICT.fullmatch(path)
        if match is None:
            return _error(invalid_argument(f"Malformed request: POST {path:.200}"))
        if match["method"] != "predict":
            return _error(
                ServingError(
                    grpc.StatusCode.UNIMPLEMENTED, f"{match['method']} is not supported by this server"
                )
            )
        try:
            with Timer(predictor.metrics, match["name"], "rest"):
                version = from_rest_path(match["version"], match["label"])
                check_declared_length(request, limits.max_request_bytes)
                with manager.acquire(match["name"], version):
                    pass  # an unknown model or version is refused before any of the body is read
                with predictor.receiving() as hold:
                    body = parse_json(
                        await read_body(request, limits.max_request_bytes, hold, deadline),
                        limits.max_json_depth,
                    )
                    with slots.taken(), predictor.admitted(0):  # the body's bytes are held already
                        signature_name = body.get("signature_name", "") if isinstance(body, dict) else ""
                        if not isinstance(signature_name, str):
                            raise invalid_argument(
                                f"signature_name must be a string, got {type(signature_name).__name__}"
                            )
                        with manager.acquire(match["name"], version) as servable:
                            signature = servable.signature(signature_name)
                        inputs, row_format = decode_inputs(body, signature)
                        del body  # the arrays hold what is needed
                        watcher, hung_up = _watch_disconnect(request)

                        def gone() -> ServingError | None:
                            if hung_up.is_set():
                                return _GONE
                            if loop.time() >= deadline:
                                return ServingError(
                                    grpc.StatusCode.DEADLINE_EXCEEDED,
                                    "no answer within the request's time (--rest_api_timeout_in_ms)",
                                )
                            return None

                        try:
                            result = await predictor.predict(
                                match["name"], version, signature_name, inputs, gone=gone
                            )
                        finally:
                            watcher.cancel()
                return JSONResponse(
                    encode_outputs(result.outputs, row_format),
                    headers=dict(runtime_headers(result.runtime_info)),
                )
        except BodyTooLargeError:
            message = (
                f"the request body is larger than {limits.max_request_bytes} bytes (--max_request_bytes)"
            )
            return JSONResponse({"error": message}, status_code=413)
        except BodyTimeoutError:
            message = "the request body did not arrive in time (--rest_api_timeout_in_ms)"
            return JSONResponse({"error": message}, status_code=408, headers={"Connection": "close"})
        except ServingError as error:
            return _error(error)

    async def prometheus(_request: Request) -> Response:
        return Response(predictor.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [
        Route("/v1/models/{rest:path}", models_get, methods=["GET"]),
        Route("/v1/models/{rest:path}", models_post, methods=["POST"]),
    ]
    if monitoring.prometheus_enabled:
        routes.append(Route(monitoring.prometheus_path, prometheus, methods=["GET"]))
    return Starlette(routes=routes)
