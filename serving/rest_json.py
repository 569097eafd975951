"""TF Serving's REST JSON: request bodies to named input arrays (row `instances` and columnar `inputs`
formats, `{"b64": ...}` binary values) and outputs back to JSON, as http_rest_api_util.cc and
json_tensor.cc define them; plus protos as TF Serving's REST answers print them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
from google.protobuf.json_format import MessageToDict
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.errors import invalid_argument
from serving.tensors import NUMPY_TYPES, dtype_name

Json = Any


def parse_json(body: bytes, max_depth: int) -> Json:
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


def proto_json(message: Any) -> Json:
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


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
