"""TF Serving's REST API (tensorflow_serving/model_servers/http_rest_api_handler.cc) on Starlette."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis.get_model_metadata_pb2 import SignatureDefMap

from serving.config import MonitoringOptions
from serving.errors import ServingError, invalid_argument
from serving.grpc_services import SIGNATURE_DEF_FIELD, model_metadata, model_status
from serving.predictor import Predictor, Timer, runtime_headers
from serving.tensors import NUMPY_TYPES, dtype_name

_VERSION = r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_STATUS = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}/?")
_METADATA = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}/metadata")
_PREDICT = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}:(?P<method>predict|classify|regress)")

Json = Any


def _error(error: ServingError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.http_status)


def _version(match: re.Match[str]) -> int | None:
    if match["label"]:
        raise invalid_argument(f"Unrecognized servable version label: {match['label']}")
    return int(match["version"]) if match["version"] else None


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
def create_app(predictor: Predictor, monitoring: MonitoringOptions) -> Starlette:
    manager = predictor.manager

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
                try:
                    body = json.loads(await request.body())
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    raise invalid_argument(f"JSON Parse error: {error}") from error
                signature_name = body.get("signature_name", "") if isinstance(body, dict) else ""
                with manager.acquire(match["name"], version) as servable:
                    signature = servable.signature(signature_name)
                inputs, row_format = decode_inputs(body, signature)
                result = await predictor.predict(match["name"], version, signature_name, inputs)
                return JSONResponse(
                    encode_outputs(result.outputs, row_format),
                    headers=dict(runtime_headers(result.runtime_info)),
                )
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
