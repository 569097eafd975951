"""TensorProto -> numpy: the declared shape must match the values present, checked before any array."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.python.framework import tensor_util

from serving.errors import ServingError
from serving.tensors import to_ndarray, to_tensor_proto


def proto(dtype: int, dims: list[int], **values: object) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


def test_arrays_round_trip() -> None:
    for array in (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([b"a", b"bc"], dtype=object)):
        np.testing.assert_array_equal(to_ndarray(to_tensor_proto(array)), array)
    np.testing.assert_array_equal(to_ndarray(tensor_util.make_tensor_proto(np.float32(1.5))), 1.5)


@pytest.mark.parametrize(
    "tensor",
    [
        proto(types_pb2.DT_STRING, [100_000], string_val=[b"x"]),
        proto(types_pb2.DT_STRING, [2, 3], string_val=[b"x"] * 5),
        proto(types_pb2.DT_FLOAT, [60_000_000], float_val=[1.0]),
        proto(types_pb2.DT_INT32, [4], int_val=[]),
    ],
    ids=["string-broadcast", "string-short", "float-broadcast", "int-missing"],
)
def test_a_shape_declaring_more_values_than_present_is_refused(tensor: tensor_pb2.TensorProto) -> None:
    with pytest.raises(ServingError) as refused:
        to_ndarray(tensor)
    assert "holds" in refused.value.message


def test_rows_are_limited_before_the_values_are_read() -> None:
    with pytest.raises(ServingError) as refused:
        to_ndarray(proto(types_pb2.DT_STRING, [10**12], string_val=[b"x"]), max_rows=32)
    assert "--max_request_batch_size" in refused.value.message
    with pytest.raises(ServingError):
        to_ndarray(proto(types_pb2.DT_FLOAT, [33, 1], float_val=[0.0] * 33), max_rows=32)
    assert to_ndarray(proto(types_pb2.DT_FLOAT, [32, 2], float_val=[0.0] * 64), max_rows=32).shape == (32, 2)
