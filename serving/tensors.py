"""Cheap conversions between numpy arrays and TensorProto (no TensorFlow ops, no per-element Python
work for numeric tensors)."""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.python.framework import tensor_util

from serving.errors import invalid_argument

NUMPY_TYPES = {
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
    types_pb2.DT_BOOL: np.bool_,
}
_DTYPE_ENUM = {np.dtype(value): key for key, value in NUMPY_TYPES.items()}


def dtype_name(dtype: int) -> str:
    """`DT_FLOAT` -> `float`, as TF Serving's messages spell them."""
    name: str = types_pb2.DataType.Name(dtype)
    return name.removeprefix("DT_").lower()


def declared_shape(proto: tensor_pb2.TensorProto, max_rows: int | None = None) -> list[int]:
    """The shape a TensorProto declares, checked before any array is built: no negative dimension, and at
    most `max_rows` rows (for a string tensor, at most `max_rows` values in all)."""
    shape = [dim.size for dim in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise invalid_argument(f"tensor shape {shape} has a negative dimension")
    if max_rows is not None:
        rows = math.prod(shape) if proto.dtype == types_pb2.DT_STRING else (shape[0] if shape else 1)
        if rows > max_rows:
            what = "string values" if proto.dtype == types_pb2.DT_STRING else "rows"
            raise invalid_argument(
                f"tensor shape {shape} declares {rows} {what}; "
                f"the limit is {max_rows} (--max_request_batch_size)"
            )
    return shape


def to_ndarray(proto: tensor_pb2.TensorProto, max_rows: int | None = None) -> np.ndarray:
    """The array a TensorProto holds. Its declared shape must match the values actually present: unlike
    tensor_util.MakeNdarray, a short value list is never repeated to fill the shape (a few bytes must not
    become millions of values)."""
    shape = declared_shape(proto, max_rows)
    count = math.prod(shape)
    if proto.dtype == types_pb2.DT_STRING:
        present = len(proto.string_val)
        if present != count:
            raise invalid_argument(
                f"string tensor of shape {shape} holds {present} value{'s' if present != 1 else ''}, "
                f"not {count}"
            )
        array = np.empty(count, dtype=object)
        array[:] = list(proto.string_val)
        return array.reshape(shape)
    if proto.dtype in NUMPY_TYPES and proto.tensor_content:
        array = np.frombuffer(proto.tensor_content, dtype=NUMPY_TYPES[proto.dtype])
        if array.size != count:
            raise invalid_argument(f"tensor_content does not match shape {shape}")
        return array.reshape(shape)
    present = _value_count(proto)
    if present != count:
        raise invalid_argument(f"tensor of shape {shape} holds {present} values, not {count}")
    try:
        made: np.ndarray = tensor_util.MakeNdarray(proto)
        return made
    except (TypeError, ValueError) as error:
        raise invalid_argument(f"cannot read tensor: {error}") from error


def _value_count(proto: tensor_pb2.TensorProto) -> int:
    """Values in the typed repeated field that holds them (complex values take two entries)."""
    counts = [len(values) for descriptor, values in proto.ListFields() if descriptor.name.endswith("_val")]
    present = max(counts, default=0)
    if proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        present //= 2
    return present


def to_tensor_proto(array: np.ndarray, out: tensor_pb2.TensorProto | None = None) -> tensor_pb2.TensorProto:
    """The TensorProto of `array`; written into `out` when given (a response's own field: no copy)."""
    proto = tensor_pb2.TensorProto() if out is None else out
    if array.dtype == object or array.dtype.kind in "SU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            value if isinstance(value, bytes) else str(value).encode() for value in array.ravel()
        )
    else:
        dtype = _DTYPE_ENUM.get(array.dtype)
        if dtype is None:
            proto.CopyFrom(tensor_util.make_tensor_proto(array))
            return proto
        proto.dtype = dtype
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add(size=size)
    return proto
