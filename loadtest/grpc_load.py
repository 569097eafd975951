"""b and the server's floor with the Python client: grpc.aio, requests serialised once before the load."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from contracts import model as contract
from loadtest.floor_grpc import MAX_MESSAGE, PREDICT_METHOD
from loadtest.loadgen import Call
from tfs_protos.apis import predict_pb2, types_pb2

OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]


def predict_request(model_name: str, image: bytes, *more: bytes) -> bytes:
    """A serialised PredictRequest of one encoded image (or several: a [N] string tensor), as any TF
    Serving client sends it."""
    images = (image, *more)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = contract.SIGNATURE
    tensor = request.inputs[contract.INPUT]
    tensor.dtype = types_pb2.DT_STRING
    tensor.tensor_shape.dim.add(size=len(images))
    tensor.string_val.extend(images)
    serialized: bytes = request.SerializeToString()
    return serialized


def channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=OPTIONS)


async def answer_size(target: str, request: bytes) -> int:
    """The size of the serialised answer to `request`, from one call."""
    async with channel(target) as open_channel:
        answer: bytes = await open_channel.unary_unary(PREDICT_METHOD)(request, timeout=60)
    return len(answer)


def predict_call(channel: grpc.aio.Channel, requests: Sequence[bytes]) -> Call:
    """`call(index)` sends request `index` (round the pool) and checks the answer holds one row of scores."""
    predict = channel.unary_unary(
        PREDICT_METHOD,
        request_serializer=None,  # the bytes are sent as they are
        response_deserializer=predict_pb2.PredictResponse.FromString,
    )

    async def call(index: int) -> None:
        response = await predict(requests[index % len(requests)], timeout=60)
        shape = [dim.size for dim in response.outputs[contract.SCORES].tensor_shape.dim]
        if len(shape) != 2 or shape[0] != 1 or shape[1] < 1:
            raise ValueError(f"unexpected scores shape {shape} in the answer")

    return call
