"""Cheap conversions between numpy arrays and TensorProto (no TensorFlow ops, no per-element Python
work for numeric tensors)."""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
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
    return types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    shape = [dim.size for dim in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise invalid_argument(f"tensor shape {shape} has a negative dimension")
    if proto.dtype == types_pb2.DT_STRING:
        count = math.prod(shape)
        values = list(proto.string_val)
        if len(values) == 1 and count != 1:
            values = values * count  # a single value fills the tensor, as in tensor_util.MakeNdarray
        if len(values) != count:
            raise invalid_argument(f"string tensor of shape {shape} has {len(values)} values")
        array = np.empty(count, dtype=object)
        array[:] = values
        return array.reshape(shape)
    if proto.dtype in NUMPY_TYPES and proto.tensor_content:
        array = np.frombuffer(proto.tensor_content, dtype=NUMPY_TYPES[proto.dtype])
        if array.size != math.prod(shape):
            raise invalid_argument(f"tensor_content does not match shape {shape}")
        return array.reshape(shape)
    try:
        return tensor_util.MakeNdarray(proto)
    except (TypeError, ValueError) as error:
        raise invalid_argument(f"cannot read tensor: {error}") from error


def to_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape]
    )
    if array.dtype == object or array.dtype.kind in "SU":
        values = [value if isinstance(value, bytes) else str(value).encode() for value in array.ravel()]
        return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=values)
    dtype = _DTYPE_ENUM.get(array.dtype)
    if dtype is None:
        return tensor_util.make_tensor_proto(array)
    return tensor_pb2.TensorProto(
        dtype=dtype, tensor_shape=shape, tensor_content=np.ascontiguousarray(array).tobytes()
    )
