"""TF Serving's REST API (tensorflow_serving/model_servers/http_rest_api_handler.cc) on Starlette."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import Any

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis.get_model_metadata_pb2 import SignatureDefMap

from serving.config import MonitoringOptions
from serving.errors import ServingError, invalid_argument
from serving.grpc_services import SIGNATURE_DEF_FIELD, model_metadata, model_status
from serving.limits import Limits
from serving.predictor import Predictor, Timer, runtime_headers
from serving.tensors import NUMPY_TYPES, dtype_name

_VERSION = r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_STATUS = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}/?")
_METADATA = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}/metadata")
_PREDICT = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}:(?P<method>predict|classify|regress)")

Json = Any
_GONE = ServingError(grpc.StatusCode.CANCELLED, "the client closed the connection")


def _error(error: ServingError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.http_status)


_MAX_VERSION = 2**63 - 1  # versions are int64 in TF Serving's protos


def _version(match: re.Match[str]) -> int | None:
    if match["label"]:
        raise invalid_argument(f"Unrecognized servable version label: {match['label']:.64}")
    digits = match["version"]
    if not digits:
        return None
    if len(digits) > len(str(_MAX_VERSION)) or int(digits) > _MAX_VERSION:
        raise invalid_argument(f"version {digits:.24}... is not a valid version (at most {_MAX_VERSION})")
    return int(digits)


class BodyTooLargeError(Exception):
    pass


def _declared_length(request: Request, limit: int) -> int:
    """The Content-Length (the limit itself for a chunked body), refused before anything is read."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        return limit
    if len(declared) > 18 or int(declared) > limit:
        raise BodyTooLargeError
    return int(declared)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as the stream passes the limit (whatever the Content-Length said)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(body: bytes, max_depth: int) -> Json:
    try:
        value = json.loads(body)
    except RecursionError as error:
        raise invalid_argument(f"JSON is nested deeper than {max_depth} (--max_json_depth)") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise invalid_argument(f"JSON Parse error: {error}") from error
    stack = [(value, 1)]
    while stack:  # no recursion: the depth check must not be what overflows
        item, depth = stack.pop()
        if depth > max_depth:
            raise invalid_argument(f"JSON is nested deeper than {max_depth} (--max_json_depth)")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return value


class ConcurrencyLimit:
    """At most `limit` requests to /v1/ at once; the next one gets 503 at once instead of queueing."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            message = (
                f"the server is busy: {self.active} REST requests are being served; the limit is "
                f"{self.limit} (--max_concurrent_rest_requests)"
            )
            await JSONResponse({"error": message}, status_code=503, headers={"Retry-After": "1"})(
                scope, receive, send
            )
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def _watch_disconnect(request: Request) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Once the body is read, the next ASGI message is the client hanging up: set an event then."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    return asyncio.create_task(watch()), gone


def _proto_json(message: Any) -> Json:
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


# --- request decoding ---------------------------------------------------------------------------
def _string_value(value: Json, alias: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error as error:
            raise invalid_argument(f"Unable to base64 decode the value of input {alias}") from error
    raise invalid_argument(
        f'input {alias} expects string values or {{"b64": ...}} objects, got {value!r:.80}'
    )


def _strings(value: Json, alias: str) -> Json:
    if isinstance(value, list):
        return [_strings(item, alias) for item in value]
    return _string_value(value, alias)


def _to_array(value: Json, info: meta_graph_pb2.TensorInfo, alias: str) -> np.ndarray:
    if info.dtype == types_pb2.DT_STRING:
        nested = _strings(value, alias)
        flat: list[bytes] = []
        shape = _shape_of(nested, flat, alias)
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    try:
        return np.asarray(value, dtype=NUMPY_TYPES[info.dtype])
    except (KeyError, TypeError, ValueError) as error:
        raise invalid_argument(
            f"input {alias} expects {dtype_name(info.dtype)} values of a regular shape: {error}"
        ) from error


def _shape_of(value: Json, flat: list[bytes], alias: str) -> list[int]:
    if not isinstance(value, list):
        flat.append(value)
        return []
    shapes = [_shape_of(item, flat, alias) for item in value]
    if any(shape != shapes[0] for shape in shapes):
        raise invalid_argument(f"input {alias} has lists of different lengths")
    return [len(value), *(shapes[0] if shapes else [])]


def _is_binary(value: Json) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def decode_inputs(body: Json, signature: meta_graph_pb2.SignatureDef) -> tuple[dict[str, np.ndarray], bool]:
    """The named input arrays, and whether the request used the row (`instances`) format."""
    if not isinstance(body, dict):
        raise invalid_argument("JSON Value not an object")
    if ("instances" in body) == ("inputs" in body):
        raise invalid_argument(
            "Missing 'inputs' or 'instances' key"
            if "instances" not in body
            else "Not both 'inputs' and 'instances' may be given"
        )
    aliases = sorted(signature.inputs)
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise invalid_argument("'instances' must be a non-empty JSON list")
        named = all(isinstance(item, dict) and not _is_binary(item) for item in instances)
        if named:
            columns: dict[str, list[Json]] = {}
            for item in instances:
                if set(item) != set(columns or item):
                    raise invalid_argument("every instance must name the same inputs")
                for alias, value in item.items():
                    columns.setdefault(alias, []).append(value)
        elif len(aliases) == 1:
            columns = {aliases[0]: instances}
        else:
            raise invalid_argument(f"instances must be objects naming the inputs {aliases}")
        return {alias: _array_for(alias, value, signature) for alias, value in columns.items()}, True
    inputs = body["inputs"]
    if isinstance(inputs, dict) and not _is_binary(inputs):
        return {alias: _array_for(alias, value, signature) for alias, value in inputs.items()}, False
    if len(aliases) != 1:
        raise invalid_argument(f"'inputs' must be an object naming the inputs {aliases}")
    return {aliases[0]: _array_for(aliases[0], inputs, signature)}, False


def _array_for(alias: str, value: Json, signature: meta_graph_pb2.SignatureDef) -> np.ndarray:
    if alias not in signature.inputs:
        raise invalid_argument(
            f"input tensor alias not found in signature: {alias}. "
            f"Inputs expected to be in the set {{{','.join(sorted(signature.inputs))}}}."
        )
    return _to_array(value, signature.inputs[alias], alias)


# --- response encoding --------------------------------------------------------------------------
def _json_values(alias: str, array: np.ndarray) -> Json:
    if array.dtype != object:
        return array.tolist()
    binary = alias.endswith("_bytes")

    def encode(value: bytes) -> Json:
        if not binary:
            try:
                return value.decode()
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode()}

    return np.frompyfunc(encode, 1, 1)(array).tolist()


def encode_outputs(outputs: dict[str, np.ndarray], row_format: bool) -> Json:
    values = {alias: _json_values(alias, array) for alias, array in outputs.items()}
    if row_format:
        if len(values) == 1:
            return {"predictions": next(iter(values.values()))}
        rows = len(next(iter(values.values())))
        return {"predictions": [{alias: column[i] for alias, column in values.items()} for i in range(rows)]}
    if len(values) == 1:
        return {"outputs": next(iter(values.values()))}
    return {"outputs": values}


# --- the app ------------------------------------------------------------------------------------
def create_app(
    predictor: Predictor, monitoring: MonitoringOptions, limits: Limits | None = None
) -> Starlette:
    manager = predictor.manager
    limits = limits or Limits()

    async def models_get(request: Request) -> Response:
        path = request.url.path
        try:
            if match := _METADATA.fullmatch(path):
                with Timer(predictor.metrics, match["name"], "rest"):
                    response, runtime_info = model_metadata(
                        manager, match["name"], _version(match), [SIGNATURE_DEF_FIELD]
                    )
                    signatures = response.metadata[SIGNATURE_DEF_FIELD]
                    signature_map = SignatureDefMap()
                    signatures.Unpack(signature_map)
                    return JSONResponse(
                        {
                            "model_spec": _proto_json(response.model_spec),
                            "metadata": {SIGNATURE_DEF_FIELD: _proto_json(signature_map)},
                            # not in TF Serving's response; its clients ignore unknown keys
                            "runtime": runtime_info,
                        },
                        headers=dict(runtime_headers(runtime_info)),
                    )
            if match := _STATUS.fullmatch(path):
                return JSONResponse(_proto_json(model_status(manager, match["name"], _version(match))))
            raise invalid_argument(f"Malformed request: GET {path}")
        except ServingError as error:
            return _error(error)

    async def models_post(request: Request) -> Response:
        path = request.url.path
        match = _PREDICT.fullmatch(path)
        if match is None:
            return _error(invalid_argument(f"Malformed request: POST {path}"))
        if match["method"] != "predict":
            return _error(
                ServingError(
                    grpc.StatusCode.UNIMPLEMENTED, f"{match['method']} is not supported by this server"
                )
            )
        try:
            with Timer(predictor.metrics, match["name"], "rest"):
                version = _version(match)
                with predictor.admitted(_declared_length(request, limits.max_request_bytes)):
                    body = _parse_json(
                        await _read_body(request, limits.max_request_bytes), limits.max_json_depth
                    )
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
                    try:
                        result = await predictor.predict(
                            match["name"],
                            version,
                            signature_name,
                            inputs,
                            gone=lambda: _GONE if hung_up.is_set() else None,
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
    middleware = [Middleware(ConcurrencyLimit, limit=limits.max_concurrent_rest_requests)]
    return Starlette(routes=routes, middleware=middleware)
